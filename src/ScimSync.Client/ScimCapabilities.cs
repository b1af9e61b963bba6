using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Client;

/// <summary>
/// What the service provider supports, from /ServiceProviderConfig (RFC 7643 §5) and RFC 9865's
/// <c>pagination</c> object, with the client's dialect switches applied (see
/// <see cref="ScimClient.GetCapabilitiesAsync"/>). Null page sizes mean "not advertised", never "no limit".
/// </summary>
public sealed record ScimCapabilities(
    bool Patch,
    bool Bulk,
    int BulkMaxOperations,
    int BulkMaxPayloadSize,
    bool Filter,
    int FilterMaxResults,
    bool ETag,
    bool Sort,
    bool ChangePassword,
    bool Cursor,
    bool Index,
    int? MaxPageSize,
    int? DefaultPageSize)
{
    /// <summary>
    /// Without a ServiceProviderConfig only what RFC 7644 requires of every service provider is assumed:
    /// PUT (not PATCH) and index paging. Filtering is optional in the RFC, so it is not assumed either.
    /// </summary>
    public static ScimCapabilities Conservative { get; } = new(
        Patch: false, Bulk: false, BulkMaxOperations: 0, BulkMaxPayloadSize: 0, Filter: false, FilterMaxResults: 0,
        ETag: false, Sort: false, ChangePassword: false, Cursor: false, Index: true, MaxPageSize: null, DefaultPageSize: null);

    /// <summary>
    /// Reads a ServiceProviderConfig leniently: real service providers send numbers as strings, omit
    /// objects, or spell members in another case. What cannot be read counts as unsupported.
    /// </summary>
    public static ScimCapabilities Parse(JsonObject spc)
    {
        ArgumentNullException.ThrowIfNull(spc);
        var patch = Member(spc, "patch") as JsonObject;
        var bulk = Member(spc, "bulk") as JsonObject;
        var filter = Member(spc, "filter") as JsonObject;
        var pagination = Member(spc, "pagination") as JsonObject;
        var filterMax = Int(Member(filter, "maxResults"));
        var filterSupported = Bool(Member(filter, "supported"));
        // RFC 9865 maxPageSize first; filter.maxResults is what pre-9865 servers advertise as their page cap.
        var maxPage = Int(Member(pagination, "maxPageSize")) ?? (filterSupported ? filterMax : null);
        return new ScimCapabilities(
            Patch: Bool(Member(patch, "supported")),
            Bulk: Bool(Member(bulk, "supported")),
            BulkMaxOperations: Int(Member(bulk, "maxOperations")) ?? 0,
            BulkMaxPayloadSize: Int(Member(bulk, "maxPayloadSize")) ?? 0,
            Filter: filterSupported,
            FilterMaxResults: filterMax ?? 0,
            ETag: Bool(Member(Member(spc, "etag") as JsonObject, "supported")),
            Sort: Bool(Member(Member(spc, "sort") as JsonObject, "supported")),
            ChangePassword: Bool(Member(Member(spc, "changePassword") as JsonObject, "supported")),
            Cursor: pagination is not null && Bool(Member(pagination, "cursor")),
            // Index paging is RFC 7644's; only an explicit "index": false turns it off.
            Index: pagination is null || Member(pagination, "index") is null || Bool(Member(pagination, "index")),
            MaxPageSize: maxPage is > 0 ? maxPage : null,
            DefaultPageSize: Int(Member(pagination, "defaultPageSize")) is > 0 and var d ? d : null);
    }

    private static JsonNode? Member(JsonObject? o, string name)
    {
        if (o is null) return null;
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (key, value) in o)
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }

    private static bool Bool(JsonNode? n) => n is JsonValue v && v.GetValueKind() switch
    {
        JsonValueKind.True => true,
        JsonValueKind.String => bool.TryParse(v.GetValue<string>(), out var b) && b,
        _ => false,
    };

    private static int? Int(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        return v.GetValueKind() switch
        {
            JsonValueKind.Number when v.TryGetValue<long>(out var l) => (int)Math.Clamp(l, 0, int.MaxValue),
            JsonValueKind.Number when v.TryGetValue<double>(out var d) => (int)Math.Clamp(d, 0, int.MaxValue),
            JsonValueKind.String when long.TryParse(v.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) => (int)Math.Clamp(s, 0, int.MaxValue),
            _ => null,
        };
    }
}
