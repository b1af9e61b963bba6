using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// What <c>sync confirm TARGET</c> will do, before it does it: each removal the guard holds on the target,
/// planned again from the source as it is now and the target's shadow (the removal the source asks for now is
/// the one applied), and the held removals the source no longer asks for (released without a change).
/// </summary>
/// <param name="Held">Everything held on the target when the command started.</param>
/// <param name="Release">The removals that will be applied: exactly the held ones the source still asks for.</param>
/// <param name="NoLongerAsked">Held removals the source no longer wants (the person came back, moved into scope): released, nothing applied.</param>
public sealed record HoldRelease(string Target, IReadOnlyList<HeldOperation> Held, IReadOnlyList<PlannedOperation> Release, IReadOnlyList<HeldOperation> NoLongerAsked)
{
    public bool NothingHeld => Held.Count == 0;

    /// <summary>The plan executed: <see cref="Release"/> alone.</summary>
    internal SyncPlan? Plan { get; init; }
}

/// <param name="Result">ok, failed, or not started (stopped on request, or the target stopped answering).</param>
/// <param name="Detail">Why it failed or was not started.</param>
public sealed record ReleasedOperation(PlannedOperation Operation, string Result, string? Detail);

/// <summary>What <c>sync confirm</c> did: each released removal and how it went, and what stays held (those that failed, to be confirmed again).</summary>
public sealed record ConfirmReport(HoldRelease Release, IReadOnlyList<ReleasedOperation> Applied, IReadOnlyList<HeldOperation> StillHeld, ExecutionReport? Execution)
{
    public RunOutcome Outcome => RunOutcomes.Of(false, Applied.Any(a => a.Result != "ok"), Applied.Count(a => a.Result == "ok"));
}
