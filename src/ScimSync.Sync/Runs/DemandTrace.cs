using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Runs;

/// <summary>The kinds of step provisioning on demand reports, in the order they happen on each target.</summary>
public enum DemandStepKind
{
    /// <summary>The person read from the source (once, for every target).</summary>
    Source,

    /// <summary>In or out of the target's scope, and the setting that decided (<see cref="Scoping.ScopeDecision"/>).</summary>
    Scope,

    /// <summary>Which account on the target is this person's: the situation (midPoint's vocabulary) and the account.</summary>
    Correlation,

    /// <summary>One operation planned, or a finding the engine will not act on.</summary>
    Plan,

    /// <summary>The mass-change guard held a removal (it waits for <c>sync confirm</c>).</summary>
    Guard,

    /// <summary>One HTTP call to the source or the target, and its answer.</summary>
    Call,

    /// <summary>One operation applied, and how it went.</summary>
    Operation,

    /// <summary>What became of the person on the target.</summary>
    Result,
}

/// <summary>
/// One step of provisioning a person on demand, as Entra ID's "provision on demand" shows them: data, so that
/// the terminal and <c>--json</c> show the same thing. Only the fields of the step's kind are set.
/// </summary>
/// <param name="Target">The target, or null for the source step.</param>
/// <param name="Outcome">A short word per kind: <c>in</c>/<c>out</c>, a situation, <c>planned</c>, <c>held</c>, <c>ok</c>/<c>failed</c>, ...</param>
/// <param name="Detail">The sentence a person reads.</param>
public sealed record DemandStep(DemandStepKind Step, string? Target, string Outcome, string Detail)
{
    /// <summary>Scope: the setting that decided (<c>scope.kinds</c>, <c>scope.also</c>, ...).</summary>
    public string? Rule { get; init; }

    /// <summary>Correlation: the person's account on the target (linked or matched), when there is one.</summary>
    public string? TargetId { get; init; }

    /// <summary>Plan and Operation: the operation, with its document or PATCH operations.</summary>
    public PlannedOperation? Operation { get; init; }

    /// <summary>Call: the request and the answer.</summary>
    public RecordedCall? Call { get; init; }
}

/// <summary>How provisioning on demand went on one target (what the exit code is made of).</summary>
/// <param name="Held">The guard held a removal for this person here.</param>
/// <param name="Failed">A lookup or an operation failed here (then <paramref name="Error"/> or the steps say what).</param>
public sealed record DemandTarget(string Target, int Applied, int Failed, bool Held, string? Error = null);

/// <summary>Provisioning on demand of one person: every step on every target, and each target's outcome.</summary>
/// <param name="Person">As the operator named them (userName, id or externalId).</param>
/// <param name="SourceId">The person's id at the source.</param>
/// <param name="UserName">Null when the person is no longer at the source (their accounts are taken away).</param>
public sealed record DemandReport(string Person, string SourceId, string? UserName, string Cause, IReadOnlyList<DemandStep> Steps, IReadOnlyList<DemandTarget> Targets)
{
    public RunOutcome Outcome => RunOutcomes.Of(Targets.Any(t => t.Held), Targets.Any(t => t.Failed > 0 || t.Error is not null), Targets.Sum(t => t.Applied));
}

/// <summary>The person named cannot be provisioned: nobody has that name, or several people do.</summary>
/// <param name="Ambiguous">Several people match (the operator must name one by id), rather than nobody.</param>
public sealed class PersonNotFoundException(string message, bool ambiguous) : Exception(message)
{
    public bool Ambiguous { get; } = ambiguous;
}

/// <summary>
/// A decision about a target this engine does not hold: on a shared state, another engine or a command holds its lease
/// (<c>sync status</c> says which), and only the holder writes to it.
/// </summary>
public sealed class TargetNotHeldException(string target)
    : InvalidOperationException($"{target} is held by another engine or command on the shared state (sync status names it), and only the holder writes to it: decide in that engine's console, or with the command and --state, which asks the holder to hand {target} over")
{
    public string Target { get; } = target;
}
