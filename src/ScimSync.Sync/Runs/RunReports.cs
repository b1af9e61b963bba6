using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>The outcome of planning or running one target.</summary>
/// <param name="Incomplete">Why the read of the target could not be trusted to hold everything (then nothing was taken away or repaired on it), or null.</param>
/// <param name="Stopped">The engine was asked to stop while this target was read: nothing was planned or applied on it.</param>
public sealed record TargetRun(string Target, SyncPlan? Plan, ExecutionReport? Execution, string? Error, bool HeldByGuard, string? Incomplete = null, bool Stopped = false)
{
    /// <summary>Something on this target did not work: it could not be read or run, its read did not add up, or an operation failed.</summary>
    public bool Failed => Error is not null || Incomplete is not null || (Execution?.Failed ?? 0) > 0;
}

public sealed record RunReport(DateTimeOffset Started, TimeSpan Elapsed, int SourceUsers, int SourceGroups, long? SourcePosition, IReadOnlyList<TargetRun> Targets)
{
    public bool Succeeded => Targets.All(t => !t.Failed && !t.HeldByGuard);

    /// <summary>What the source holds that a person should look at, such as a cycle of nested groups; it fails nothing.</summary>
    public IReadOnlyList<string> SourceWarnings { get; init; } = [];

    /// <summary>Operations applied (on a target, or a link in the engine's state), all targets together.</summary>
    public int Applied => Targets.Sum(t => t.Execution?.Succeeded ?? 0);

    /// <summary>The engine was asked to stop during the run: some work was not started (and waits for the next run).</summary>
    public bool Stopped => Targets.Any(t => t.Stopped || (t.Execution?.Stopped ?? 0) > 0);

    public RunOutcome Outcome => RunOutcomes.Of(Targets.Any(t => t.HeldByGuard), Targets.Any(t => t.Failed), Applied);
}

/// <summary>Where the engine stands, from its own state only (no call to any target).</summary>
/// <param name="LastRead">How the last full read of the target went (when it was last complete, and why not since).</param>
/// <param name="Held">Removals the mass-change guard holds until a person confirms them.</param>
public sealed record TargetStatus(string Target, int Accounts, int Links, int Groups, int Pending, IReadOnlyList<AuditRecord> RecentAudit,
    TargetReadRecord? LastRead, IReadOnlyList<HeldOperation> Held)
{
    /// <summary>Since when the target has not answered, as the engine last found out (kept in the state, so another process sees it too).</summary>
    public DateTimeOffset? UnreachableSince { get; init; }

    public string? UnreachableReason { get; init; }

    /// <summary>When the longest-waiting queued change was first queued.</summary>
    public DateTimeOffset? OldestQueued { get; init; }

    /// <summary>When the last full run that brought this target fully up to date started.</summary>
    public DateTimeOffset? LastCompleteRun { get; init; }

    /// <summary>When several engines share the state: the engine that holds the target's lease, and until when unless renewed.</summary>
    public string? Owner { get; init; }

    public DateTimeOffset? LeaseExpires { get; init; }

    /// <summary>Why a person should look at this target now (<see cref="TargetAttention"/>); empty when nothing needs attention.</summary>
    public IReadOnlyList<string> Attention { get; init; } = [];

    /// <summary>The verdict `sync status` exits non-zero on, and the watch listener's readiness fails on.</summary>
    public bool NeedsAttention => Attention.Count > 0;
}

/// <summary>Whether a watching engine is ready: every target answers and nothing waits too long (<see cref="TargetAttention"/>).</summary>
public sealed record EngineReadiness(bool Ready, IReadOnlyList<string> Reasons);
