using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Events;

/// <summary>
/// A SET whose JWS <see cref="SetEncoder.Validate"/> accepted, read as a SCIM event (RFC 9967). <see cref="Read"/>
/// refuses, with <see cref="SetValidationException"/> "invalid_request", the claims a receiver cannot act on:
/// what RFC 8417 §2.2 requires (jti, iat, events), what RFC 9967 requires of a SCIM event (a sub_id of format
/// "scim" with a relative uri and no sub, §2.1; a txn, and exactly one of data and attributes, §2.2), and event
/// URIs this feed does not send (<see cref="EventUris.All"/>), whose meaning a receiver would only be guessing.
/// </summary>
public sealed class ReceivedSet
{
    // Maps the subject's endpoint back to its resource type the way the builder mapped it forward.
    private static readonly SchemaRegistry Registry = SchemaRegistry.CreateDefault();

    private ReceivedSet(JsonObject claims, string jti, string txn, string endpoint, string resourceId, JsonObject events)
    {
        Claims = claims;
        Jti = jti;
        Txn = txn;
        Endpoint = endpoint;
        ResourceId = resourceId;
        Events = events;
    }

    public JsonObject Claims { get; }

    public string Jti { get; }

    public string Txn { get; }

    /// <summary>The endpoint in sub_id's uri ("Users" for "/Users/2819c223").</summary>
    public string Endpoint { get; }

    /// <summary>The resource type served at <see cref="Endpoint"/> ("User"); null for an endpoint SCIM does not define.</summary>
    public string? ResourceType => Registry.FindByEndpoint(Endpoint)?.Name;

    /// <summary>sub_id's id, or else the last segment of its uri, unescaped.</summary>
    public string ResourceId { get; }

    /// <summary>Event URI → payload, every URI one of <see cref="EventUris.All"/>.</summary>
    public JsonObject Events { get; }

    public bool Has(string uri) => Events.ContainsKey(uri);

    /// <summary>Deleted, or gone from the receiver's feed: either way the receiver must forget it.</summary>
    public bool Removed => Has(EventUris.Delete) || Has(EventUris.FeedRemove);

    public bool Deactivated => Has(EventUris.Deactivate);

    /// <summary>The whole resource of a prov:create:full or prov:put:full event.</summary>
    public JsonObject? Data => Payload(EventUris.CreateFull) ?? Payload(EventUris.PutFull);

    /// <summary>The PatchOp message of a prov:patch:full event, as sent.</summary>
    public JsonObject? PatchOp => Payload(EventUris.PatchFull);

    /// <summary>
    /// <see cref="PatchOp"/> read by the protocol's one PatchOp parser; null without one, or when it is not a
    /// PatchOp the protocol accepts (the receiver then reads the resource rather than guess what changed).
    /// </summary>
    public PatchRequest? Patch { get; private init; }

    /// <summary>The version (ETag) the resource has after this change, when the event carries one (RFC 9967 §2.2).</summary>
    public string? Version => Events.Select(e => e.Value!["version"]?.GetValue<string>()).FirstOrDefault(v => v is not null);

    /// <summary>The source's journal position of the change (<see cref="SetEncoder.JournalPositionClaim"/>), when the SET says.</summary>
    public long? JournalPosition =>
        Claims[SetEncoder.JournalPositionClaim] is JsonValue p && p.TryGetValue<long>(out var position) ? position : null;

