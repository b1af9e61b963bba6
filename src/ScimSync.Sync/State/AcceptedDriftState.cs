using ScimSync.Sync.Planning;

namespace ScimSync.Sync.State;

/// <summary>Where the out-of-band edits a person accepted are kept: one checkpoint per target (<see cref="AcceptedDrift"/>).</summary>
public static class AcceptedDriftState
{
    public static AcceptedDrift LoadAcceptedDrift(this ICheckpoints state, string target) =>
        Planning.AcceptedDrift.Parse(state.GetCheckpoint(Planning.AcceptedDrift.CheckpointKey(target)));

    /// <summary>The state to plan from, with the target's accepted edits: every plan of a target reads them the same way.</summary>
    public static TargetState WithAcceptedDrift(this TargetState plan, ICheckpoints state, string target) =>
        plan with { Accepted = state.LoadAcceptedDrift(target) };
}
