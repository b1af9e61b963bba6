using Microsoft.Extensions.Logging;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Leases;

/// <summary>
/// Runs the engine's work on the targets this process holds leases on, and only on those (several engine processes
/// sharing one state). Every <see cref="RenewEvery"/> one heartbeat (<see cref="ITargetLeaseStore.RenewAsync"/>):
/// <list type="bullet">
/// <item>a target newly held starts its work (the engine reconciles it, then drains its queue: whatever the previous
/// owner left half-done is found by correlation, never created twice);</item>
/// <item>a target no longer held (lapsed while this process could not renew) has its work cancelled;</item>
/// <item>held beyond the share (another engine started): the surplus target's work is stopped first, and only then
/// is its lease released, so two processes never work on one target;</item>
/// <item>asked for by a command (<see cref="TargetClaims"/>: sync confirm, run …): the target's work is stopped
/// first, and only then is its lease released, for the command to take;</item>
/// <item>no renewal for <see cref="ITargetLeaseStore.Term"/> minus one interval (the database unreachable, the process
/// paused): every target's work is cancelled before the leases can lapse and be taken by another engine.</item>
/// </list>
/// A clean stop cancels the work, waits for it, and releases every lease (another engine takes them at its next heartbeat).
/// </summary>
public sealed class TargetOwnership(ITargetLeaseStore store, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, (CancellationTokenSource Lost, Task Work)> _running = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public string Instance => store.Instance;

    public bool Holds(string target)
    {
        lock (_gate) return _running.ContainsKey(target);
    }

    public IReadOnlyList<TargetLease> Leases() => store.Leases();

    /// <param name="work">A target's work while held: ends when its token is cancelled (the lease lost, given up, or the process stopping).</param>
    public async Task RunAsync(IReadOnlyList<string> targets, Func<string, CancellationToken, Task> work, CancellationToken ct)
    {
        var validUntil = DateTimeOffset.MinValue;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    var round = await store.RenewAsync(targets, ct).ConfigureAwait(false);
                    validUntil = time.GetUtcNow() + store.Term - RenewEvery;
                    await ApplyAsync(round, work, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is SyncStateUnavailableException or TimeoutException or IOException)
                {
                    SyncLog.LeaseRenewFailed(logger, store.Instance, e.Message);
                }
                if (time.GetUtcNow() > validUntil) await StopAllAsync("not renewed in time").ConfigureAwait(false);
                await Task.Delay(RenewEvery, time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await StopAllAsync("stopping").ConfigureAwait(false);
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

    private async Task ApplyAsync(LeaseRound round, Func<string, CancellationToken, Task> work, CancellationToken ct)
    {
        // Asked for by a command (sync confirm, run …): not worked on, and released below once its work stopped.
        var requested = (round.Requested ?? []).ToHashSet(StringComparer.Ordinal);
        var held = round.Held.Where(t => !requested.Contains(t)).ToHashSet(StringComparer.Ordinal);
        List<(string Target, CancellationTokenSource Lost, Task Work)> lost = [];
        lock (_gate)
        {
            foreach (var (target, (cts, task)) in _running.ToArray())
                // Lapsed and perhaps taken by another engine; or the work ended on its own (it is started again while held).
                if (!held.Contains(target) || task.IsCompleted)
                {
                    _running.Remove(target);
                    lost.Add((target, cts, task));
                }
        }
        foreach (var (target, cts, task) in lost)
        {
            if (!held.Contains(target) && !requested.Contains(target)) SyncLog.LeaseLost(logger, target, store.Instance);
            await StopAsync(cts, task).ConfigureAwait(false);
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
                var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                SyncLog.LeaseTaken(logger, target, store.Instance, round.Share, round.LiveEngines);
                _running[target] = (cts, Task.Run(() => work(target, cts.Token), CancellationToken.None));
            }
        }
        // More than the share: the last ones (by name) go, one per heartbeat, their work stopped before the lease is released.
        string? surplus;
        lock (_gate) surplus = _running.Count > round.Share ? _running.Keys.Order(StringComparer.Ordinal).Last() : null;
        if (surplus is not null)
        {
            (CancellationTokenSource Lost, Task Work) entry;
            lock (_gate)
            {
                entry = _running[surplus];
                _running.Remove(surplus);
            }
            await StopAsync(entry.Lost, entry.Work).ConfigureAwait(false);
            await store.ReleaseAsync(surplus, ct).ConfigureAwait(false);
            SyncLog.LeaseGivenUp(logger, surplus, store.Instance, round.Share, round.LiveEngines);
        }
    }

    private async Task StopAllAsync(string reason)
    {
        List<(string Target, CancellationTokenSource Lost, Task Work)> all;
        lock (_gate)
        {
            all = _running.Select(r => (r.Key, r.Value.Lost, r.Value.Work)).ToList();
            _running.Clear();
        }
        foreach (var (target, cts, task) in all)
        {
            if (reason != "stopping") SyncLog.LeaseLost(logger, target, store.Instance);
            await StopAsync(cts, task).ConfigureAwait(false);
        }
    }

    private static async Task StopAsync(CancellationTokenSource lost, Task work)
    {
        await lost.CancelAsync().ConfigureAwait(false);
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lost.Dispose();
        }
    }
}
