using System.Text.Json.Nodes;
using ScimSync.Secrets;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Postgres;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.State;

/// <summary>
/// What every implementation of the engine's state does alike (ISyncState's contract), run against each: the SQLite
/// file (<see cref="SqliteStateContractTests"/>) and a PostgreSQL schema (<see cref="PostgresStateContractTests"/>).
/// What belongs to one implementation (a previous build's file, file permissions) stays with its own tests.
/// </summary>
public abstract class SyncStateContract : IDisposable
{
    protected static readonly DateTimeOffset Now = new(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);

    private readonly List<ISyncState> _opened = [];

    /// <summary>Opens the test's state; again, the same state (a second process, or a restart).</summary>
    protected abstract ISyncState OpenState();

    protected ISyncState Open()
    {
        var s = OpenState();
        _opened.Add(s);
        return s;
    }

    public virtual void Dispose()
    {
        foreach (var s in _opened) s.Dispose();
        GC.SuppressFinalize(this);
    }

    private static AuditRecord Entry(DateTimeOffset at, string target, string? userName, string sourceId, string result = "ok", string verb = "update") =>
        new(at, "run:x", target, verb, $"user {userName} [t-{sourceId}]", "t-" + sourceId, sourceId, result, result == "ok" ? null : 409, 1, null) { UserName = userName };

    private static string Show(AttributeChange c) => $"{c.Path}: {c.Old?.ToJsonString() ?? "-"} -> {c.New?.ToJsonString() ?? "-"}";

    private static TargetAccount Account(string id, string userName, string? externalId = null)
    {
        var doc = new JsonObject { ["id"] = id, ["userName"] = userName, ["active"] = true, ["meta"] = new JsonObject { ["version"] = "W/\"1\"" } };
        if (externalId is not null) doc["externalId"] = externalId;
        return new TargetAccount(id, doc);
    }

