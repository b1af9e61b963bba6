using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Sync.Leases;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Tests.Leases;

/// <summary>
/// What a command does with the leases of the targets it works on (TargetClaims), on a scripted store and a fake
/// clock: skipping or waiting for a target a live engine holds, and stopping before its leases can lapse. The real
/// store is tested in State/TargetClaimStoreTests and, with real processes, EndToEnd/SharedStateCommandTests.
/// </summary>
public sealed class TargetClaimsTests
{
    /// <summary>A claim store whose owners the test sets: a target with no owner is taken by the command.</summary>
    private sealed class ScriptedStore : ITargetClaimStore
    {
        public readonly Dictionary<string, string> Owners = new(StringComparer.Ordinal);
        public readonly List<string> Calls = [];
        public volatile bool Unreachable;
        public volatile bool Hangs;
        public Func<IReadOnlyList<string>>? Renewed;

        public string Holder => "sync confirm@test:1";

        public TimeSpan Term => TimeSpan.FromSeconds(5);

        public Task<string?> TryClaimAsync(string target, bool request, CancellationToken ct)
        {
            lock (Calls)
            {
                Calls.Add((request ? "ask " : "try ") + target);
                if (Owners.TryGetValue(target, out var owner) && owner != Holder) return Task.FromResult<string?>(owner);
                Owners[target] = Holder;
                return Task.FromResult<string?>(null);
            }
        }

        public Task<IReadOnlyList<string>> RenewAsync(CancellationToken ct)
        {
            if (Unreachable) throw new SyncStateUnavailableException("database unreachable");
            if (Hangs) return Task.Delay(Timeout.Infinite, ct).ContinueWith<IReadOnlyList<string>>(_ => [], TaskScheduler.Default);
            lock (Calls) return Task.FromResult(Renewed?.Invoke() ?? Owners.Where(o => o.Value == Holder).Select(o => o.Key).ToList());
        }

        public Task WithdrawRequestsAsync(CancellationToken ct)
        {
            lock (Calls) Calls.Add("withdraw");
            return Task.CompletedTask;
        }

        public Task ReleaseAllAsync(CancellationToken ct)
        {
            lock (Calls) Calls.Add("release all");
            return Task.CompletedTask;
        }

        public int Count(string call)
        {
            lock (Calls) return Calls.Count(c => c == call);
        }
    }

    /// <summary>Acquires while moving the fake clock on (the waits between attempts run on it), at most 120 s of fake time.</summary>
    private static async Task<TargetClaims> AcquireAsync(ScriptedStore store, FakeTimeProvider time, IReadOnlyList<string> targets, TimeSpan wait, Action<int>? each = null)
    {
        var acquiring = TargetClaims.AcquireAsync(store, targets, wait, time, NullLogger.Instance, default);
        for (var i = 0; i < 480 && !acquiring.IsCompleted; i++)
        {
            each?.Invoke(i);
            time.Advance(TargetClaims.RetryEvery);
            await Task.Delay(5);
        }
        return await acquiring;
    }

    [Fact]
    public async Task Without_a_wait_a_free_target_is_taken_and_one_an_engine_holds_is_skipped_without_asking()
    {
        var store = new ScriptedStore();
        store.Owners["t2"] = "a";
        var time = new FakeTimeProvider();
        await using var claims = await AcquireAsync(store, time, ["t1", "t2"], TimeSpan.Zero);
        Assert.Equal(["t1"], claims.Held);
        Assert.Equal("a", claims.Skipped["t2"]);
        Assert.Empty(claims.HandedOver);
        Assert.True(claims.Holds("t1"));
        Assert.False(claims.Holds("t2"));
        Assert.Equal(0, store.Count("ask t2"));
        Assert.Equal(1, store.Count("try t2"));
    }

