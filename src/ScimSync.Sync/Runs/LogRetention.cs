using Microsoft.Extensions.Logging;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// Keeps the provisioning log to its configured age (<see cref="Configuration.LogConfig"/>): after every full run,
/// and hourly while watching, the entries older than that are removed in bounded steps, each its own short unit
/// of work, so that the operations being recorded meanwhile wait for one step at most. A pass stops after
/// <see cref="MaxSteps"/> steps; what is left (the first pass over a long-kept log) goes at the next pass.
/// </summary>
internal sealed class LogRetention(IProvisioningLog log, TimeSpan keep, TimeProvider time, ILogger logger)
{
    /// <summary>How often a watching engine prunes: entries outlive their retention by at most this.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <summary>Entries removed per unit of work.</summary>
    public int StepSize { get; init; } = 1000;

    /// <summary>Steps per pass (with the default step size, 100,000 entries).</summary>
    public int MaxSteps { get; init; } = 100;

    /// <summary>One pass: returns how many entries it removed.</summary>
    public int Prune()
    {
        var cutoff = time.GetUtcNow() - keep;
        var removed = 0;
        for (var step = 0; step < MaxSteps; step++)
        {
            var n = log.PruneLog(cutoff, StepSize);
            removed += n;
            if (n < StepSize) break;
        }
        if (removed > 0) SyncLog.LogPruned(logger, removed, cutoff, keep.TotalDays);
        return removed;
    }

    /// <summary>A pass whose failure is logged, not thrown: the log keeps a little longer, and the engine's work goes on.</summary>
    public void PruneOrWarn()
    {
        try
        {
            Prune();
        }
        catch (SyncStateUnavailableException e)
        {
            SyncLog.LogPruneFailed(logger, e.Message);
        }
    }

    /// <summary>Watch mode: a pass now, then one every <see cref="Interval"/> until <paramref name="ct"/> ends.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            PruneOrWarn();
            await Task.Delay(Interval, time, ct).ConfigureAwait(false);
        }
    }
}
