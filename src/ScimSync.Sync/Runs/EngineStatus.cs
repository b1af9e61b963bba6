using ScimSync.Sync.Configuration;
using ScimSync.Sync.Intake;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// Where the engine stands, from its own state (no call to any target): what `sync status` prints, what the
/// watch listener's readiness answers, and the gauges of the metrics.
/// </summary>
internal sealed class EngineStatus(SyncConfig config, ISyncState shadows, TargetLanes lanes, SourceHealth source, TimeProvider time)
{
    public IReadOnlyList<TargetStatus> Targets(int audit)
    {
        var now = time.GetUtcNow();
        return lanes.Slots.Select(t =>
        {
            var name = t.Config.Name;
            var (accounts, links, groups, pending) = shadows.Counts(name);
            var (downSince, downReason) = Down(t);
            var status = new TargetStatus(name, accounts, links, groups, pending, shadows.Audit(audit, name), shadows.LastRead(name), shadows.Holds(name))
            {
                UnreachableSince = downSince,
                UnreachableReason = downReason,
                OldestQueued = shadows.Summary(name).OldestQueued,
                LastCompleteRun = LastCompleteRun(name),
            };
            return status with { Attention = TargetAttention.Assess(status, config.Health, now) };
        }).ToArray();
    }

    public EngineReadiness Readiness()
    {
        var reasons = Targets(audit: 0).SelectMany(s => s.Attention.Select(a => $"{s.Target}: {a}")).ToList();
        if (source.Failing is var (since, reason) && time.GetUtcNow() - since >= config.Health.UnreachableFor)
            reasons.Add($"source: failing since {since:u} ({reason})");
        return new EngineReadiness(reasons.Count == 0, reasons);
    }

    public RefusedEvents? Refused => RefusedEvents.Read(shadows.GetCheckpoint(EngineCheckpoints.RefusedEvents));

    /// <summary>For the metrics: each target's queue, guard and health, from cheap queries.</summary>
    public IReadOnlyList<TargetGauges> Gauges() => lanes.Slots.Select(t =>
    {
        var summary = shadows.Summary(t.Config.Name);
        return new TargetGauges(t.Config.Name, summary.Queued, summary.OldestQueued, summary.Held, Down(t).Since is null, LastCompleteRun(t.Config.Name));
    }).ToArray();

    /// <summary>Since when a target has not answered: this process's own finding, else what the state says an earlier one found.</summary>
    private (DateTimeOffset? Since, string? Reason) Down(TargetSlot t)
    {
        if (t.Health.IsDown) return (t.Health.DownSince, t.Health.LastError);
        var saved = shadows.GetCheckpoint(EngineCheckpoints.Down(t.Config.Name));
        if (saved is null) return (null, null);
        var space = saved.IndexOf(' ', StringComparison.Ordinal);
        return EngineCheckpoints.Time(space < 0 ? saved : saved[..space]) is { } at ? (at, space < 0 ? null : saved[(space + 1)..]) : (null, null);
    }

    private DateTimeOffset? LastCompleteRun(string target) => EngineCheckpoints.Time(shadows.GetCheckpoint(EngineCheckpoints.CompleteRun(target)));
}
