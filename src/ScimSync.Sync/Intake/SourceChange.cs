using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>One change learnt from the source's feed: which resource, and whether it belongs in the urgent lane.</summary>
/// <param name="Patch">For prov:patch:full, the PatchOp applied at the source (applied to the engine's copy instead of reading the resource).</param>
public sealed record SourceChange(string Jti, string ResourceType, string Id, bool Deleted, bool Urgent, JsonObject? Patch, JsonObject? Data, string? Txn)
{
    /// <summary>The resource's version after this change (RFC 9967 <c>version</c>), when the event carries one.</summary>
    public long? Version { get; init; }

    /// <summary>The source's journal position of this change, when its SET says (ScimSync sources do; docs/journal.md).</summary>
    public long? JournalPosition { get; init; }

    /// <summary>When the change was committed at the source (the SET's <c>toe</c>), when its SET says.</summary>
    public DateTimeOffset? EventTime { get; init; }

    /// <summary>The name of the credential that made the change at the source, when its SET says (docs/journal.md).</summary>
    public string? Writer { get; init; }

    /// <summary>
    /// Whether <paramref name="current"/> (the engine's copy) already reflects this change: a replayed event
    /// older than the snapshot must not be applied on top of it.
    /// </summary>
    public bool AlreadyIn(JsonObject? current) =>
        AlreadyIn(current?["meta"]?["version"] is JsonValue cv && cv.TryGetValue<string>(out var tag) ? ResourceVersion.Parse(tag) : null);

    public bool AlreadyIn(long? currentVersion) => Version is { } v && currentVersion is { } have && have >= v;

    /// <summary>A validated SET as the engine's change, whichever way it came; only Users and Groups are the engine's business.</summary>
    public static SourceChange From(ReceivedSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var type = set.ResourceType is "User" or "Group" ? set.ResourceType
            : throw new SetValidationException("invalid_request", $"SET {set.Jti} is about {set.Endpoint}, neither Users nor Groups");
        return new SourceChange(set.Jti, type, set.ResourceId, set.Removed, set.Urgent, set.PatchOp, set.Data, set.Txn)
        {
            Version = ResourceVersion.Parse(set.Version), JournalPosition = set.JournalPosition, EventTime = set.EventTime, Writer = set.Writer,
        };
    }
}