    [Fact]
    public async Task With_a_wait_the_owner_is_asked_until_it_hands_the_target_over()
    {
        var store = new ScriptedStore();
        store.Owners["t1"] = "a";
        var time = new FakeTimeProvider();
        // The owner lets go after a few attempts, as an engine does at its next heartbeat once its work stopped.
        await using var claims = await AcquireAsync(store, time, ["t1"], TimeSpan.FromSeconds(30), i =>
        {
            if (i == 4) lock (store.Calls) store.Owners.Remove("t1");
        });
        Assert.Equal(["t1"], claims.Held);
        Assert.Equal("a", claims.HandedOver["t1"]);
        Assert.Empty(claims.Skipped);
        Assert.True(store.Count("ask t1") >= 2);
        Assert.Equal(0, store.Count("withdraw"));
    }

    [Fact]
    public async Task A_wait_that_ends_first_skips_the_target_and_withdraws_the_request()
    {
        var store = new ScriptedStore();
        store.Owners["t1"] = "a";
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        await using var claims = await AcquireAsync(store, time, ["t1"], TimeSpan.FromSeconds(3));
        Assert.Empty(claims.Held);
        Assert.Equal("a", claims.Skipped["t1"]);
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromSeconds(3), "gave up before the wait was over");
        Assert.Equal(1, store.Count("withdraw"));
    }

    [Fact]
    public async Task Claims_are_lost_before_their_leases_can_lapse_when_renewals_fail()
    {
        var store = new ScriptedStore();
        var time = new FakeTimeProvider();
        var claims = await AcquireAsync(store, time, ["t1"], TimeSpan.Zero);
        var taken = time.GetUtcNow();
        store.Unreachable = true;
        for (var s = 1; s <= 3; s++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            await Task.Delay(50);
            Assert.False(claims.Lost.IsCancellationRequested, $"lost after {s} s, well before the lease could lapse");
        }
        for (var i = 0; i < 20 && !claims.Lost.IsCancellationRequested; i++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            for (var j = 0; j < 20 && !claims.Lost.IsCancellationRequested; j++) await Task.Delay(10);
        }
        Assert.True(claims.Lost.IsCancellationRequested, "not lost");
        Assert.True(time.GetUtcNow() - taken < store.Term, $"lost only after {time.GetUtcNow() - taken}, when the lease may have lapsed");
        Assert.Contains("not renewed in time", claims.LostReason, StringComparison.Ordinal);
        await claims.DisposeAsync();
        Assert.Equal(1, store.Count("release all"));
    }

    [Fact]
    public async Task A_lease_the_store_no_longer_reports_is_lost_at_the_next_renewal()
    {
        var store = new ScriptedStore { Renewed = () => [] };
        var time = new FakeTimeProvider();
        await using var claims = await AcquireAsync(store, time, ["t1"], TimeSpan.Zero);
        for (var i = 0; i < 5 && !claims.Lost.IsCancellationRequested; i++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            for (var j = 0; j < 20 && !claims.Lost.IsCancellationRequested; j++) await Task.Delay(10);
        }
        Assert.True(claims.Lost.IsCancellationRequested);
        Assert.Contains("t1", claims.LostReason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A renewal that never answers (a database call stuck on a dead connection) once held up the only check of the
    /// leases' validity: the command went on writing after its leases could have lapsed and been taken by an engine.
    /// </summary>
    [Fact]
    public async Task Claims_are_lost_in_time_when_a_renewal_never_answers()
    {
        var store = new ScriptedStore();
        var time = new FakeTimeProvider();
        var claims = await AcquireAsync(store, time, ["t1"], TimeSpan.Zero);
        var taken = time.GetUtcNow();
        store.Hangs = true;
        for (var i = 0; i < 20 && !claims.Lost.IsCancellationRequested; i++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            for (var j = 0; j < 20 && !claims.Lost.IsCancellationRequested; j++) await Task.Delay(10);
        }
        Assert.True(claims.Lost.IsCancellationRequested, "not lost while the renewal hung");
        Assert.True(time.GetUtcNow() - taken < store.Term, $"lost only after {time.GetUtcNow() - taken}, when the lease may have lapsed");
        Assert.Contains("not renewed in time", claims.LostReason, StringComparison.Ordinal);
        await claims.DisposeAsync();
    }
}
