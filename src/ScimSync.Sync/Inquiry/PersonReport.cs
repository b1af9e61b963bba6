using System.Text.Json.Nodes;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Inquiry;

/// <summary>One person across every target: what `scimsync sync user` prints, from the engine's state and one source read.</summary>
/// <param name="Key">What the person was looked up by (userName, id or externalId).</param>
/// <param name="Source">The person at the source now; null when the source no longer has them (deleted there).</param>
public sealed record PersonReport(string Key, PersonAtSource? Source, IReadOnlyList<PersonOnTarget> Targets);

/// <param name="ActiveOnTargets">What the engine wants on targets: active at the source and before any end date.</param>
public sealed record PersonAtSource(string Id, string UserName, string? ExternalId, string Kind, DateTimeOffset? EndDate, bool ActiveAtSource,
    bool ActiveOnTargets, IReadOnlyList<string> Groups);

/// <summary>The person on one target.</summary>
/// <param name="Situation">
/// <c>linked</c>; <c>deleted</c> (linked, and gone from the target: deleted there out of band); <c>unlinked</c> (an account
/// there matches and is not linked yet); <c>disputed</c>; <c>missing</c> (in scope, no account: a run creates it);
/// <c>none</c> (out of scope, no account).
/// </param>
/// <param name="Explanation">The situation in a sentence.</param>
/// <param name="TargetId">The linked (or matching) account on the target.</param>
public sealed record PersonOnTarget(string Target, ScopeDecision Scope, string Situation, string Explanation, string? TargetId)
{
    /// <summary>Whether the account is active on the target, as the shadow last saw it.</summary>
    public bool? Active { get; init; }

    /// <summary>When the engine last saw the account (a full read, or its own write).</summary>
    public DateTimeOffset? Seen { get; init; }

    /// <summary>The shadow against what the mapping wants now, per managed attribute; secret values redacted.</summary>
    public IReadOnlyList<AttributeState> Attributes { get; init; } = [];

    public IReadOnlyList<GroupState> Groups { get; init; } = [];

    /// <summary>The person's entry in the target's queue, when a change waits to be applied.</summary>
    public QueuedKey? Queued { get; init; }

    /// <summary>A removal the mass-change guard holds for this person until someone confirms.</summary>
    public HeldOperation? Held { get; init; }

    /// <summary>What a run would do for this person now, planned from the shadow (no call to the target).</summary>
    public IReadOnlyList<string> Planned { get; init; } = [];

    public IReadOnlyList<string> Findings { get; init; } = [];

    /// <summary>The operations on this person's account, newest first.</summary>
    public IReadOnlyList<AuditRecord> History { get; init; } = [];
}

/// <param name="OnTarget">As the shadow last saw it on the target.</param>
/// <param name="Wanted">What the mapping makes of the source's account now.</param>
/// <param name="LastWritten">As the engine last wrote or accepted it: when it differs from <paramref name="OnTarget"/>, someone changed it at the target.</param>
/// <param name="Differs">The target does not hold what the mapping wants (a run would update it, unless drift is reported only).</param>
/// <param name="ChangedAtTarget">Changed at the target since the engine last wrote it (out of band).</param>
public sealed record AttributeState(string Path, JsonNode? OnTarget, JsonNode? Wanted, JsonNode? LastWritten, bool Differs, bool ChangedAtTarget)
{
    /// <summary>A person accepted the target's value (<see cref="Planning.AcceptedDrift"/>) and it still holds: a run leaves it.</summary>
    public bool Accepted { get; init; }
}

/// <param name="OnTarget">The account is a member of the group on the target (shadow).</param>
/// <param name="Wanted">The person is a member at the source, the target receives the group, and the person is in scope.</param>
public sealed record GroupState(string Name, string? TargetGroupId, bool OnTarget, bool Wanted);