    [SkippableFact]
    public void Operations_are_counted_by_result_since_a_time_without_the_decisions_of_people()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.Audit(Entry(Now.AddMinutes(-10), "app", "old@example.com", "s0"));
            w.Audit(Entry(Now.AddMinutes(-2), "app", "a@example.com", "s1"));
            w.Audit(Entry(Now.AddMinutes(-1), "app", "b@example.com", "s2"));
            w.Audit(Entry(Now.AddMinutes(-1), "app", "c@example.com", "s3", result: "failed"));
            w.Audit(Entry(Now.AddMinutes(-1), "other", "d@example.com", "s4"));
            w.Audit(new AuditRecord(Now, "console:olivia", "app", "decision", "confirm 3 held removals", null, null, "ok", null, 0, null) { Writer = "olivia" });
        });
        var counts = store.OperationCounts("app", Now.AddMinutes(-5));
        Assert.Equal(2, counts["ok"]);
        Assert.Equal(1, counts["failed"]);
        Assert.Equal(2, counts.Count);
        Assert.Empty(store.OperationCounts("nowhere", Now.AddMinutes(-5)));
    }

    [SkippableFact]
    public void A_shadow_search_pages_in_userName_order_and_filters_by_prefix_externalId_email_and_ownership()
    {
        var store = Open();
        store.Batch(w =>
        {
            for (var i = 0; i < 25; i++)
            {
                var doc = Account($"t{i:D2}", $"User{i:D2}@example.com", externalId: $"ext-{i:D2}").Document;
                // The primary address second, and for odd accounts no primary at all: then the first is the key.
                doc["emails"] = i % 2 == 0
                    ? new JsonArray(new JsonObject { ["value"] = $"home{i:D2}@home.example" }, new JsonObject { ["value"] = $"person{i:D2}@mail.example", ["primary"] = true })
                    : new JsonArray(new JsonObject { ["value"] = $" person{i:D2}@mail.example" }, new JsonObject { ["value"] = $"home{i:D2}@home.example" });
                w.PutAccount("app", new TargetAccount($"t{i:D2}", doc), Now);
                if (i % 2 == 0) w.Link("app", $"t{i:D2}", $"s{i:D2}", Now);
            }
            w.PutAccount("other", Account("o1", "user00@example.com"), Now);
        });

        // Pages of 10 in userName order (case-insensitive), each continuing after the last row of the one before.
        var first = store.SearchAccounts(new ShadowSearch("app", Limit: 10));
        Assert.Equal(25, first.Total);
        Assert.False(first.TotalIsAtLeast);
        Assert.True(first.More);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"User{i:D2}@example.com"), first.Rows.Select(r => r.UserName));
        var second = store.SearchAccounts(new ShadowSearch("app", After: (first.Rows[^1].UserName, first.Rows[^1].TargetId), Limit: 10));
        var third = store.SearchAccounts(new ShadowSearch("app", After: (second.Rows[^1].UserName, second.Rows[^1].TargetId), Limit: 10));
        Assert.Equal(Enumerable.Range(10, 10).Select(i => $"t{i:D2}"), second.Rows.Select(r => r.TargetId));
        Assert.Equal(Enumerable.Range(20, 5).Select(i => $"t{i:D2}"), third.Rows.Select(r => r.TargetId));
        Assert.False(third.More);

        // A userName prefix in any case; an exact externalId; an email address, in any case, that is the account's
        // primary one (else its first): a secondary address is not searched.
        var prefix = store.SearchAccounts(new ShadowSearch("app", "user1"));
        Assert.Equal(10, prefix.Total);
        Assert.All(prefix.Rows, r => Assert.StartsWith("User1", r.UserName, StringComparison.Ordinal));
        Assert.Equal("t07", Assert.Single(store.SearchAccounts(new ShadowSearch("app", "ext-07")).Rows).TargetId);
        Assert.Equal("t13", Assert.Single(store.SearchAccounts(new ShadowSearch("app", "PERSON13@mail.example")).Rows).TargetId);
        Assert.Equal("t12", Assert.Single(store.SearchAccounts(new ShadowSearch("app", "person12@Mail.Example ")).Rows).TargetId);
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "home12@home.example")).Total);
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "home13@home.example")).Total);
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "nobody@mail.example")).Total);
        // Characters that mean something to LIKE or JSON paths are plain text here.
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "%")).Total);
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "_ser")).Total);

        // Managed (linked) and unmanaged, with the owner of each managed one.
        var managed = store.SearchAccounts(new ShadowSearch("app", Ownership: ShadowOwnership.Managed, Limit: 100));
        Assert.Equal(13, managed.Total);
        Assert.All(managed.Rows, r => Assert.Equal("s" + r.TargetId[1..], r.SourceId));
        var unmanaged = store.SearchAccounts(new ShadowSearch("app", "user0", ShadowOwnership.Unmanaged));
        Assert.Equal(["t01", "t03", "t05", "t07", "t09"], unmanaged.Rows.Select(r => r.TargetId));
        Assert.All(unmanaged.Rows, r => Assert.Null(r.SourceId));
        // The page size is bounded whatever is asked.
        Assert.Single(store.SearchAccounts(new ShadowSearch("app", Limit: 0)).Rows);
    }

    [SkippableFact]
    public void A_change_queued_while_its_key_is_being_applied_stays_queued()
    {
        var store = Open();
        store.Batch(w => w.Enqueue("app", "s1", false, Now));
        var taken = Assert.Single(store.Pending("app", 10));

        // While s1 is applied from the state it had, another change to it arrives (urgent this time).
        store.Batch(w => w.Enqueue("app", "s1", true, Now.AddSeconds(1)));
        store.Batch(w => w.Dequeue("app", taken));
        var again = Assert.Single(store.Pending("app", 10));
        Assert.True(again.Urgent);
        Assert.Equal(Now, store.Queued("app", "s1")!.Since);

        store.Batch(w => w.Dequeue("app", again));
        Assert.Empty(store.Pending("app", 10));
    }

    [SkippableFact]
    public void Urgent_keys_come_first_and_the_urgent_lane_sees_only_them()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.Enqueue("app", "routine1", false, Now);
            w.Enqueue("app", "urgent1", true, Now.AddSeconds(1));
            w.Enqueue("app", "routine2", false, Now.AddSeconds(2));
        });
        Assert.Equal(["urgent1", "routine1", "routine2"], store.Pending("app", 10).Select(p => p.SourceId));
        Assert.Equal(["urgent1"], store.Pending("app", 10, urgentOnly: true).Select(p => p.SourceId));
        Assert.Equal(new QueueSummary(3, Now, 0, null), store.Summary("app"));
    }

    [SkippableFact]
    public async Task Group_commit_reports_a_failing_write_alone_and_commits_the_others()
    {
        var store = Open();
        var writes = Enumerable.Range(0, 200).Select(i => i == 100
            ? store.WriteAsync(_ => throw new InvalidOperationException("this write fails"))
            : store.WriteAsync(w => w.Enqueue("app", "s" + i, false, Now))).ToArray();
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => writes[100]);
        Assert.Equal("this write fails", failure.Message);
        await Task.WhenAll(writes.Where((_, i) => i != 100));
        Assert.Equal(199, store.Pending("app", 1000).Count);
    }

    [SkippableFact]
    public void A_unit_of_work_that_throws_leaves_nothing_behind()
    {
        var store = Open();
        Assert.Throws<InvalidOperationException>(() => store.Batch(w =>
        {
            w.Enqueue("app", "s1", false, Now);
            w.Link("app", "t1", "s1", Now);
            throw new InvalidOperationException("half-way");
        }));
        Assert.Empty(store.Pending("app", 10));
        Assert.Null(store.TargetIdOf("app", "s1"));
    }

    [SkippableFact]
    public void A_source_account_has_one_link_per_target_and_unlinked_namesakes_are_found_for_correlation()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.PutAccount("app", Account("t1", "Grace", "g-1"), Now, synced: true);
            w.PutAccount("app", Account("t2", "grace2"), Now);
            w.PutAccount("app", Account("t3", "alan", "a-1"), Now);
            w.Link("app", "t1", "s1", Now);
            w.Link("app", "t2", "s1", Now); // relinked: t1 loses its link
            w.Link("app", "t3", "s3", Now);
            w.PutGroup("app", "g1", "Staff", null);
            w.ReplaceGroupMembers("app", "g1", ["t1", "t3"]);
        });
        Assert.Equal("t2", store.TargetIdOf("app", "s1"));
        Assert.Null(store.OwnerOf("app", "t1"));
        Assert.Equal((3, 2, 1, 0), store.Counts("app"));

        // A new person named GRACE (case-insensitively the unlinked t1), and one with alan's externalId (linked to s3).
        var state = store.LoadStateFor("app", ["s9"], ["GRACE"], ["a-1"]);
        Assert.Equal(["t1", "t3"], state.Accounts.Select(a => a.Id).Order());
        Assert.Equal("s3", state.Links["t3"]);
        Assert.False(state.Links.ContainsKey("t1"));
        Assert.Equal(2, state.ManagedAccounts);
        // Memberships of the linked accounts concerned only (a large group is never loaded whole).
        Assert.Equal(["t3"], Assert.Single(state.Groups).Members);
        Assert.Equal(["t1"], store.AccountsNamed("app", "gRaCe"));

        // Planning leaves meta out; the shadow keeps the account as seen.
        var whole = store.LoadState("app");
        Assert.DoesNotContain("meta", System.Text.Encoding.UTF8.GetString(whole.Accounts.Single(a => a.Id == "t1").Json), StringComparison.Ordinal);
        Assert.NotNull(store.AccountData("app", "t1")!["meta"]);
        Assert.NotNull(store.SyncedJson("app", "t1"));
        Assert.Null(store.SyncedJson("app", "t2"));
        Assert.True(store.IsLinkedAnywhere("s3"));
        Assert.Equal(["Staff"], store.GroupsOf("app", "t3").Select(g => g.DisplayName));
    }

    [SkippableFact]
    public void A_full_read_written_again_keeps_what_is_unchanged_and_follows_what_changed()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.PutAccount("app", Account("t1", "grace", "e1"), Now, synced: true);
            w.PutAccount("app", Account("t2", "alan", "e2"), Now, synced: true);
            w.PutGroup("app", "g1", "G", null);
            w.ReplaceGroupMembers("app", "g1", ["t1", "t2"]);
        });
        // A later read: grace as she was; alan renamed, with a new externalId; the group lost alan and gained t3.
        var later = Now.AddMinutes(5);
        store.Batch(w =>
        {
            w.PutAccount("app", Account("t1", "grace", "e1"), later);
            w.PutAccount("app", Account("t2", "álan.türing", "e2b"), later);
            w.ReplaceGroupMembers("app", "g1", ["t1", "t3", "t3"]);
        });
        // Both accounts were seen by that read, unchanged or not: forgetting what it did not see keeps them.
        store.Batch(w => w.ForgetUnseen("app", later));
        var state = store.LoadState("app");
        var accounts = state.Accounts.ToDictionary(a => a.Id);
        Assert.Equal(["t1", "t2"], accounts.Keys.Order());
        Assert.Equal("álan.türing", accounts["t2"].UserName);
        Assert.Equal("t2", Assert.Single(store.SearchAccounts(new ShadowSearch("app", "álan.tür")).Rows).TargetId);
        // The keys follow the changed account; the drift baseline stays what the engine last wrote for both.
        Assert.Equal("t2", Assert.Single(store.SearchAccounts(new ShadowSearch("app", "e2b")).Rows).TargetId);
        Assert.Equal(0, store.SearchAccounts(new ShadowSearch("app", "e2")).Total);
        Assert.Equal("alan", accounts["t2"].Synced?["userName"]?.GetValue<string>());
        Assert.Equal("grace", accounts["t1"].Synced?["userName"]?.GetValue<string>());
        Assert.Equal(["t1", "t3"], state.Groups.Single(g => g.Id == "g1").Members.Order());
        // A read that does not see an account any more forgets it.
        store.Batch(w => w.PutAccount("app", Account("t1", "grace", "e1"), later.AddMinutes(5)));
        store.Batch(w => w.ForgetUnseen("app", later.AddMinutes(5)));
        Assert.Equal(["t1"], store.LoadState("app").Accounts.Select(a => a.Id));
    }

    [SkippableFact]
    public void A_focused_load_holds_the_managed_groups_that_are_members_of_groups()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.PutAccount("app", Account("t1", "grace"), Now);
            w.PutAccount("app", Account("t2", "alan"), Now);
            w.Link("app", "t1", "s1", Now);
            w.Link("app", "t2", "s2", Now);
            w.PutGroup("app", "gA", "A", "sa");
            w.PutGroup("app", "gB", "B", "sb");
            w.PutGroup("app", "gX", "X", null); // someone else's group, nested in A
            w.LinkGroup("app", "gA", "sa");
            w.LinkGroup("app", "gB", "sb");
            w.ReplaceGroupMembers("app", "gA", ["t2", "gB", "gX"]);
            w.ReplaceGroupMembers("app", "gB", ["t1"]);
        });
        var state = store.LoadStateFor("app", ["s1"], [], []);
        var groups = state.Groups.ToDictionary(g => g.Id);
        // A's nested managed group B is there for the planner; alan (not concerned) and the unmanaged X are not loaded.
        Assert.Equal(["gB"], groups["gA"].Members);
        Assert.Equal(["t1"], groups["gB"].Members);
    }

    [SkippableFact]
    public void The_log_is_queried_by_person_target_result_and_time_newest_first()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.Audit(Entry(Now, "helpdesk", "grace", "s1", verb: "create"));
            w.Audit(Entry(Now.AddMinutes(1), "support", "grace", "s1", "failed", verb: "create"));
            w.Audit(Entry(Now.AddMinutes(2), "helpdesk", "alan", "s2", verb: "create"));
            // Renamed at the source: the later entries carry the new name, the same source id.
            w.Audit(Entry(Now.AddMinutes(3), "helpdesk", "grace.murray", "s1"));
            // An unlink carries no userName: found through the source id the person's other entries share.
            w.Audit(new AuditRecord(Now.AddMinutes(4), "run:y", "expenses", "unlink", "[t9]", "t9", "s1", "ok", null, 0, "deleted on the target"));
        });

        IEnumerable<string> Find(AuditQuery q) => store.Log(q).Select(r => $"{r.Target}/{r.Verb}/{r.Time.Minute}");
        Assert.Equal(["expenses/unlink/4", "helpdesk/update/3", "support/create/1", "helpdesk/create/0"], Find(new AuditQuery(["GRACE"])));
        Assert.Equal(Find(new AuditQuery(["grace"])), Find(new AuditQuery(["grace.murray"])));
        Assert.Equal(Find(new AuditQuery(["grace"])), Find(new AuditQuery(["s1"])));
        Assert.Equal(["helpdesk/update/3", "helpdesk/create/2", "helpdesk/create/0"], Find(new AuditQuery(Target: "helpdesk")));
        Assert.Equal(["support/create/1"], Find(new AuditQuery(Result: "failed")));
        Assert.Equal(["helpdesk/create/2", "support/create/1"], Find(new AuditQuery(Since: Now.AddMinutes(1), Until: Now.AddMinutes(3))));
        Assert.Equal(["helpdesk/update/3"], Find(new AuditQuery(["grace"], "helpdesk", "ok", Limit: 1)));
        Assert.Empty(Find(new AuditQuery(["alan"], "support")));
        Assert.Equal(["helpdesk", "expenses"], store.Audit(2).Select(a => a.Target));

        // Retention: bounded steps, oldest first.
        Assert.Equal(2, store.PruneLog(Now.AddMinutes(3), max: 2));
        Assert.Equal(1, store.PruneLog(Now.AddMinutes(3), max: 2));
        Assert.Equal(["expenses/unlink/4", "helpdesk/update/3"], Find(new AuditQuery()));
    }

    [SkippableFact]
    public void What_a_record_carries_comes_back_as_it_was_written()
    {
        var store = Open();
        var written = Entry(Now, "helpdesk", "grace", "s1", "failed") with
        {
            Changes = [new AttributeChange("title", JsonValue.Create("Engineer"), JsonValue.Create("Rear Admiral")), new AttributeChange("nickName", JsonValue.Create("Amazing"), null)],
            JournalPosition = 42, EventTime = Now.AddSeconds(-1), Writer = "hr-portal", ScimType = "uniqueness", Action = FailureAdvice.For(409),
        };
        store.Batch(w => w.Audit(written));
        var read = Assert.Single(store.Log(new AuditQuery(["grace"])));
        Assert.Equal([.. written.Changes.Select(Show)], read.Changes.Select(Show));
        Assert.Equal((42L, Now.AddSeconds(-1), "hr-portal", "uniqueness", written.Action, 409), (read.JournalPosition!.Value, read.EventTime!.Value, read.Writer!, read.ScimType!, read.Action, read.Status!.Value));
    }

    [SkippableFact]
    public void Holds_reads_checkpoints_and_secrets_survive_a_reopen()
    {
        var store = Open();
        store.Batch(w =>
        {
            w.Hold(new HeldOperation("app", "s1", "delete", "user grace", "t1", "too many removals", Now));
            w.Hold(new HeldOperation("app", "s1", "delete", "user grace", "t1", "still too many", Now.AddMinutes(5)));
            w.RecordRead(new TargetReadRecord("app", Now, 10, false, "page 3 failed", Now.AddDays(-1), 9));
            w.SetCheckpoint("feed.position", "42");
            w.SetSecret("feed.secret", "s3cr3t");
            w.ReplaceSourceGroups([("g1", ["s1", "s2"])]);
            w.RemoveSourceMember("g1", "s2");
        });
        var again = Open();
        Assert.Equal(("still too many", Now), (again.Held("app", "s1")!.Reason, again.Held("app", "s1")!.Since));
        Assert.Equal(1, again.HeldCount("app"));
        Assert.Equal(new TargetReadRecord("app", Now, 10, false, "page 3 failed", Now.AddDays(-1), 9), again.LastRead("app"));
        Assert.Equal("42", again.GetCheckpoint("feed.position"));
        Assert.Equal("s3cr3t", again.GetSecret("feed.secret"));
        Assert.Equal(["s1"], again.SourceGroupMembers()["g1"]);
        again.SetCheckpoint("feed.position", null);
        Assert.Null(store.GetCheckpoint("feed.position"));
    }
}

/// <summary>The contract on the SQLite file.</summary>
public sealed class SqliteStateContractTests : SyncStateContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-contract-" + Guid.NewGuid().ToString("N")[..8]);

    protected override ISyncState OpenState() => SqliteSyncState.Open(_dir);

    public override void Dispose()
    {
        base.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        try { File.Delete(_dir + ".key"); } catch (IOException) { }
    }
}

/// <summary>The contract on a PostgreSQL schema of its own (SCIMSYNC_TEST_POSTGRES).</summary>
public sealed class PostgresStateContractTests : SyncStateContract
{
    private readonly string _keyDir = Path.Combine(Path.GetTempPath(), "scimsync-contract-pg-" + Guid.NewGuid().ToString("N")[..8]);
    private (string Schema, string Url)? _db;

    protected override ISyncState OpenState()
    {
        _db ??= TestPostgres.NewSchema();
        return PostgresSyncState.Open(_db.Value.Url, KeyRing.ForDirectory(_keyDir, null));
    }

    public override void Dispose()
    {
        base.Dispose();
        if (_db is { } db) TestPostgres.DropSchema(db.Schema);
        try { File.Delete(_keyDir + ".key"); } catch (IOException) { }
    }
}
