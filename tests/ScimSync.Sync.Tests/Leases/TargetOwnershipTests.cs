using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Sync.Leases;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Tests.Leases;

/// <summary>
/// What the engine does with its leases (TargetOwnership), on a scripted lease store and a fake clock: the store's
/// answers (a database outage among them) are what cannot be produced on demand with real PostgreSQL. The real store
/// is tested in State/TargetLeaseTests and, with real engine processes, EndToEnd/SharedStateTakeoverTests.
/// </summary>
public sealed class TargetOwnershipTests
{
    /// <summary>A lease store whose next answers the test sets, recording what the engine asked of it.</summary>
    private sealed class ScriptedStore : ITargetLeaseStore
    {
        public volatile LeaseRound Next = new([], 1, 1);
        public volatile bool Unreachable;
        public volatile bool Hangs;
        public readonly List<string> Calls = [];

        public string Instance => "me";

        public TimeSpan Term => TimeSpan.FromSeconds(5);

        public Task<LeaseRound> RenewAsync(IReadOnlyList<string> targets, CancellationToken ct)
        {
            if (Unreachable) throw new SyncStateUnavailableException("database unreachable");
            if (Hangs) return Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => Next, TaskScheduler.Default);
            lock (Calls) Calls.Add("renew");
            return Task.FromResult(Next);
        }

        /// <summary>Whether a target's work runs, asked when the engine releases it.</summary>
        public Func<string, bool> Working = _ => false;

        public Task ReleaseAsync(string target, CancellationToken ct)
        {
            lock (Calls) Calls.Add((Working(target) ? "released while working " : "release ") + target);
            return Task.CompletedTask;
        }

        public Task ReleaseAllAsync(CancellationToken ct)
        {
            lock (Calls) Calls.Add("release all");
            return Task.CompletedTask;
        }

        public IReadOnlyList<TargetLease> Leases() => [];

