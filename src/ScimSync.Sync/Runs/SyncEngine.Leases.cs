using ScimSync.Sync.Leases;
using ScimSync.Sync.Intake;
using ScimSync.Sync.Lanes;

namespace ScimSync.Sync.Runs;

/// <summary>
/// Several engine processes on one shared state (<see cref="Ownership"/>): each works on the targets it holds a
/// lease on. What every engine still does for all targets: it follows the source through a feed subscription of its
/// own (so its copy of the source is whole) and queues every change for every target in the shared state, so a
/// target's queue is complete whoever owns it and nothing queued is lost when its owner dies.
/// </summary>
public sealed partial class SyncEngine
{
    /// <summary>Set when several engines share the state: the targets are divided by leases; null, one engine does all.</summary>
    public TargetOwnership? Ownership { get; init; }

    /// <summary>The engine's feed subscription at the source: one per engine process when several share the state.</summary>
    private string FeedName => Ownership is null ? SourceFeed.DefaultName : SourceFeed.DefaultName + "@" + Ownership.Instance;

    /// <summary>
    /// Set by a command on a shared state (sync confirm, run, reconcile, plan) once it holds targets' leases for its
    /// job: it works on those alone, writes no engine-wide checkpoint (the watching engines own those) and makes no feed
    /// subscription (each watching engine has its own).
    /// </summary>
    public TargetClaims? Claims { get; set; }

    /// <summary>Cancelled by <see cref="Stop"/>: for a host's waits before the engine's work starts (a command waiting for a lease).</summary>
    public CancellationToken StopRequested => _stopping.Token;

    /// <summary>Whether this process works on the target now (always, with neither <see cref="Ownership"/> nor <see cref="Claims"/>).</summary>
    private bool Works(TargetSlot t) => Ownership?.Holds(t.Config.Name) ?? Claims?.Holds(t.Config.Name) ?? true;

    /// <summary>What `sync status` shows of a target's lease: its owner and until when it holds unless renewed.</summary>
    private IReadOnlyList<TargetStatus> WithLeases(IReadOnlyList<TargetStatus> status)
    {
        if (Ownership?.Leases() is not { } leases) return status;
        return [.. status.Select(s => leases.FirstOrDefault(l => l.Target == s.Target) is { } lease ? s with { Owner = lease.Owner, LeaseExpires = lease.Expires } : s)];
    }

    /// <summary>Watch mode's work on the targets: all of them, or those held, each for as long as it is held.</summary>
    private Task WatchTargetsAsync(TargetQueueWorker queues, CancellationToken ct, CancellationToken work)
    {
        if (Ownership is null) return Task.WhenAll(_targets.Select(t => queues.RunAsync(t, ct, work)));
        var slots = _targets.ToDictionary(t => t.Config.Name, StringComparer.Ordinal);
        return Ownership.RunAsync([.. slots.Keys], (name, held, abandon) => HeldTargetAsync(slots[name], queues, held, abandon, work), ct);
    }

    /// <summary>
    /// A target this engine just took (at start, from a stopped engine, or from a dead one): first one full pass, its
    /// read and plan, so that what the previous owner left half done is found (an account it created but did not
    /// record is linked by correlation, never created again) and an initial load it did not finish is finished; then
    /// its queue, which every engine kept filling. Retried while held until the pass succeeds.
    /// </summary>
    /// <param name="held">Ends the loops (the target given up or handed over, the process stopping): no operation starts.</param>
    /// <param name="abandon">Also abandons the operations in flight (the lease lost, or no longer sure to hold).</param>
    private async Task HeldTargetAsync(TargetSlot t, TargetQueueWorker queues, CancellationToken held, CancellationToken abandon, CancellationToken work)
    {
        using var operations = CancellationTokenSource.CreateLinkedTokenSource(work, abandon);
        // The first pass also ends when the target is handed over or given up (its reads stop, no operation starts), so
        // that the hand-over waits for the operations in flight only, not for a whole read and plan.
        using var passing = CancellationTokenSource.CreateLinkedTokenSource(operations.Token, held);
        while (!held.IsCancellationRequested)
        {
            var cause = "run:" + _time.GetUtcNow().ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture) + "@" + Ownership!.Instance;
            var pass = await _pass.RunAsync(t, Snapshot, apply: true, confirm: false, watching: true, cause, "sync.run", null, passing.Token).ConfigureAwait(false);
            if (pass.Error is null && pass.Full?.Incomplete is null && !pass.Stopped) break;
            await Task.Delay(TimeSpan.FromSeconds(5), _time, held).ConfigureAwait(false);
        }
        await queues.RunAsync(t, held, operations.Token).ConfigureAwait(false);
    }
}
