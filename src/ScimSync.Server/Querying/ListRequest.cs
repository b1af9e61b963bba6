using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Resources;

namespace ScimSync.Server.Querying;

/// <summary>
/// Query parameters of a list (RFC 7644 §3.4.2) or a SearchRequest body (§3.4.3), plus RFC 9865's
/// <c>cursor</c>. <see cref="Cursor"/> is null when the client did not ask for cursor paging, "" for
/// the first page of a cursor walk.
/// </summary>
public sealed record ListRequest(
    string? Filter,
    string? SortBy,
    bool Descending,
    int? StartIndex,
    int? Count,
    string? Cursor,
    AttributeSelection Selection)
{
    /// <param name="cursorEnabled">
    /// False on a server configured without cursors: <c>cursor</c> is then ignored, as a server predating
    /// RFC 9865 ignores a parameter it does not know, and the request is answered by index.
    /// </param>
    public static ListRequest FromQuery(IQueryCollection q, bool cursorEnabled = true)
    {
        string? Get(string name) => q.TryGetValue(name, out var v) ? v.ToString() : null;
        var cursor = cursorEnabled && q.ContainsKey("cursor") ? Get("cursor") ?? "" : null;
        return Create(Get("filter"), Get("sortBy"), Get("sortOrder"), Get("startIndex"), Get("count"), cursor,
            AttributeSelection.Parse(Get("attributes"), Get("excludedAttributes")));
    }

    public static ListRequest FromSearchBody(JsonObject body, bool cursorEnabled = true)
    {
        JsonNode? Member(string name) => body.FirstOrDefault(kv => kv.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
        if (Member("schemas") is not JsonArray schemas || !schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var u) && u.Equals(ScimSchemaUris.SearchRequest, StringComparison.OrdinalIgnoreCase)))
            throw ScimException.InvalidSyntax($"A search request must list \"{ScimSchemaUris.SearchRequest}\" in \"schemas\"");
        foreach (var (key, _) in body)
        {
            if (key.ToLowerInvariant() is not ("schemas" or "filter" or "sortby" or "sortorder" or "startindex" or "count" or "cursor" or "attributes" or "excludedattributes"))
                throw ScimException.InvalidSyntax($"\"{key}\" is not a member of a SearchRequest");
        }
        var hasCursor = cursorEnabled && body.Any(kv => kv.Key.Equals("cursor", StringComparison.OrdinalIgnoreCase));
        return Create(Text(Member("filter"), "filter"), Text(Member("sortBy"), "sortBy"), Text(Member("sortOrder"), "sortOrder"),
            Number(Member("startIndex"), "startIndex"), Number(Member("count"), "count"),
            hasCursor ? Text(Member("cursor"), "cursor") ?? "" : null,
            AttributeSelection.FromLists(List(Member("attributes"), "attributes"), List(Member("excludedAttributes"), "excludedAttributes")));
    }

    private static ListRequest Create(string? filter, string? sortBy, string? sortOrder, string? startIndex, string? count, string? cursor, AttributeSelection selection)
    {
        var descending = sortOrder?.ToLowerInvariant() switch
        {
            null or "" or "ascending" => false,
            "descending" => true,
            _ => throw ScimException.InvalidValue($"sortOrder must be \"ascending\" or \"descending\", not \"{sortOrder}\""),
        };
        var start = ParseInt(startIndex, "startIndex");
        var c = ParseInt(count, "count");
        if (cursor is not null && start is not null)
            throw ScimException.InvalidValue("startIndex and cursor cannot be used together; choose index or cursor paging");
        return new ListRequest(string.IsNullOrWhiteSpace(filter) ? null : filter, string.IsNullOrWhiteSpace(sortBy) ? null : sortBy,
            descending, start, c, cursor, selection);
    }

    private static int? ParseInt(string? s, string name)
    {
        if (string.IsNullOrWhiteSpace(s)) return null;
        if (!long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw ScimException.InvalidValue($"{name} must be an integer, not \"{s}\"");
        return (int)Math.Clamp(v, int.MinValue, int.MaxValue);
    }

    private static string? Text(JsonNode? n, string name) => n switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw ScimException.InvalidSyntax($"\"{name}\" must be a string"),
    };

    private static string? Number(JsonNode? n, string name) => n switch
    {
        null => null,
        JsonValue v when v.TryGetValue<long>(out var l) => l.ToString(CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw ScimException.InvalidSyntax($"\"{name}\" must be an integer"),
    };

    private static IEnumerable<string>? List(JsonNode? n, string name) => n switch
    {
        null => null,
        JsonArray a => a.Select(x => x is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw ScimException.InvalidSyntax($"\"{name}\" must be an array of strings")).ToArray(),
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        _ => throw ScimException.InvalidSyntax($"\"{name}\" must be an array of strings"),
    };
}
