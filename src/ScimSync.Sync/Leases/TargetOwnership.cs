using Microsoft.Extensions.Logging;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Leases;

/// <summary>
/// Runs the engine's work on the targets this process holds leases on, and only on those (several engine processes
/// sharing one state). Every <see cref="RenewEvery"/> one heartbeat (<see cref="ITargetLeaseStore.RenewAsync"/>):
/// <list type="bullet">
/// <item>a target newly held starts its work (the engine reconciles it, then drains its queue: whatever the previous
/// owner left half-done is found by correlation, never created twice);</item>
/// <item>a target no longer held (lapsed while this process could not renew) has its work abandoned at once;</item>
/// <item>held beyond the share (another engine started): the surplus target's work is stopped first, and only then
/// is its lease released, so two processes never work on one target;</item>
/// <item>asked for by a command (<see cref="TargetClaims"/>: sync confirm, run …): the target's work is stopped
/// first, and only then is its lease released, for the command to take;</item>
/// <item>no renewal for <see cref="ITargetLeaseStore.Term"/> minus one interval (the database unreachable, the process
/// paused): every target's work is abandoned before the leases can lapse and be taken by another engine. A timer
/// keeps that time, since the heartbeat may itself be stuck in a database call that has not answered yet.</item>
/// </list>
/// Stopping a target's work (given up, handed over, the process stopping) lets the operations in flight finish, but
/// only while the lease surely holds (until the last renewal plus the term minus one interval): then they are
/// abandoned. A clean stop stops the work so, and releases every lease (another engine takes them at its next heartbeat).
/// </summary>
public sealed class TargetOwnership(ITargetLeaseStore store, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Until when work may go on under a lease renewed (or taken) by a call made at <paramref name="asked"/>: the
    /// database starts the term inside the call, so no earlier than <paramref name="asked"/>; one renewal interval is
    /// kept in hand, so that the holder stops before another engine can see the lease expire and take it.
    /// </summary>
    public static DateTimeOffset TrustedUntil(DateTimeOffset asked, TimeSpan term) => asked + term - RenewEvery;

    /// <param name="Stop">Ends the target's loops: no operation starts.</param>
    /// <param name="Abandon">Also abandons the operations in flight.</param>
    /// <param name="Joined">Other work on the target while held (<see cref="Join{T}"/>), stopped and waited for with it.</param>
    private sealed record Running(CancellationTokenSource Stop, CancellationTokenSource Abandon, Task Work, List<Task> Joined);

    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private DateTimeOffset _validUntil = DateTimeOffset.MinValue;

    public string Instance => store.Instance;

    /// <summary>
    /// Abandons every target's work once the leases may lapse, whether or not the heartbeat is stuck; the heartbeat
    /// clears the abandoned work away when it comes back (StopAllAsync).
    /// </summary>
    private void Watch()
    {
        Running[] runs;
        lock (_gate)
        {
            if (time.GetUtcNow() < _validUntil) return;
            runs = [.. _running.Values];
        }
        foreach (var run in runs)
        {
            try
            {
                run.Stop.Cancel();
                run.Abandon.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Stopped and cleared away by the heartbeat meanwhile.
            }
        }
    }

    /// <summary>Whether this process works on the target now: held, and its work not abandoned (by the watchdog).</summary>
    public bool Holds(string target)
    {
        lock (_gate) return _running.TryGetValue(target, out var run) && !run.Abandon.IsCancellationRequested;
    }

    public IReadOnlyList<TargetLease> Leases() => store.Leases();

    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="target"/> as part of the work this process does while it holds
    /// the target (watch mode's periodic full comparison): its token ends as the target's loops end, and a target given
    /// up or handed over is released only once this work too has ended, so another engine or a command never works on
    /// the target beside it. Null when the target is not held now.
    /// </summary>
    public Task<T>? Join<T>(string target, Func<CancellationToken, Task<T>> work)
    {
        lock (_gate)
        {
            if (!_running.TryGetValue(target, out var run) || run.Stop.IsCancellationRequested) return null;
            var token = run.Stop.Token;
            var task = Task.Run(() => work(token), CancellationToken.None);
            run.Joined.RemoveAll(j => j.IsCompleted);
            run.Joined.Add(task);
            return task;
        }
    }

    /// <param name="work">A target's work while held: ends when its token is cancelled (the lease lost, given up, or the process stopping).</param>
    public Task RunAsync(IReadOnlyList<string> targets, Func<string, CancellationToken, Task> work, CancellationToken ct) =>
        RunAsync(targets, (target, stop, _) => work(target, stop), ct);

    /// <param name="work">
    /// A target's work while held, given two tokens: the first ends its loops (given up, handed over, the process
    /// stopping), the second also abandons its operations in flight (the lease lost, or no longer sure to hold).
    /// </param>
    public async Task RunAsync(IReadOnlyList<string> targets, Func<string, CancellationToken, CancellationToken, Task> work, CancellationToken ct)
    {
        await using var watchdog = time.CreateTimer(_ => Watch(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    // From before the renewal: its term runs from the database's now() inside it.
                    var asked = time.GetUtcNow();
                    var round = await store.RenewAsync(targets, ct).ConfigureAwait(false);
                    lock (_gate) _validUntil = TrustedUntil(asked, store.Term);
                    watchdog.Change(Max(_validUntil - time.GetUtcNow(), TimeSpan.Zero), Timeout.InfiniteTimeSpan);
                    await ApplyAsync(round, work, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is SyncStateUnavailableException or TimeoutException or IOException)
                {
                    SyncLog.LeaseRenewFailed(logger, store.Instance, e.Message);
                }
                if (time.GetUtcNow() > _validUntil) await StopAllAsync(lost: true).ConfigureAwait(false);
                await Task.Delay(RenewEvery, time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await StopAllAsync(lost: false).ConfigureAwait(false);
            try
            {
                await store.ReleaseAllAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SyncStateUnavailableException or TimeoutException or IOException)
            {
                // They lapse by themselves within the term.
                SyncLog.LeaseRenewFailed(logger, store.Instance, e.Message);
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task ApplyAsync(LeaseRound round, Func<string, CancellationToken, CancellationToken, Task> work, CancellationToken ct)
    {
        // Asked for by a command (sync confirm, run …): not worked on, and released below once its work stopped.
        var requested = (round.Requested ?? []).ToHashSet(StringComparer.Ordinal);
        var held = round.Held.Where(t => !requested.Contains(t)).ToHashSet(StringComparer.Ordinal);
        List<(string Target, Running Run)> ended = [];
        lock (_gate)
        {
            foreach (var (target, run) in _running.ToArray())
                // Lapsed and perhaps taken by another engine; asked for; or the work ended on its own (started again while held).
                if (!held.Contains(target) || run.Work.IsCompleted)
                {
                    _running.Remove(target);
                    ended.Add((target, run));
                }
        }
        foreach (var (target, run) in ended)
        {
            var lost = !round.Held.Contains(target, StringComparer.Ordinal);
            if (lost) SyncLog.LeaseLost(logger, target, store.Instance);
            await StopAsync(run, graceful: !lost).ConfigureAwait(false);
        }
        foreach (var target in requested)
        {
            await store.ReleaseAsync(target, ct).ConfigureAwait(false);
            SyncLog.LeaseHandedOver(logger, target, store.Instance);
        }
        lock (_gate)
        {
            foreach (var target in round.Held.Where(t => held.Contains(t) && !_running.ContainsKey(t)))
            {
                var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var abandon = new CancellationTokenSource();
                SyncLog.LeaseTaken(logger, target, store.Instance, round.Share, round.LiveEngines);
                _running[target] = new Running(stop, abandon, Task.Run(() => work(target, stop.Token, abandon.Token), CancellationToken.None), []);
            }
        }
        // More than the share: the last ones (by name) go, one per heartbeat, their work stopped before the lease is released.
        string? surplus;
        lock (_gate) surplus = _running.Count > round.Share ? _running.Keys.Order(StringComparer.Ordinal).Last() : null;
        if (surplus is not null)
        {
            Running run;
            lock (_gate)
            {
                run = _running[surplus];
                _running.Remove(surplus);
            }
            await StopAsync(run, graceful: true).ConfigureAwait(false);
            await store.ReleaseAsync(surplus, ct).ConfigureAwait(false);
            SyncLog.LeaseGivenUp(logger, surplus, store.Instance, round.Share, round.LiveEngines);
        }
    }

    /// <param name="lost">The leases may no longer hold: the operations in flight are abandoned at once.</param>
    private async Task StopAllAsync(bool lost)
    {
        List<(string Target, Running Run)> all;
        lock (_gate)
        {
            all = _running.Select(r => (r.Key, r.Value)).ToList();
            _running.Clear();
        }
        foreach (var (target, run) in all)
        {
            if (lost) SyncLog.LeaseLost(logger, target, store.Instance);
            await StopAsync(run, graceful: !lost).ConfigureAwait(false);
        }
    }

    /// <param name="graceful">Let the operations in flight finish while the lease surely holds; else abandon them now.</param>
    private async Task StopAsync(Running run, bool graceful)
    {
        await run.Stop.CancelAsync().ConfigureAwait(false);
        Task all;
        // A joined task's failure is its caller's to report; here only its end counts.
        lock (_gate) all = Task.WhenAll([run.Work, .. run.Joined.Select(j => j.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default))]);
        try
        {
            var left = _validUntil - time.GetUtcNow();
            if (graceful && left > TimeSpan.Zero)
            {
                try
                {
                    await all.WaitAsync(left, time).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Still working when the lease may lapse: abandoned below.
                }
            }
            await run.Abandon.CancelAsync().ConfigureAwait(false);
            // The lanes end at once when abandoned. Joined work (a comparison's pass) only stops starting operations, so
            // it is not waited for past the lease's validity: that would hold up the heartbeat, and every other target.
            await run.Work.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            run.Stop.Dispose();
            run.Abandon.Dispose();
        }
    }
}
