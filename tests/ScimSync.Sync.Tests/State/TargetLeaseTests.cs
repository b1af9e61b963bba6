using ScimSync.Secrets;
using ScimSync.Sync.State.Postgres;

namespace ScimSync.Sync.Tests.State;

/// <summary>
/// Target leases on real PostgreSQL, two engines' lease stores side by side in one process: each target has one
/// owner, the live engines divide the targets by ceil(targets / live), a stopped engine's targets are free at once
/// and a silent one's once its leases lapse (timed by the database's clock).
/// </summary>
public sealed class TargetLeaseTests : IDisposable
{
    private static readonly string[] Targets = ["expenses", "helpdesk", "support"];
    private readonly string _keyDir = Path.Combine(Path.GetTempPath(), "scimsync-leases-" + Guid.NewGuid().ToString("N")[..8]);
    private (string Schema, string Url)? _db;
    private readonly List<PostgresSyncState> _states = [];

    private PostgresTargetLeases Engine(string instance, TimeSpan? term = null)
    {
        _db ??= TestPostgres.NewSchema();
        var state = PostgresSyncState.Open(_db.Value.Url, KeyRing.ForDirectory(_keyDir, null), instance);
        _states.Add(state);
        return new PostgresTargetLeases(state, instance, term);
    }

    [SkippableFact]
    public async Task Live_engines_divide_the_targets_one_owner_each()
    {
        var a = Engine("a");
        var b = Engine("b");
        // Alone, a takes all three.
        Assert.Equal(Targets, (await a.RenewAsync(Targets, default)).Held.Order());
        // b is alive now: its share is 2, but nothing is free until a gives something up.
        var first = await b.RenewAsync(Targets, default);
        Assert.Equal((0, 2, 2), (first.Held.Count, first.Share, first.LiveEngines));
        var again = await a.RenewAsync(Targets, default);
        Assert.Equal((3, 2), (again.Held.Count, again.Share));
        // a gives up its surplus (TargetOwnership does, once the target's work stopped): b takes it.
        await a.ReleaseAsync("support", default);
        Assert.Equal(["support"], (await b.RenewAsync(Targets, default)).Held);
        Assert.Equal(["expenses", "helpdesk"], (await a.RenewAsync(Targets, default)).Held.Order());

        var leases = a.Leases();
        Assert.Equal(Targets, leases.Select(l => l.Target));
        Assert.Equal(["a", "a", "b"], leases.Select(l => l.Owner));
        Assert.All(leases, l => Assert.True(l.Expires > DateTimeOffset.UtcNow.AddSeconds(-30)));

        // A clean stop frees a's targets at once, and b takes all of them (the only live engine).
        await a.ReleaseAllAsync(default);
        var alone = await b.RenewAsync(Targets, default);
        Assert.Equal(Targets, alone.Held.Order());
        Assert.Equal(1, alone.LiveEngines);
    }

    [SkippableFact]
    public async Task A_silent_engines_targets_are_taken_once_its_leases_lapse_and_not_before()
    {
        var term = TimeSpan.FromSeconds(2);
        var dead = Engine("dead", term);
        var survivor = Engine("survivor", term);
        // The leases run from the database's clock inside dead's renewal, so no earlier than this (same machine).
        var renewed = DateTimeOffset.UtcNow;
        Assert.Equal(3, (await dead.RenewAsync(Targets, default)).Held.Count);
        Assert.Empty((await survivor.RenewAsync(Targets, default)).Held);

        // dead renews no more (killed): its leases hold until they lapse, then the survivor takes all three.
        var deadline = renewed + TimeSpan.FromSeconds(15);
        IReadOnlyList<string> held = [];
        while (held.Count < 3 && DateTimeOffset.UtcNow < deadline)
        {
            held = (await survivor.RenewAsync(Targets, default)).Held;
            if (held.Count == 0 && DateTimeOffset.UtcNow - renewed < term - TimeSpan.FromMilliseconds(500))
                Assert.All(survivor.Leases(), l => Assert.Equal("dead", l.Owner));
            await Task.Delay(200); // the renewal interval of a real engine, shortened: waiting on the database's clock
        }
        Assert.Equal(Targets, held.Order());
        Assert.All(survivor.Leases(), l => Assert.Equal("survivor", l.Owner));
        Assert.True(DateTimeOffset.UtcNow - renewed >= term - TimeSpan.FromMilliseconds(50), "taken before the dead engine's leases lapsed");
    }

    public void Dispose()
    {
        foreach (var s in _states) s.Dispose();
        if (_db is { } db) TestPostgres.DropSchema(db.Schema);
        try { File.Delete(_keyDir + ".key"); } catch (IOException) { }
    }
}
