using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Resources;
using ScimSync.Store;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Tokens;

namespace ScimSync.Server.Tests.Storage.Conformance;

/// <summary>
/// What the storage port promises, checked against a real database of each kind: the same test bodies run
/// against SQLite and PostgreSQL (the two sealed classes at the end). Writes go through ResourceService where a
/// server would, and straight through IWriteSession where the test needs to hold a session open.
/// Skippable: the PostgreSQL half reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public abstract class StorageConformanceTests(string kind) : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly SchemaRegistry _registry = SchemaRegistry.CreateDefault();
    private StoreUnderTest _under = null!;
    private IResourceStore _store = null!;
    private ResourceService _service = null!;

    private ResourceTypeDefinition UserType => _registry.User;

    public async Task InitializeAsync()
    {
        _under = await StoreUnderTest.CreateAsync(kind);
        _store = await _under.OpenAsync();
        var shaper = new ResourceShaper(_registry);
        _service = new ResourceService(_store, shaper, new PatchEngine(shaper), TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        await _under.DisposeAsync();
    }

    private JsonObject UserDoc(string userName, Action<JsonObject>? more = null)
    {
        var u = new JsonObject { ["schemas"] = new JsonArray(UserType.Schema), ["userName"] = userName };
        more?.Invoke(u);
        return u;
    }

    private async Task<StoredResource> CreateUserAsync(string userName, Action<JsonObject>? more = null) =>
        (await _service.CreateAsync(UserType, UserDoc(userName, more), WriteContext.New("test"), default)).Resource;

    private async Task<QueryPage> QueryAsync(string? filter, PageRequest page, ResourceTypeDefinition? rt = null, bool sortByUserName = false)
    {
        rt ??= UserType;
        var bound = filter is null ? null : FilterBinder.Bind(ScimFilterParser.Parse(filter), rt, _registry, strict: true);
        var sort = sortByUserName ? _registry.Resolve(rt, AttributePath.TryParse("userName")!) : null;
        return await _store.QueryAsync(new ResourceQuery([new TypeFilter(rt, bound, sort)], sortByUserName ? new SortSpec(false) : null, page, LoadOptions.All), default);
    }

    [SkippableFact]
    public async Task Create_read_replace_patch_delete_move_the_version_and_the_etag()
    {
        var created = await CreateUserAsync("crud", u => u["title"] = "one");
        Assert.Equal(1, created.Version);
        Assert.Equal("W/\"1\"", created.ETag);
        var found = await _store.FindAsync(UserType, created.Id, LoadOptions.All, default);
        Assert.NotNull(found);
        Assert.Equal(created.Data, found.Data); // byte for byte what was written
        Assert.Equal([], found.Groups!);

        var replaced = await _service.ReplaceAsync(UserType, created.Id, UserDoc("crud", u => u["title"] = "two"), "W/\"1\"", WriteContext.New("test"), default);
        Assert.Equal(2, replaced.Resource.Version);
        var stale = await Assert.ThrowsAsync<ScimException>(() =>
            _service.ReplaceAsync(UserType, created.Id, UserDoc("crud", u => u["title"] = "three"), "W/\"1\"", WriteContext.New("test"), default));
        Assert.Equal(412, stale.Status);
        var patched = await _service.PatchAsync(UserType, created.Id, PatchRequest.Read(JsonNode.Parse("""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"four"}]}
            """)), null, WriteContext.New("test"), default);
        Assert.Equal(3, patched.Resource.Version);
        Assert.Contains("\"four\"", (await _store.FindAsync(UserType, created.Id, LoadOptions.None, default))!.Data);

        await _service.DeleteAsync(UserType, created.Id, null, WriteContext.New("test"), default);
        Assert.Null(await _store.FindAsync(UserType, created.Id, LoadOptions.None, default));
        var journal = (await _store.ReadJournalAsync(0, 100, default)).Where(e => e.Change.ResourceId == created.Id).ToList();
        Assert.Equal([JournalOperation.Create, JournalOperation.Put, JournalOperation.Patch, JournalOperation.Delete], journal.Select(e => e.Change.Operation));
        Assert.Equal([1L, 2, 3, 3], journal.Select(e => e.Change.Version));
    }

    [SkippableFact]
    public async Task Lookalike_userNames_are_one_account_for_uniqueness_and_for_filters()
    {
        var original = await CreateUserAsync("user0");
        foreach (var lookalike in new[] { "USER0", "ＵＳＥＲ０", "User0" })
        {
            var e = await Assert.ThrowsAsync<ScimException>(() => CreateUserAsync(lookalike));
            Assert.Equal(409, e.Status);
        }
        foreach (var filter in new[] { "userName eq \"ＵＳＥＲ０\"", "userName eq \"USER0\"", "userName sw \"ＵＳ\"" })
            Assert.Equal([original.Id], (await QueryAsync(filter, new PageRequest(1, 10))).Resources.Select(r => r.Id));
        // Renaming another account onto it is refused too, and leaves that account as it was.
        var other = await CreateUserAsync("user1");
        var rename = await Assert.ThrowsAsync<ScimException>(() =>
            _service.ReplaceAsync(UserType, other.Id, UserDoc("ＵＳＥＲ０"), null, WriteContext.New("test"), default));
        Assert.Equal(409, rename.Status);
        Assert.Contains("user1", (await _store.FindAsync(UserType, other.Id, LoadOptions.None, default))!.Data);
    }

    [SkippableFact]
    public async Task A_session_reads_its_own_writes_and_an_update_reports_what_it_stored()
    {
        // PostgreSQL sends writes whose answer nobody needs before the next statement or with the commit; a read in
        // the same session must still see them, a resource inserted in it can be written again, and what an update
        // returns (computed, not read back) must be what is stored.
        var existing = await CreateUserAsync("before-session", u => u["title"] = "one");
        var userId = Guid.CreateVersion7().ToString();
        var groupId = Guid.CreateVersion7().ToString();
        string[] both = [existing.Id, userId];
        Array.Sort(both, StringComparer.Ordinal);
        StoredResource updated, renamed;
        await using (var s = await _store.BeginWriteAsync(default))
        {
            var inserted = await s.InsertAsync(UserType, userId, UserDoc("in-session"), null, null, Now, default);
            var types = await s.FindResourceTypesAsync([userId, existing.Id, "nobody", groupId], default);
            Assert.Equal(both.Select(id => (id, "User")), types.Select(kv => (kv.Key, kv.Value)).OrderBy(kv => kv.Key, StringComparer.Ordinal));
            var group = await s.InsertAsync(_registry.Group, groupId, new JsonObject { ["schemas"] = new JsonArray(_registry.Group.Schema), ["displayName"] = "g" },
                [new MemberRef(userId, "User", null)], null, Now, default);
            Assert.Equal(1, await s.AddMembersAsync(group, [new MemberRef(existing.Id, "User", null)], default));
            var found = (await s.FindAsync(_registry.Group, groupId, new LoadOptions(Members: true, Groups: false), default))!;
            Assert.Equal(both, found.Members!.Select(m => m.Value).Order(StringComparer.Ordinal));

            // Written again without being read first (the inserted one), and read then written twice (the other).
            renamed = await s.UpdateAsync(inserted, UserDoc("in-session-renamed"), null, "hash-1", Now.AddMinutes(1), default);
            Assert.Equal((2L, "hash-1"), (renamed.Version, renamed.PasswordHash));
            var user = (await s.FindAsync(UserType, existing.Id, LoadOptions.None, default))!;
            updated = await s.UpdateAsync(user, UserDoc("before-session", u => u["title"] = "two"), null, "hash-2", Now.AddMinutes(1), default);
            updated = await s.UpdateAsync(updated, UserDoc("before-session", u => u["title"] = "three"), null, null, Now.AddMinutes(2), default);
            Assert.Equal((user.Version + 2, "hash-2"), (updated.Version, updated.PasswordHash));
            await s.CommitAsync(default);
        }
        foreach (var expected in new[] { updated, renamed })
        {
            var stored = (await _store.FindAsync(UserType, expected.Id, LoadOptions.None, default))!;
            Assert.Equal((expected.Version, expected.Data, expected.LastModified, expected.PasswordHash), (stored.Version, stored.Data, stored.LastModified, stored.PasswordHash));
        }
        Assert.Equal(both, (await _store.FindAsync(_registry.Group, groupId, LoadOptions.All, default))!.Members!.Select(m => m.Value).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task A_session_not_committed_leaves_neither_resource_nor_journal_entry()
    {
        var before = await _store.ReadJournalAsync(0, 1000, default);
        var id = Guid.CreateVersion7().ToString();
        await using (var s = await _store.BeginWriteAsync(default))
        {
            var stored = await s.InsertAsync(UserType, id, UserDoc("ghost"), null, null, Now, default);
            await s.AppendJournalAsync(new JournalAppend("t", "User", id, JournalOperation.Create, stored.Version, ["userName"], stored.Data, null, "test", Now), default);
            Assert.Equal("User", (await s.FindResourceTypesAsync([id], default))[id]); // written to the database, where a store defers it
            // Not visible to others while the session is open...
            Assert.Null(await _store.FindAsync(UserType, id, LoadOptions.None, default));
            Assert.Equal(before.Count, (await _store.ReadJournalAsync(0, 1000, default)).Count);
        }
        // ...nor after it ended without a commit.
        Assert.Null(await _store.FindAsync(UserType, id, LoadOptions.None, default));
        Assert.Equal(before.Count, (await _store.ReadJournalAsync(0, 1000, default)).Count);
        Assert.Empty((await QueryAsync("userName eq \"ghost\"", new PageRequest(1, 10))).Resources);
    }

    [SkippableFact]
    public async Task A_failed_write_undoes_itself_and_nothing_else()
    {
        var kept = await CreateUserAsync("kept");
        var failedId = Guid.CreateVersion7().ToString();
        await using (var s = await _store.BeginWriteAsync(default))
        {
            await s.InsertAsync(UserType, failedId, UserDoc("half"), null, null, Now, default);
            // SQLite refuses the insert itself; PostgreSQL, which sends inserts with the commit, refuses the commit.
            var e = await Assert.ThrowsAsync<ScimException>(async () =>
            {
                await s.InsertAsync(UserType, Guid.CreateVersion7().ToString(), UserDoc("KEPT"), null, null, Now, default);
                await s.CommitAsync(default);
            });
            Assert.Equal(409, e.Status);
        }
        Assert.Null(await _store.FindAsync(UserType, failedId, LoadOptions.None, default));
        Assert.NotNull(await _store.FindAsync(UserType, kept.Id, LoadOptions.None, default));
        Assert.Equal([kept.Id], (await _store.ReadJournalAsync(0, 100, default)).Select(e => e.Change.ResourceId));
        // The store is usable afterwards.
        await CreateUserAsync("after");
    }

    [SkippableFact]
    public async Task Cursor_walks_and_index_pages_return_every_resource_once_in_order()
    {
        var names = Enumerable.Range(0, 23).Select(i => $"walk{(i * 7) % 23:D2}").ToArray();
        foreach (var n in names) await CreateUserAsync(n);
        var seen = new List<string>();
        long? after = null;
        while (true)
        {
            var page = await QueryAsync("userName sw \"walk\"", new PageRequest(1, 5, after ?? 0));
            seen.AddRange(page.Resources.Select(r => r.Id));
            Assert.Equal(23, page.TotalResults);
            if (!page.HasMore) break;
            after = page.Resources[^1].Seq;
        }
        Assert.Equal(23, seen.Distinct().Count());
        var sorted = new List<string>();
        for (var start = 1; start <= 23; start += 5)
        {
            var page = await QueryAsync("userName sw \"walk\"", new PageRequest(start, 5), sortByUserName: true);
            sorted.AddRange(page.Resources.Select(r => JsonNode.Parse(r.Data)!["userName"]!.GetValue<string>()));
        }
        Assert.Equal(names.Order(StringComparer.Ordinal), sorted);
    }

    [SkippableFact]
    public async Task A_page_reports_the_journal_position_it_is_consistent_with()
    {
        var a = await CreateUserAsync("pos-a");
        var page = await QueryAsync(null, new PageRequest(1, 100));
        Assert.Contains(a.Id, page.Resources.Select(r => r.Id));
        // Every entry the page reflects is at or below its position, and nothing is journaled after it yet.
        var entries = await _store.ReadJournalAsync(0, 1000, default);
        Assert.All(entries, e => Assert.True(e.Position <= page.JournalPosition));
        Assert.Empty(await _store.ReadJournalAsync(page.JournalPosition, 10, default));
        var b = await CreateUserAsync("pos-b");
        var after = await _store.ReadJournalAsync(page.JournalPosition, 10, default);
        Assert.Equal([b.Id], after.Select(e => e.Change.ResourceId)); // positions are not dense: only their order counts
        Assert.True((await QueryAsync(null, new PageRequest(1, 100))).JournalPosition >= after[0].Position);
    }

    [SkippableFact]
    public async Task Deleting_a_member_moves_its_groups_versions_and_filters_see_memberships()
    {
        var u = await CreateUserAsync("member");
        var other = await CreateUserAsync("other");
        var g = (await _service.CreateAsync(_registry.Group, new JsonObject
        {
            ["schemas"] = new JsonArray(_registry.Group.Schema),
            ["displayName"] = "Team",
            ["members"] = new JsonArray(new JsonObject { ["value"] = u.Id }, new JsonObject { ["value"] = other.Id }),
        }, WriteContext.New("test"), default)).Resource;
        Assert.Equal([g.Id], (await QueryAsync($"members.value eq \"{u.Id}\"", new PageRequest(1, 10), _registry.Group)).Resources.Select(r => r.Id));
        Assert.Equal([g.Id], (await QueryAsync("members[type eq \"user\"]", new PageRequest(1, 10), _registry.Group)).Resources.Select(r => r.Id));
        Assert.Equal([u.Id, other.Id], (await QueryAsync($"groups.value eq \"{g.Id}\"", new PageRequest(1, 10))).Resources.Select(r => r.Id));
        Assert.Equal(2, (await QueryAsync("groups.display eq \"team\"", new PageRequest(1, 10))).TotalResults);
        Assert.Equal([new GroupRef(g.Id, "Team")], (await _store.FindAsync(UserType, u.Id, LoadOptions.All, default))!.Groups!);

        await _service.DeleteAsync(UserType, u.Id, null, WriteContext.New("test"), default);
        var group = (await _store.FindAsync(_registry.Group, g.Id, LoadOptions.All, default))!;
        Assert.Equal(2, group.Version);
        Assert.Equal([other.Id], group.Members!.Select(m => m.Value));
        Assert.Empty((await QueryAsync($"members.value eq \"{u.Id}\"", new PageRequest(1, 10), _registry.Group)).Resources);
    }

    [SkippableFact]
    public async Task Journal_readers_never_see_a_position_appear_behind_one_they_have_seen()
    {
        using var stop = new CancellationTokenSource();
        var violations = new List<string>();
        var read = new List<long>();
        var reader = Task.Run(async () =>
        {
            long seen = 0;
            while (true)
            {
                var done = stop.IsCancellationRequested;
                foreach (var e in await _store.ReadJournalAsync(seen, 1000, default))
                {
                    if (e.Position <= seen) violations.Add($"{e.Position} after {seen}");
                    seen = e.Position;
                    read.Add(e.Position);
                }
                // Anything that became visible behind what was read would show up here as a miss at the end.
                if (done) return;
                await Task.Yield();
            }
        });
        var committed = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                var id = Guid.CreateVersion7().ToString();
                await using var s = await _store.BeginWriteAsync(default);
                var stored = await s.InsertAsync(UserType, id, UserDoc($"order-{w}-{i}"), null, null, Now, default);
                await s.AppendJournalAsync(new JournalAppend("t", "User", id, JournalOperation.Create, 1, ["userName"], stored.Data, null, "test", Now), default);
                if (i % 4 == 3) continue; // rolled back: its position is never seen
                await s.CommitAsync(default);
                committed.Add(id);
            }
        })));
        await stop.CancelAsync();
        await reader;
        Assert.Empty(violations);
        var all = await _store.ReadJournalAsync(0, 10_000, default);
        Assert.Equal(all.Select(e => e.Position), read);
        Assert.Equal(committed.Order(StringComparer.Ordinal), all.Select(e => e.Change.ResourceId).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Compaction_removes_an_old_prefix_only_and_reports_the_floor()
    {
        for (var i = 0; i < 5; i++) await CreateUserAsync($"old{i}");
        var entries = await _store.ReadJournalAsync(0, 100, default);
        var floor = await _store.CompactJournalAsync(entries[2].Position, DateTimeOffset.UtcNow.AddMinutes(1), default);
        Assert.Equal(entries[2].Position, floor);
        Assert.Equal(floor, await _store.JournalFloorAsync(default));
        Assert.Equal(entries.Skip(3).Select(e => e.Position), (await _store.ReadJournalAsync(0, 100, default)).Select(e => e.Position));
        // Entries newer than the cut-off time stay, and so does everything after them.
        Assert.Equal(floor, await _store.CompactJournalAsync(long.MaxValue, DateTimeOffset.UtcNow.AddDays(-1), default));
    }

    [SkippableFact]
    public async Task Tokens_are_found_by_hash_revoked_by_name_or_scope_and_names_are_unique()
    {
        var t = _store.Tokens;
        await t.AddAsync(new AccessToken("t1", "reader", "h1", ["scim:read"], null, Now, Now.AddDays(1), null), default);
        await t.AddAsync(new AccessToken("t2", "admin", "h2", ["scim:read", "admin"], "u1", Now, null, null), default);
        await Assert.ThrowsAsync<InvalidOperationException>(() => t.AddAsync(new AccessToken("t3", "reader", "h3", [], null, Now, null, null), default));
        var found = await t.FindByHashAsync("h2", default);
        Assert.Equal(["scim:read", "admin"], found!.Scopes);
        Assert.Equal("u1", found.UserId);
        Assert.Equal(Now.AddDays(1), (await t.FindByHashAsync("h1", default))!.Expires);
        Assert.Equal(1, await t.RevokeByScopeAsync("admin", Now, default));
        Assert.Equal(0, await t.RevokeByScopeAsync("adm", Now, default));
        Assert.True(await t.RevokeAsync("reader", Now, default));
        Assert.False(await t.RevokeAsync("reader", Now, default));
        Assert.All(await t.ListAsync(default), x => Assert.Equal(Now, x.Revoked));
    }

    private static DeliveryRecord Delivery(string sub, string jti, long position, string resource, bool urgent = false) =>
        new(sub, jti, position, resource, urgent, "token-" + jti, 0, null) { Created = Now };

    [SkippableFact]
    public async Task Fanout_commits_are_compare_and_set_and_claims_keep_each_resource_in_order_urgent_first()
    {
        var f = _store.Feed;
        await f.CreateSubscriptionAsync(new SubscriptionRecord("s1", "feed-one", "{}", "active", "secret-key", 0, Now), default);
        Assert.Equal("secret-key", (await f.FindSubscriptionAsync("feed-one", default))!.SigningKey);
        await Assert.ThrowsAsync<InvalidOperationException>(() => f.CreateSubscriptionAsync(new SubscriptionRecord("s2", "feed-one", "{}", "active", "k", 0, Now), default));

        var commit = new FanoutCommit(0, 4, 0, 0, [Delivery("s1", "a1", 1, "A"), Delivery("s1", "b1", 2, "B"), Delivery("s1", "a2", 3, "A"), Delivery("s1", "c1", 4, "C", urgent: true)]);
        Assert.True(await f.CommitFanoutAsync("s1", commit, default));
        Assert.False(await f.CommitFanoutAsync("s1", commit, default)); // the same step again: nothing written
        Assert.Equal(4, (await f.StatsAsync("s1", default)).Pending);
        Assert.Equal(4, (await f.FindSubscriptionAsync("s1", default))!.FanoutPosition);

        var first = await f.ClaimAsync("s1", 10, Now, TimeSpan.FromMinutes(1), default);
        Assert.Equal(["c1", "a1", "b1"], first.Select(d => d.Jti)); // urgent first; a2 waits for a1
        Assert.Empty(await f.ClaimAsync("s1", 10, Now, TimeSpan.FromMinutes(1), default));
        Assert.Equal(3, await f.AckAsync("s1", ["c1", "a1", "b1"], default));
        var next = await f.ClaimAsync("s1", 10, Now, TimeSpan.FromMinutes(1), default);
        Assert.Equal(["a2"], next.Select(d => d.Jti));
        // Not acknowledged: back after the visibility timeout, with the same jti.
        var again = await f.ClaimAsync("s1", 10, Now.AddMinutes(2), TimeSpan.FromMinutes(1), default);
        Assert.Equal(["a2"], again.Select(d => d.Jti));
        Assert.Equal(2, again[0].Attempts);
    }

    [SkippableFact]
    public async Task Dead_letters_are_bounded_held_back_replayed_and_discarded()
    {
        var f = _store.Feed;
        await f.CreateSubscriptionAsync(new SubscriptionRecord("d1", "dead", "{}", "active", "k", 0, Now), default);
        await f.CommitFanoutAsync("d1", new FanoutCommit(0, 3, 0, 0, [Delivery("d1", "x", 1, "X"), Delivery("d1", "y", 2, "Y"), Delivery("d1", "z", 3, "Z")]), default);
        var claimed = await f.ClaimAsync("d1", 10, Now, TimeSpan.FromMinutes(1), default);
        Assert.Equal(3, claimed.Count);
        var (acked, dead) = await f.SettleAsync("d1", new DeliveryOutcome(["x"], new Dictionary<string, string> { ["y"] = "400 bad", ["z"] = "400 worse" },
            []), new DeadLetterLimit(1, 1 << 20), default);
        Assert.Equal(1, acked);
        Assert.Equal(new DeadLetterResult(1, 1), dead); // one fits, the other goes back to the queue
        Assert.Equal(["y"], (await f.DeadLettersAsync("d1", 10, default)).Select(d => d.Jti));
        Assert.Equal("400 worse", (await f.ClaimAsync("d1", 10, Now, TimeSpan.FromMinutes(1), default)).Single().LastError);
        Assert.Equal(1, await f.ReplayDeadLettersAsync("d1", default));
        Assert.Equal(0, (await f.StatsAsync("d1", default)).DeadLetters);
        Assert.True(await f.DeleteSubscriptionAsync("d1", default));
        Assert.Null(await f.FindSubscriptionAsync("d1", default));
    }

    [SkippableFact]
    public async Task Fanout_lag_counts_the_entries_past_the_fanout_position_and_ages_the_first()
    {
        var f = _store.Feed;
        await _store.ProbeAsync(default);
        var start = (await QueryAsync(null, new PageRequest(1, 0))).JournalPosition;
        await f.CreateSubscriptionAsync(new SubscriptionRecord("l1", "lagging", "{}", "active", "k", start, Now), default);
        Assert.Equal(FanoutLag.None, await f.FanoutLagAsync("l1", default));
        for (var i = 0; i < 3; i++) await CreateUserAsync($"lag-{i}");
        var entries = await _store.ReadJournalAsync(start, 10, default);
        Assert.Equal(3, entries.Count);

        var lag = await f.FanoutLagAsync("l1", default);
        Assert.Equal(3, lag.Entries);
        Assert.Equal(entries[0].Change.Time, lag.OldestUnfanned);
        Assert.Equal(lag, (await f.StatsAsync("l1", default)).Lag);

        // Fanned out up to the second entry: one left, aged by the third.
        Assert.True(await f.CommitFanoutAsync("l1", new FanoutCommit(start, entries[1].Position, 0, 0, []), default));
        Assert.Equal(new FanoutLag(1, entries[2].Change.Time), await f.FanoutLagAsync("l1", default));
        Assert.True(await f.CommitFanoutAsync("l1", new FanoutCommit(entries[1].Position, entries[2].Position, 0, 0, []), default));
        Assert.Equal(FanoutLag.None, await f.FanoutLagAsync("l1", default));
        Assert.Equal(FanoutLag.None, await f.FanoutLagAsync("no-such-subscription", default));
    }

    [SkippableFact]
    public async Task Two_handles_on_one_store_see_each_others_writes()
    {
        await using var second = await _under.OpenAsync();
        var u = await CreateUserAsync("shared");
        Assert.NotNull(await second.FindAsync(UserType, u.Id, LoadOptions.None, default));
        Assert.Equal(u.Id, (await second.ReadJournalAsync(0, 10, default)).Single().Change.ResourceId);
    }
}

public sealed class SqliteStorageConformanceTests() : StorageConformanceTests("sqlite");

public sealed class PostgresStorageConformanceTests() : StorageConformanceTests("postgres");
