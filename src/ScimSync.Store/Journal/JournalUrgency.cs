using System.Text.Json.Nodes;
using ScimSync.Events;

namespace ScimSync.Store.Journal;

/// <summary>
/// The urgent lane (<see cref="EventUrgency"/>) asked of a journal entry: the writer records the answer on each
/// entry (so fan-out can find urgent entries ahead of its position through an index) and the event builder
/// marks each SET with it.
/// </summary>
public static class JournalUrgency
{
    public static bool IsUrgent(JournalAppend change) => IsUrgent(change, null);

    /// <param name="data">
    /// <paramref name="change"/>'s Data already parsed, to spare a second parse; null to parse it here when
    /// the answer depends on it (only an activity change does).
    /// </param>
    public static bool IsUrgent(JournalAppend change, JsonObject? data)
    {
        ArgumentNullException.ThrowIfNull(change);
        return EventUrgency.IsUrgent(change.ResourceType, change.Operation == JournalOperation.Delete,
            IsActivityChange(change) && !IsActive(data ?? Parse(change.Data)), change.Attributes);
    }

    /// <summary>A PUT or PATCH that changed "active": RFC 9967 §2.4 reports it as activate or deactivate.</summary>
    public static bool IsActivityChange(JournalAppend change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return change.Operation is JournalOperation.Put or JournalOperation.Patch && Changed(change, "active");
    }

    /// <summary>An absent "active" counts as inactive: the resource can no longer claim to be usable.</summary>
    public static bool IsActive(JsonObject? data) =>
        data?["active"] is JsonValue v && v.TryGetValue<bool>(out var active) && active;

    public static bool IsGroup(JournalAppend change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return EventUrgency.IsGroup(change.ResourceType);
    }

    private static bool Changed(JournalAppend change, string attribute) =>
        change.Attributes.Contains(attribute, StringComparer.OrdinalIgnoreCase);

    private static JsonObject? Parse(string? data) => data is null ? null : JsonNode.Parse(data) as JsonObject;
}
