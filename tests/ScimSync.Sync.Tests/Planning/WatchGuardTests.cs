using Microsoft.Extensions.Time.Testing;
using ScimSync.Client;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;
using ScimSync.Sync.Sources;
using static ScimSync.Sync.Tests.Planning.Fixtures;

namespace ScimSync.Sync.Tests.Planning;

/// <summary>The guard in watch mode: batches measured against the whole target, and only removals held.</summary>
public sealed class WatchGuardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-watchguard-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly FakeTimeProvider _time = new(Now);
    private readonly CapturedLogs _log = new();
    private readonly ISyncState _shadows;
    private readonly WatchGuard _guard;
    private readonly TargetSlot _slot;
    private readonly ScimClient _client = new(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:1/scim/v2/") });

    public WatchGuardTests()
    {
        _shadows = SqliteSyncState.Open(_dir);
        _guard = new WatchGuard(_shadows, _time, _log.CreateLogger("guard"));
        var target = Target();
        _slot = new TargetSlot(target, _client, new TargetPlanner(target, AccountKindRules.Default, SchemaRegistry.CreateDefault()),
            new TargetExecutor(_client, _shadows, _time, 1), new TargetHealth(_time));
    }

    /// <summary>A target managing 2,680 accounts (only the count matters to the guard).</summary>
    private static TargetState Managed2680 => Fixtures.State() with { ManagedAccounts = 2680 };

    private static SyncPlan PlanOf(params PlannedOperation[] ops) => new("app", ops, [], new Dictionary<Situation, int>(), 2680, null);

    private static PlannedOperation[] Leavers(int from, int count) =>
        Enumerable.Range(from, count).Select(i => (PlannedOperation)new DeactivateAccount("app", "t" + i, "s" + i, $"u{i}@example.com", "deleted at the source")).ToArray();

    private static UpdateAccount TitleChange(string sourceId) =>
        new("app", "t-" + sourceId, sourceId, sourceId + "@example.com", [new System.Text.Json.Nodes.JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "Lead" }], new System.Text.Json.Nodes.JsonObject());

    private static SourceSnapshot Empty => Snapshot([]);

    [Fact]
    public void Fifteen_leavers_of_2680_go_through()
    {
        var plan = PlanOf(Leavers(0, 15));
        var applied = _guard.Apply(_slot, plan, Managed2680, plan.Operations.Select(WatchGuard.KeyOf).ToArray(), Empty);
        Assert.Equal(15, applied.Operations.Count);
        Assert.Empty(_shadows.Holds("app"));
    }

    [Fact]
    public void Past_the_limit_only_the_removals_are_held_and_the_rest_goes_on()
    {
        var ops = Leavers(0, 300).Append(TitleChange("new-hire")).ToArray();
        var plan = PlanOf(ops);
        var applied = _guard.Apply(_slot, plan, Managed2680, ops.Select(WatchGuard.KeyOf).ToArray(), Empty);

        var kept = Assert.Single(applied.Operations);
        Assert.IsType<UpdateAccount>(kept);
        var held = _shadows.Holds("app");
        Assert.Equal(300, held.Count);
        Assert.All(held, h => Assert.Contains("300 deactivations exceed the limit of 10% (of 2,680 managed accounts)", h.Reason));
        var summary = Assert.Single(_log.WithId(3300));
        Assert.Equal(("app", 300), (summary["Target"], summary["Count"]));
        // Each held removal is an entry of its own, with the fields a JSON log carries.
        Assert.Equal(300, _log.WithId(3301).Count);
        var first = _log.WithId(3301)[0];
        Assert.Equal(("app", "deactivate", "held", "watch"), (first["Target"], first["Operation"], first["Result"], first["Cause"]));
        Assert.Equal("user u0@example.com [t0]", first["Subject"]);

        // While anything is held, every further removal is held too (the summary is not said again).
        var next = PlanOf(Leavers(500, 1));
        Assert.Empty(_guard.Apply(_slot, next, Managed2680, ["s500"], Empty, key => "event:txn-" + key).Operations);
        Assert.Equal(301, _shadows.Holds("app").Count);
        Assert.Single(_log.WithId(3300));
        Assert.Equal("event:txn-s500", _log.WithId(3301)[^1]["Cause"]);

        // A held person planned again without a removal (the source reactivated them) is released.
        var back = PlanOf(TitleChange("s7"));
        Assert.Single(_guard.Apply(_slot, back, Managed2680, ["s7"], Empty).Operations);
        Assert.DoesNotContain(_shadows.Holds("app"), h => h.Key == "s7");
    }

    [Fact]
    public void Removals_applied_within_the_window_count_with_the_next_batch()
    {
        _slot.Removals.Record(_time.GetUtcNow(), Leavers(0, 260));
        var plan = PlanOf(Leavers(1000, 10));
        Assert.Empty(_guard.Apply(_slot, plan, Managed2680, plan.Operations.Select(WatchGuard.KeyOf).ToArray(), Empty).Operations);
        Assert.Contains("with 260 applied recently or queued", _shadows.Holds("app")[0].Reason);

        // An hour later those no longer count.
        _shadows.Batch(w => w.ReleaseHolds("app"));
        _time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(10, _guard.Apply(_slot, plan, Managed2680, plan.Operations.Select(WatchGuard.KeyOf).ToArray(), Empty).Operations.Count);
    }

    [Fact]
    public void Urgent_queued_leavers_behind_the_batch_count_with_it()
    {
        // 300 leavers linked here are queued (urgent): gone or inactive at the source. The first batch of 50 is held.
        var gone = Enumerable.Range(0, 300).ToArray();
        _shadows.Batch(w =>
        {
            foreach (var i in gone)
            {
                w.Link("app", "t" + i, "s" + i, Now);
                w.Enqueue("app", "s" + i, true, Now);
            }
        });
        var inactive = User("s0", "u0@example.com", "employee", active: false);
        var plan = PlanOf(Leavers(0, 50));
        var applied = _guard.Apply(_slot, plan, Managed2680, plan.Operations.Select(WatchGuard.KeyOf).ToArray(), Snapshot([inactive]));
        Assert.Empty(applied.Operations);
        Assert.Contains("with 250 applied recently or queued", _shadows.Holds("app")[0].Reason);
    }

    public void Dispose()
    {
        _client.Dispose();
        _shadows.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
