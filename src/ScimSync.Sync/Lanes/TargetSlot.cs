using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Lanes;

/// <summary>Everything the engine keeps for one target while it runs: its client, planner, executor, health and queue signals.</summary>
internal sealed record TargetSlot(TargetConfig Config, ScimClient Client, TargetPlanner Planner, TargetExecutor Executor, TargetHealth Health)
{
    public SemaphoreSlim Signal { get; } = new(0);
    public SemaphoreSlim UrgentSignal { get; } = new(0);

    /// <summary>Keys being applied by one of the lanes: a key is worked by one lane at a time.</summary>
    public HashSet<string> InFlight { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Held while work that creates or links runs (the main lane, a full run): two such plans made side by
    /// side from the same shadow could both create one group, or link one account twice.
    /// </summary>
    public SemaphoreSlim Structure { get; } = new(1, 1);

    /// <summary>Removals applied by watch mode recently, which the guard counts with each new batch.</summary>
    public RemovalWindow Removals { get; } = new();

    /// <summary>Applies a plan that may create or link, one such plan at a time on this target (<see cref="Structure"/>).</summary>
    public async Task<ExecutionReport> ExecuteExclusiveAsync(SyncPlan plan, string cause, IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        await Structure.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await Executor.ExecuteAsync(plan, cause, progress, ct).ConfigureAwait(false);
        }
        finally
        {
            Structure.Release();
        }
    }

    public void Wake(bool urgent)
    {
        Signal.Release();
        if (urgent) UrgentSignal.Release();
    }
}

/// <summary>
/// Removals applied on one target within the guard's window. Watch mode applies changes a batch at a time;
/// without this, removals arriving in many small batches would each pass a limit meant for all of them.
/// </summary>
internal sealed class RemovalWindow
{
    private readonly Queue<(DateTimeOffset At, int Deletes, int Deactivations, int GroupDeletes)> _applied = new();
    private readonly Lock _gate = new();

    public void Record(DateTimeOffset at, IEnumerable<PlannedOperation> applied)
    {
        var ops = applied.ToArray();
        var deletes = ops.Count(o => o is DeleteAccount);
        var deactivations = ops.Count(o => o is DeactivateAccount or UpdateAccount { Deactivates: true });
        var groupDeletes = ops.Count(o => o is RetireGroup { Delete: true });
        if (deletes + deactivations + groupDeletes == 0) return;
        lock (_gate) _applied.Enqueue((at, deletes, deactivations, groupDeletes));
    }

    public (int Deletes, int Deactivations, int GroupDeletes) Since(DateTimeOffset from)
    {
        lock (_gate)
        {
            while (_applied.Count > 0 && _applied.Peek().At < from) _applied.Dequeue();
            return (_applied.Sum(a => a.Deletes), _applied.Sum(a => a.Deactivations), _applied.Sum(a => a.GroupDeletes));
        }
    }
}