        public bool Called(string call)
        {
            lock (Calls) return Calls.Contains(call);
        }
    }

    private static readonly string[] Targets = ["t1", "t2", "t3"];

    /// <summary>Waits (real time, bounded) for the ownership loop, which runs on the thread pool, to get somewhere.</summary>
    private static async Task Eventually(Func<bool> condition, string what)
    {
        for (var i = 0; i < 500 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition(), what);
    }

    /// <summary>
    /// Moves the fake clock a renewal interval at a time until <paramref name="condition"/> holds (at most 20 s of fake
    /// time): the loop may not have armed its next wait yet when the clock first moves.
    /// </summary>
    private static async Task AdvanceUntil(FakeTimeProvider time, Func<bool> condition, string what)
    {
        for (var i = 0; i < 20 && !condition(); i++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            for (var j = 0; j < 20 && !condition(); j++) await Task.Delay(10);
        }
        Assert.True(condition(), what);
    }

    /// <summary>Each target's work: records its running and stopping, as the engine's lanes would run until cancelled.</summary>
    private sealed class Work
    {
        public readonly HashSet<string> Running = [];
        public readonly List<string> Log = [];

        public async Task RunAsync(string target, CancellationToken held)
        {
            lock (Log) { Running.Add(target); Log.Add("start " + target); }
            try
            {
                await Task.Delay(Timeout.Infinite, held);
            }
            finally
            {
                lock (Log) { Running.Remove(target); Log.Add("stop " + target); }
            }
        }

        public bool IsRunning(string target)
        {
            lock (Log) return Running.Contains(target);
        }
    }

    [Fact]
    public async Task A_target_beyond_the_share_is_released_only_after_its_work_stopped()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(Targets, 3, 1) };
        var work = new Work();
        store.Working = work.IsRunning;
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => Targets.All(work.IsRunning), "all three targets work");
        Assert.True(ownership.Holds("t3"));

        // Another engine came up: the share is 2, this one still holds three.
        store.Next = new LeaseRound(Targets, 2, 2);
        await AdvanceUntil(time, () => store.Called("release t3") || store.Called("released while working t3"), "t3 released");
        Assert.False(store.Called("released while working t3"), "released while its work still ran");
        Assert.False(ownership.Holds("t3"));
        Assert.True(work.IsRunning("t1") && work.IsRunning("t2"));

        // A clean stop: the work ends, then every lease goes.
        await stop.CancelAsync();
        await running;
        Assert.Empty(work.Running);
        Assert.Equal("release all", store.Calls[^1]);
    }

    [Fact]
    public async Task An_engine_that_cannot_renew_stops_its_work_before_its_leases_can_lapse()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(["t1"], 2, 2) };
        var work = new Work();
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => work.IsRunning("t1"), "t1 works");
        var start = time.GetUtcNow();

        // The database goes away: renewals fail, and the lease (5 s) would lapse for the others 5 s after the last one.
        store.Unreachable = true;
        for (var s = 1; s <= 3; s++)
        {
            time.Advance(TargetOwnership.RenewEvery);
            await Task.Delay(50);
            Assert.True(work.IsRunning("t1"), $"stopped after {s} s, well before the lease could lapse");
        }
        // Past term minus one interval since the last renewal: stopped, before anyone else may take it.
        await AdvanceUntil(time, () => !work.IsRunning("t1"), "t1 still works after its lease may have lapsed");
        Assert.True(time.GetUtcNow() - start <= store.Term + TargetOwnership.RenewEvery, $"stopped only after {time.GetUtcNow() - start}");
        Assert.False(ownership.Holds("t1"));

        // The database is back and the lease still ours: the work starts again.
        store.Unreachable = false;
        await AdvanceUntil(time, () => work.IsRunning("t1"), "t1 did not start again");
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task A_lease_the_store_no_longer_reports_stops_its_work()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(["t1", "t2"], 2, 2) };
        var work = new Work();
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => work.IsRunning("t1") && work.IsRunning("t2"), "both work");
        store.Next = new LeaseRound(["t1"], 2, 2); // t2 lapsed and was taken
        await AdvanceUntil(time, () => !work.IsRunning("t2"), "t2 still works");
        Assert.True(work.IsRunning("t1"));
        Assert.False(store.Called("release t2")); // not ours to release any more
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task A_target_a_command_asks_for_is_released_only_after_its_work_stopped_and_is_not_started_again_meanwhile()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(["t1", "t2"], 2, 1) };
        var work = new Work();
        store.Working = work.IsRunning;
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => work.IsRunning("t1") && work.IsRunning("t2"), "both work");

        // `sync confirm t1` asked for t1: the store still reports it held (the release is the engine's to make).
        store.Next = new LeaseRound(["t1", "t2"], 2, 1, ["t1"]);
        await AdvanceUntil(time, () => store.Called("release t1") || store.Called("released while working t1"), "t1 not handed over");
        Assert.False(store.Called("released while working t1"), "released while its work still ran");
        Assert.False(ownership.Holds("t1"));
        Assert.True(work.IsRunning("t2"));
        // Asked for again at the next heartbeat (the command has not taken it yet): not started, released again.
        int Starts()
        {
            lock (work.Log) return work.Log.Count(l => l == "start t1");
        }
        var starts = Starts();
        time.Advance(TargetOwnership.RenewEvery);
        await Task.Delay(100);
        Assert.Equal(starts, Starts());

        // The command is done and the engine holds t1 again: its work starts again.
        store.Next = new LeaseRound(["t1", "t2"], 2, 1);
        await AdvanceUntil(time, () => work.IsRunning("t1"), "t1 did not start again");
        await stop.CancelAsync();
        await running;
    }

    /// <summary>
    /// Watch mode's periodic full comparison runs beside a target's lanes. It once checked only at its start whether the
    /// target was held and went on with the engine's token, so a command's `sync confirm` could take the target while
    /// the comparison still wrote to it. Joined to the target's work, it ends with it and the lease waits for it.
    /// </summary>
    [Fact]
    public async Task Work_joined_to_a_held_target_ends_with_it_and_the_hand_over_waits_for_it()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(["t1"], 2, 1) };
        var work = new Work();
        var comparing = 0;
        store.Working = t => work.IsRunning(t) || Volatile.Read(ref comparing) > 0;
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => work.IsRunning("t1"), "t1 works");
        Assert.Null(ownership.Join("t2", _ => Task.FromResult(1)));

        // A comparison on t1 that, once told to stop, still takes a moment to finish its operation in flight.
        var ended = new TaskCompletionSource();
        var joined = ownership.Join("t1", async held =>
        {
            Interlocked.Increment(ref comparing);
            try
            {
                await Task.Delay(Timeout.Infinite, held).ContinueWith(_ => { }, TaskScheduler.Default);
                await Task.Delay(200);
                return 1;
            }
            finally
            {
                Interlocked.Decrement(ref comparing);
                ended.TrySetResult();
            }
        });
        Assert.NotNull(joined);
        await Eventually(() => Volatile.Read(ref comparing) == 1, "the comparison runs");

        store.Next = new LeaseRound(["t1"], 2, 1, ["t1"]);
        await AdvanceUntil(time, () => store.Called("release t1") || store.Called("released while working t1"), "t1 not handed over");
        Assert.False(store.Called("released while working t1"), "released while the joined comparison still ran");
        Assert.True(ended.Task.IsCompleted);
        Assert.Equal(1, await joined!);
        Assert.Null(ownership.Join("t1", _ => Task.FromResult(1)));
        await stop.CancelAsync();
        await running;
    }

    /// <summary>
    /// A renewal that never answers (a call stuck on a dead connection) once held up the only check of the leases'
    /// validity, so the work went on after the leases could have lapsed and been taken by another engine.
    /// </summary>
    [Fact]
    public async Task An_engine_whose_renewal_never_answers_stops_its_work_before_its_leases_can_lapse()
    {
        var time = new FakeTimeProvider();
        var store = new ScriptedStore { Next = new LeaseRound(["t1"], 2, 2) };
        var work = new Work();
        var ownership = new TargetOwnership(store, time, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = ownership.RunAsync(Targets, work.RunAsync, stop.Token);
        await Eventually(() => work.IsRunning("t1"), "t1 works");
        var start = time.GetUtcNow();
        store.Hangs = true;
        await AdvanceUntil(time, () => !work.IsRunning("t1"), "t1 still works while the renewal hangs");
        Assert.True(time.GetUtcNow() - start < store.Term, $"stopped only after {time.GetUtcNow() - start}, when the lease may have lapsed");
        await stop.CancelAsync();
        await running;
    }
}
