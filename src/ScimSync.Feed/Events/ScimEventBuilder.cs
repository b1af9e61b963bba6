using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Protocol.Messages;
using ScimSync.Store.Journal;
using ScimSync.Store.Resources;

namespace ScimSync.Feed.Events;

/// <summary>
/// Turns one journal entry into the content of one SET for one subscription (RFC 9967 §2.1–§2.4).
/// Pure: the same entry, mode and transition always give the same event.
/// </summary>
public static class ScimEventBuilder
{
    /// <summary>Builds the sub_id, events claim and txn of the SET describing <paramref name="entry"/>.</summary>
    /// <param name="endpoint">The resource type's endpoint, e.g. "/Users" or "/Groups".</param>
    public static ScimEvent Build(JournalEntry entry, PayloadMode mode, FeedTransition transition, string endpoint)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var change = entry.Change;
        var data = change.Data is null ? null : JsonNode.Parse(change.Data) as JsonObject
            ?? throw new ArgumentException($"Journal entry {entry.Position} has data that is not a JSON object", nameof(entry));
        var version = StoredResource.FormatETag(change.Version);

        var events = new JsonObject();
        // RFC 9967 §2.4: a deleted resource gets prov:delete and no feed:remove, whatever the filter says;
        // a resource that enters the feed only to be deleted has nothing else worth telling.
        if (change.Operation == JournalOperation.Delete)
            events[EventUris.Delete] = new JsonObject();
        else if (transition == FeedTransition.Left)
            // The consumer must forget the resource; the change itself is none of its business any more.
            events[EventUris.FeedRemove] = new JsonObject();
        else if (transition == FeedTransition.Entered)
        {
            // The consumer has never seen this resource, so it gets the whole state, not the delta. A create
            // that matches the filter keeps its create event: it is the truer description of the same change.
            events[EventUris.FeedAdd] = new JsonObject();
            if (change.Operation == JournalOperation.Create)
                AddCreate(events, change, data, mode, version);
            else
            {
                // A group PATCH journals the document without its member list (docs/journal.md), and a PUT event
                // without members would empty the consumer's copy: it gets a notice naming every attribute instead.
                var partial = change.Operation == JournalOperation.Patch && IsGroup(change);
                var attributes = data is null ? change.Attributes : ChangedPaths.Of(data).Concat(partial ? ["members"] : []).Distinct();
                AddPut(events, change, partial ? null : data, mode, version, attributes);
            }
        }
        else
        {
            switch (change.Operation)
            {
                case JournalOperation.Create:
                    AddCreate(events, change, data, mode, version);
                    break;
                case JournalOperation.Put:
                    AddPut(events, change, data, mode, version, change.Attributes);
                    break;
                case JournalOperation.Patch:
                    AddPatch(events, change, data, mode, version);
                    break;
            }
            AddActivation(events, change, data);
        }
        return new ScimEvent(change.Txn, SubId(change, data, endpoint), events, JournalUrgency.IsUrgent(change, data));
    }

    /// <summary>
    /// The event that replaces queued ones of the same resource when coalescing: the whole state
    /// <paramref name="entry"/> recorded, as prov:create:full when the first replaced event was a creation
    /// (the subscriber has never seen the resource), otherwise prov:put:full. Only for routine changes
    /// (never urgent, no feed transition, no activation) of resources whose journal data is the whole
    /// resource, which the caller checks.
    /// </summary>
    public static ScimEvent BuildCoalesced(JournalEntry entry, bool asCreate, string endpoint)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var change = entry.Change;
        var data = change.Data is null ? null : JsonNode.Parse(change.Data) as JsonObject;
        if (data is null || change.Operation == JournalOperation.Delete)
            throw new ArgumentException($"Journal entry {entry.Position} has no state to coalesce to", nameof(entry));
        var version = StoredResource.FormatETag(change.Version);
        var representation = Full(Representation(change, data, version), version);
        var events = new JsonObject { [asCreate ? EventUris.CreateFull : EventUris.PutFull] = representation };
        return new ScimEvent(change.Txn, SubId(change, data, endpoint), events, false);
    }

    /// <summary>
    /// The urgent lane: delete, deactivation (active became false), password change ("password" among the
    /// changed attributes), group membership change (a Group whose "members" changed). Defined once, in
    /// <see cref="EventUrgency"/>, which the journal writer (for fan-out's look-ahead) and the sync engine ask too.
    /// </summary>
    public static bool IsUrgent(JournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return JournalUrgency.IsUrgent(entry.Change);
    }

    private static JsonObject SubId(JournalAppend change, JsonObject? data, string endpoint)
    {
        // RFC 9967 §2.1: uri is relative to the SCIM root and MUST be present; id and externalId help receivers
        // that index by either. The id is escaped because it is a URI path segment.
        var subId = new JsonObject
        {
            ["format"] = "scim",
            ["uri"] = "/" + endpoint.Trim('/') + "/" + Uri.EscapeDataString(change.ResourceId),
            ["id"] = change.ResourceId,
        };
        if (data?["externalId"] is JsonValue externalId && externalId.TryGetValue<string>(out var value))
            subId["externalId"] = value;
        return subId;
    }

    private static void AddCreate(JsonObject events, JournalAppend change, JsonObject? data, PayloadMode mode, string version)
    {
        if (mode == PayloadMode.Full && data is not null)
            events[EventUris.CreateFull] = Full(Representation(change, data, version), version);
        else
            events[EventUris.CreateNotice] = Notice(change.Attributes, version);
    }

    /// <summary>
    /// A PUT, or an entry into the feed: the whole resource when there is one and the mode is full, otherwise a
    /// notice of <paramref name="attributes"/> (without stored data, e.g. a membership cascade entry, the changed
    /// attributes are all there is to say).
    /// </summary>
    private static void AddPut(JsonObject events, JournalAppend change, JsonObject? whole, PayloadMode mode, string version,
        IEnumerable<string> attributes)
    {
        if (mode == PayloadMode.Full && whole is not null)
            events[EventUris.PutFull] = Full(Representation(change, whole, version), version);
        else
            events[EventUris.PutNotice] = Notice(attributes, version);
    }

    private static void AddPatch(JsonObject events, JournalAppend change, JsonObject? data, PayloadMode mode, string version)
    {
        var patchOp = mode == PayloadMode.Full ? PatchData(change.Request, data) : null;
        // A password-only PATCH has no operation left once the password is redacted, and an entry without
        // request or data has nothing to carry: both fall back to a notice rather than an empty PatchOp.
        if (patchOp is not null)
            events[EventUris.PatchFull] = Full(patchOp, version);
        else
            events[EventUris.PatchNotice] = Notice(change.Attributes, version);
    }

    /// <summary>RFC 9967 §2.4: activation is reported alongside the update that flipped "active".</summary>
    private static void AddActivation(JsonObject events, JournalAppend change, JsonObject? data)
    {
        if (!IsActivityChange(change)) return;
        events[IsActive(data) ? EventUris.Activate : EventUris.Deactivate] = new JsonObject();
    }

    private static bool IsActivityChange(JournalAppend change) => JournalUrgency.IsActivityChange(change);

    private static bool IsActive(JsonObject? data) => JournalUrgency.IsActive(data);

    private static bool IsGroup(JournalAppend change) => JournalUrgency.IsGroup(change);

    // Exactly one of data / attributes per event (RFC 9967 §2.2): these two are the only payload builders.
    private static JsonObject Full(JsonNode data, string version) => new() { ["data"] = data, ["version"] = version };

    private static JsonObject Notice(IEnumerable<string> attributes, string version) => new()
    {
        ["attributes"] = new JsonArray(attributes.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
        ["version"] = version,
    };

    /// <summary>The resource as a GET would show it: stored data plus id and meta, never the password.</summary>
    private static JsonObject Representation(JournalAppend change, JsonObject data, string version)
    {
        var result = new JsonObject();
        if (data["schemas"] is { } schemas) result["schemas"] = schemas.DeepClone();
        result["id"] = change.ResourceId;
        foreach (var (name, value) in data)
            if (name is not ("schemas" or "id" or "meta") && !IsPassword(name))
                result[name] = value?.DeepClone();
        result["meta"] = new JsonObject { ["resourceType"] = change.ResourceType, ["version"] = version };
        return result;
    }

    /// <summary>
    /// The PatchOp for prov:patch:full: the journaled request, or when none was journaled a path-less replace
    /// with the stored data. Passwords are removed (RFC 7643 §4.1.1: returned "never"), so a request that only
    /// set a password yields null.
    /// </summary>
    private static JsonObject? PatchData(string? request, JsonObject? data)
    {
        JsonArray operations;
        if (request is not null)
            operations = JsonNode.Parse(request)?["Operations"] as JsonArray
                ?? throw new ArgumentException("The journaled PATCH request has no Operations array");
        else if (data is not null)
        {
            var value = new JsonObject();
            foreach (var (name, node) in data)
                if (name is not ("schemas" or "id" or "meta")) value[name] = node?.DeepClone();
            operations = [new JsonObject { ["op"] = "replace", ["value"] = value }];
        }
        else
            return null;

        var kept = new JsonArray();
        foreach (var op in operations.Select(o => o?.DeepClone()).OfType<JsonObject>())
            if (WithoutPassword(op) is { } safe) kept.Add(safe);
        if (kept.Count == 0) return null;
        return new JsonObject { ["schemas"] = new JsonArray(ScimSchemaUris.PatchOp), ["Operations"] = kept };
    }

    private static JsonObject? WithoutPassword(JsonObject op)
    {
        if (op["path"] is JsonValue path && path.TryGetValue<string>(out var p))
            return IsPassword(p) ? null : op;
        if (op["value"] is not JsonObject value) return op;
        RemovePasswords(value);
        // A path-less value may nest core attributes under the schema URN ({"urn:…:core:2.0:User":{"password":…}}).
        foreach (var (urn, node) in value.Where(kv => kv.Key.StartsWith("urn:", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            if (node is not JsonObject container || !RemovePasswords(container)) continue;
            if (container.Count == 0) value.Remove(urn);
        }
        return value.Count == 0 ? null : op;
    }

    /// <summary>Removes password members; true when there was one.</summary>
    private static bool RemovePasswords(JsonObject value)
    {
        var names = value.Select(kv => kv.Key).Where(IsPassword).ToList();
        foreach (var name in names) value.Remove(name);
        return names.Count > 0;
    }

    private static bool IsPassword(string path) => ChangedPaths.IsPassword(path);
}
