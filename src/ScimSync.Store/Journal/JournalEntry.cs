namespace ScimSync.Store.Journal;

public enum JournalOperation { Create, Put, Patch, Delete }

/// <summary>
/// One change, appended in the same transaction as the write it records, so that a write that returned
/// success is always in the journal and a write that failed never is.
/// </summary>
/// <param name="Txn">Correlates every entry of one request (RFC 9967 <c>txn</c>).</param>
/// <param name="Attributes">Canonical paths of the changed attributes (RFC 9967 <c>:notice</c> payload).</param>
/// <param name="Data">The resource's stored document after the change (null for a delete).</param>
/// <param name="Request">For PATCH, the operations applied (RFC 9967 <c>prov:patch:full</c> data).</param>
/// <param name="Actor">The id of the token that made the change.</param>
public sealed record JournalAppend(
    string Txn,
    string ResourceType,
    string ResourceId,
    JournalOperation Operation,
    long Version,
    IReadOnlyList<string> Attributes,
    string? Data,
    string? Request,
    string? Actor,
    DateTimeOffset Time)
{
    /// <summary>
    /// The name of the credential that made the change (the token's name, "admin" for the environment's admin
    /// token): who wrote it, as a person knows them. Null for entries journaled before it was recorded.
    /// </summary>
    public string? Writer { get; init; }
}

/// <summary>A journaled change and its position: positions are totally ordered and never reused.</summary>
public sealed record JournalEntry(long Position, JournalAppend Change);

/// <summary>Where a journal entry is and which resource it changed, without its content.</summary>
public sealed record JournalMarker(long Position, string ResourceType, string ResourceId);
