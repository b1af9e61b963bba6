using ScimSync.Secrets;
using ScimSync.Sync.State.Postgres;

namespace ScimSync.Sync.Tests.State;

/// <summary>
/// A command's leases beside the engines' on real PostgreSQL (PostgresTargetClaims with PostgresTargetLeases): a
/// command takes only what no live holder has; a request reaches the owner at its next heartbeat and keeps every other
/// engine off the target; what the command holds, no engine takes until it lets go or its lease lapses.
/// </summary>
public sealed class TargetClaimStoreTests : IAsyncDisposable
{
    private static readonly string[] Targets = ["expenses", "helpdesk", "support"];
    private readonly string _keyDir = Path.Combine(Path.GetTempPath(), "scimsync-claims-" + Guid.NewGuid().ToString("N")[..8]);
    private (string Schema, string Url)? _db;
    private readonly List<PostgresSyncState> _states = [];
    private readonly List<PostgresTargetClaims> _claims = [];

    private PostgresSyncState State(string name)
    {
        _db ??= TestPostgres.NewSchema();
        var state = PostgresSyncState.Open(_db.Value.Url, KeyRing.ForDirectory(_keyDir, null), name);
        _states.Add(state);
        return state;
    }

    private PostgresTargetLeases Engine(string instance) => new(State(instance), instance);

    private PostgresTargetClaims Command(string holder, TimeSpan? term = null)
    {
        var claims = new PostgresTargetClaims(State(holder), holder, term);
        _claims.Add(claims);
        return claims;
    }

    [SkippableFact]
    public async Task A_command_takes_a_free_target_and_no_engine_takes_it_from_the_command()
    {
        var a = Engine("a");
        var confirm = Command("sync confirm@host:1");
        Assert.Null(await confirm.TryClaimAsync("support", request: false, default));
        // a alone: its share is all three, but support is the command's while renewed.
        var round = await a.RenewAsync(Targets, default);
        Assert.Equal(["expenses", "helpdesk"], round.Held.Order());
        Assert.Empty(round.Requested!);
        Assert.Equal(["support"], await confirm.RenewAsync(default));
        Assert.Equal("sync confirm@host:1", a.Leases().Single(l => l.Target == "support").Owner);
        // Without a request nothing is asked of a; the command is told who holds the target.
        Assert.Equal("a", await confirm.TryClaimAsync("helpdesk", request: false, default));
        Assert.Empty((await a.RenewAsync(Targets, default)).Requested!);
        // The command lets go: a takes support at its next heartbeat.
        await confirm.ReleaseAllAsync(default);
        Assert.Equal(Targets, (await a.RenewAsync(Targets, default)).Held.Order());
    }

    [SkippableFact]
    public async Task A_requested_target_is_handed_over_by_its_owner_and_taken_by_no_other_engine_meanwhile()
    {
        var a = Engine("a");
        var b = Engine("b");
        Assert.Equal(Targets, (await a.RenewAsync(Targets, default)).Held.Order());
        var confirm = Command("sync confirm@host:2");
        Assert.Equal("a", await confirm.TryClaimAsync("helpdesk", request: true, default));

        // a's next heartbeat names the request; a stops its work there (TargetOwnership) and releases the lease.
        var round = await a.RenewAsync(Targets, default);
        Assert.Equal(["helpdesk"], round.Requested);
        await a.ReleaseAsync("helpdesk", default);
        // b is live with a share of 2 and nothing: helpdesk is free, but asked for, so b leaves it.
        Assert.DoesNotContain("helpdesk", (await b.RenewAsync(Targets, default)).Held);
        Assert.Null(await confirm.TryClaimAsync("helpdesk", request: true, default));
        Assert.Equal(["helpdesk"], await confirm.RenewAsync(default));
        Assert.DoesNotContain("helpdesk", (await a.RenewAsync(Targets, default)).Held);
        Assert.DoesNotContain("helpdesk", (await b.RenewAsync(Targets, default)).Held);

        await confirm.ReleaseAllAsync(default);
        Assert.Contains("helpdesk", (await b.RenewAsync(Targets, default)).Held);
    }

    [SkippableFact]
    public async Task A_withdrawn_request_frees_the_target_for_the_engines_again()
    {
        var a = Engine("a");
        Assert.Equal(Targets, (await a.RenewAsync(Targets, default)).Held.Order());
        var run = Command("sync run@host:3");
        Assert.Equal("a", await run.TryClaimAsync("support", request: true, default));
        Assert.Equal(["support"], (await a.RenewAsync(Targets, default)).Requested);
        await run.WithdrawRequestsAsync(default);
        Assert.Empty((await a.RenewAsync(Targets, default)).Requested!);
    }

    [SkippableFact]
    public async Task A_command_that_stops_renewing_loses_its_target_to_an_engine_once_the_lease_lapses()
    {
        var term = TimeSpan.FromSeconds(2);
        var killed = Command("sync run@host:4", term);
        var taken = DateTimeOffset.UtcNow;
        Assert.Null(await killed.TryClaimAsync("expenses", request: false, default));
        var a = Engine("a");
        var deadline = taken + TimeSpan.FromSeconds(15);
        IReadOnlyList<string> held = [];
        while (!held.Contains("expenses") && DateTimeOffset.UtcNow < deadline)
        {
            held = (await a.RenewAsync(Targets, default)).Held;
            await Task.Delay(200);
        }
        Assert.Contains("expenses", held);
        Assert.True(DateTimeOffset.UtcNow - taken >= term - TimeSpan.FromMilliseconds(50), "taken before the command's lease lapsed");
        // The command, back, finds its lease gone: its renewal names nothing.
        Assert.Empty(await killed.RenewAsync(default));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _claims) await c.DisposeAsync();
        foreach (var s in _states) s.Dispose();
        if (_db is { } db) TestPostgres.DropSchema(db.Schema);
        try { File.Delete(_keyDir + ".key"); } catch (IOException) { }
    }
}
