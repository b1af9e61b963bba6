using System.Text.Json.Nodes;

namespace ScimSync.Sync.State;

/// <summary>
/// One audited operation: what was done, why (an event's txn or a run id), where, and how it went; the entry of
/// the provisioning log, which adds what changed and what to do about a failure.
/// </summary>
public sealed record AuditRecord(DateTimeOffset Time, string Cause, string Target, string Verb, string Subject, string? TargetId,
    string? SourceId, string Result, int? Status, double DurationMs, string? Detail)
{
    /// <summary>The account's userName (null for groups): how people look a person up.</summary>
    public string? UserName { get; init; }

    /// <summary>The attributes the operation changed, old → new, secrets redacted (<see cref="Execution.AttributeChanges"/>).</summary>
    public IReadOnlyList<AttributeChange> Changes { get; init; } = [];

    /// <summary>For a change learnt from the source's feed: its journal position at the source, when it was made, and by whom.</summary>
    public long? JournalPosition { get; init; }

    public DateTimeOffset? EventTime { get; init; }

    public string? Writer { get; init; }

    /// <summary>The target's scimType when it refused the operation (<see cref="Detail"/> holds its detail).</summary>
    public string? ScimType { get; init; }

    /// <summary>What to do about a known failure (<see cref="Execution.FailureAdvice"/>).</summary>
    public string? Action { get; init; }
}

/// <summary>One attribute an operation changed: its value before (as the shadow held it) and the value sent; null is "none".</summary>
public sealed record AttributeChange(string Path, JsonNode? Old, JsonNode? New);

/// <summary>
/// What to find in the provisioning log. Every filter is optional; the newest entries come first.
/// </summary>
/// <param name="People">
/// Source account ids or userNames (case-insensitive), any of which identifies the person: entries recorded under an
/// earlier userName are found through the source id those entries share.
/// </param>
/// <param name="Result"><c>ok</c> or <c>failed</c>.</param>
/// <param name="Since">Inclusive.</param>
/// <param name="Until">Exclusive.</param>
public sealed record AuditQuery(IReadOnlyList<string>? People = null, string? Target = null, string? Result = null,
    DateTimeOffset? Since = null, DateTimeOffset? Until = null, int Limit = 100);