    /// <summary>When the change happened at the source (<c>toe</c>, RFC 8417 §2.2), when the SET says.</summary>
    public DateTimeOffset? EventTime =>
        Claims["toe"] is JsonValue t && t.TryGetValue<decimal>(out var seconds) ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000)) : null;

    /// <summary>The name of the credential that made the change (<see cref="SetEncoder.WriterClaim"/>), sent only to subscriptions polled with the admin scope that ask.</summary>
    public string? Writer => Claims[SetEncoder.WriterClaim] is JsonValue w && w.TryGetValue<string>(out var named) ? named : null;

    /// <summary><see cref="EventUrgency"/> asked of what the SET tells about the change.</summary>
    public bool Urgent => EventUrgency.IsUrgent(ResourceType ?? Endpoint, Removed, Deactivated, Changed());

    /// <summary>
    /// The changed attributes as far as the events say: a notice lists them, a PATCH names its targets, a
    /// creation has every attribute it carries; a PUT may have changed anything (null: unknown).
    /// </summary>
    private List<string>? Changed()
    {
        var changed = new List<string>();
        foreach (var (uri, payload) in Events)
        {
            if (EventUris.IsNotice(uri))
                changed.AddRange(payload!["attributes"]!.AsArray().Select(a => a!.GetValue<string>()));
            else if (uri == EventUris.CreateFull)
                changed.AddRange(ChangedPaths.Of(payload!["data"]!.AsObject()));
            else if (uri == EventUris.PatchFull && Patch is not null)
                changed.AddRange(ChangedPaths.Of(Patch));
            else if (EventUris.IsFull(uri))
                return null;
        }
        return changed;
    }

    private JsonObject? Payload(string uri) => Events[uri]?["data"] as JsonObject;

    /// <summary>Checks the claims of a SCIM event SET and reads them; throws <see cref="SetValidationException"/>.</summary>
    public static ReceivedSet Read(JsonObject claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var jti = Text(claims, "jti") ?? throw Invalid("The SET has no jti");
        if (jti.Length == 0) throw Invalid("The SET's jti is empty");
        // NumericDate (RFC 7519 §2) is a JSON number, seconds that may have a fraction.
        if (claims["iat"] is not JsonValue iat || !iat.TryGetValue<double>(out _)) throw Invalid("The SET has no iat, or it is not a NumericDate");
        if (claims["toe"] is { } toe && (toe is not JsonValue t || !t.TryGetValue<double>(out _))) throw Invalid("The SET's toe is not a NumericDate");
        if (claims["events"] is not JsonObject { Count: > 0 } events) throw Invalid("The SET has no events object");
        var txn = Text(claims, "txn") ?? throw Invalid("The SET has no txn (RFC 9967 §2.2)");
        if (claims.ContainsKey("sub")) throw Invalid("A SCIM event names its subject in sub_id, never sub (RFC 9967 §2.1)");
        var (endpoint, id) = Subject(claims["sub_id"]);
        foreach (var (uri, payload) in events) CheckEvent(uri, payload);
        return new ReceivedSet(claims, jti, txn, endpoint, id, events) { Patch = ReadPatch(events[EventUris.PatchFull]?["data"]) };
    }

    /// <summary>RFC 9967 §2.1: <c>{"format":"scim","uri":"/Users/…"}</c>, the uri relative to the SCIM root.</summary>
    private static (string Endpoint, string Id) Subject(JsonNode? subId)
    {
        if (subId is not JsonObject s || Text(s, "format") != "scim")
            throw Invalid("The SET has no sub_id of format \"scim\" (RFC 9967 §2.1)");
        var uri = Text(s, "uri") ?? throw Invalid("The SET's sub_id has no uri");
        var slash = uri.IndexOf('/', 1);
        if (!uri.StartsWith('/') || slash < 2 || slash == uri.Length - 1 || uri.IndexOf('/', slash + 1) >= 0)
            throw Invalid($"The SET's sub_id uri \"{uri}\" is not a resource's path relative to the SCIM root");
        if (s.ContainsKey("id") && Text(s, "id") is null) throw Invalid("The SET's sub_id id is not a string");
        return (uri[1..slash], Text(s, "id") ?? Uri.UnescapeDataString(uri[(slash + 1)..]));
    }

    /// <summary>RFC 9967 §2.2: a <c>:full</c> event carries data, a <c>:notice</c> event attributes, never both.</summary>
    private static void CheckEvent(string uri, JsonNode? payload)
    {
        if (!EventUris.All.Contains(uri, StringComparer.Ordinal)) throw Invalid($"The SET carries the event \"{uri}\", which this feed does not send");
        if (payload is not JsonObject p) throw Invalid($"The SET's \"{uri}\" payload is not an object");
        var full = EventUris.IsFull(uri);
        var notice = EventUris.IsNotice(uri);
        if (full != p["data"] is JsonObject || (p.ContainsKey("data") && !full))
            throw Invalid($"The SET's \"{uri}\" event must {(full ? "" : "not ")}carry data");
        var attributesOk = p["attributes"] is JsonArray a && a.All(x => x is JsonValue v && v.TryGetValue<string>(out _));
        if (notice != attributesOk || (p.ContainsKey("attributes") && !notice))
            throw Invalid($"The SET's \"{uri}\" event must {(notice ? "" : "not ")}carry attributes, a list of attribute paths");
        if (p.ContainsKey("version") && Text(p, "version") is null) throw Invalid($"The SET's \"{uri}\" version is not a string");
    }

    private static PatchRequest? ReadPatch(JsonNode? data)
    {
        if (data is null) return null;
        try
        {
            return PatchRequest.Read(data);
        }
        catch (ScimException)
        {
            return null;
        }
    }

    private static string? Text(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static SetValidationException Invalid(string description) => new("invalid_request", description);
}
