using System.Text.Json;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Resources;
using ScimSync.Store;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Querying;

/// <summary>Lists and searches (RFC 7644 §3.4.2–3.4.3) with index and cursor paging (RFC 9865).</summary>
public sealed class QueryService(IResourceStore store, SchemaRegistry registry, ResourceRenderer renderer, CursorCodec cursors, ScimServerOptions options)
{
    /// <param name="Position">
    /// The journal position the snapshot is consistent with. A cursor walk reports its first page's
    /// position on every page: later pages may already show newer versions, which a consumer applying
    /// events after that position (by version, never backwards) handles without loss.
    /// </param>
    public sealed record Page(QueryPage Result, ListRequest Request, int StartIndex, string? NextCursor, IReadOnlyDictionary<string, ResourceTypeDefinition> Types, long Position);

    public const string PositionHeader = "ScimSync-Journal-Position";
    public const string ListExtension = "urn:scimsync:params:scim:api:messages:2.0:ListResponse";

    /// <param name="types">One type for /Users or /Groups; all of them for a query at the root.</param>
    public async Task<Page> QueryAsync(IReadOnlyList<ResourceTypeDefinition> types, ListRequest request, CancellationToken ct)
    {
        var strict = types.Count == 1;
        var parsed = request.Filter is null ? null : ScimFilterParser.Parse(request.Filter);
        var sortPath = request.SortBy is null ? null
            : AttributePath.TryParse(request.SortBy) ?? throw ScimException.InvalidValue($"sortBy \"{request.SortBy}\" is not an attribute path");
        var filters = new List<TypeFilter>();
        foreach (var rt in types)
        {
            var bound = parsed is null ? null : FilterBinder.Bind(parsed, rt, registry, strict);
            ResolvedAttribute? sort = null;
            if (sortPath is not null)
            {
                sort = ResolveSort(rt, sortPath);
                if (sort is null && strict) throw ScimException.InvalidValue($"sortBy \"{request.SortBy}\" is not an attribute of {rt.Name}");
            }
            filters.Add(new TypeFilter(rt, bound, sort));
        }

        var load = new LoadOptions(
            Members: types.Any(t => t.Name == "Group") && request.Selection.Wants("members", Returned.Default),
            Groups: types.Any(t => t.Name == "User") && request.Selection.Wants("groups", Returned.Default));

        int count;
        PageRequest page;
        string? nextCursor = null;
        long? walkPosition = null;
        var startIndex = 1;
        var queryHash = CursorCodec.HashQuery(string.Join(',', types.Select(t => t.Name)), request.Filter, request.SortBy, request.Descending.ToString());
        var sortSpec = sortPath is null ? null : new SortSpec(request.Descending);
        if (request.Cursor is null)
        {
            startIndex = Math.Max(1, request.StartIndex ?? 1);
            count = Math.Clamp(request.Count ?? options.DefaultPageSize, 0, options.MaxResults);
            page = new PageRequest(startIndex, count);
        }
        else
        {
            count = Math.Max(0, request.Count ?? options.DefaultPageSize);
            if (count > options.MaxResults)
                throw new ScimException(400, ScimErrorType.InvalidCount, $"count must be between 0 and {options.MaxResults} for cursor paging");
            if (request.Cursor.Length == 0)
            {
                page = sortSpec is null ? new PageRequest(1, count, AfterSeq: 0) : new PageRequest(1, count);
            }
            else
            {
                var state = cursors.Decode(request.Cursor, queryHash);
                if (request.Count is not null && request.Count != state.Count)
                    throw new ScimException(400, ScimErrorType.InvalidCount, $"count must stay {state.Count} for the whole cursor walk");
                count = state.Count;
                walkPosition = state.Position;
                page = state.AfterSeq is { } after ? new PageRequest(1, count, after) : new PageRequest(state.Offset + 1, count);
            }
        }

        var result = await store.QueryAsync(new ResourceQuery(filters, sortSpec, page, load), ct).ConfigureAwait(false);
        var position = walkPosition ?? result.JournalPosition;
        if (request.Cursor is not null && result.HasMore && result.Resources.Count > 0)
        {
            nextCursor = page.AfterSeq is not null
                ? cursors.Encode(result.Resources[^1].Seq, 0, count, queryHash, position)
                : cursors.Encode(null, page.StartIndex - 1 + result.Resources.Count, count, queryHash, position);
        }
        return new Page(result, request, startIndex, nextCursor, types.ToDictionary(t => t.Name), position);
    }

    private ResolvedAttribute? ResolveSort(ResourceTypeDefinition rt, AttributePath path)
    {
        try
        {
            var r = registry.Resolve(rt, path);
            if (r is null) return null;
            // A complex sortBy needs a sub-attribute (RFC 7644 §3.4.2.3), except multi-valued ones with a
            // "value", which sort by their primary value.
            if (r.SubAttribute is null && r.Attribute.IsComplex && r.Attribute.FindSubAttribute("value") is null)
                throw ScimException.InvalidValue($"sortBy \"{path}\" is complex; name a sub-attribute");
            return r;
        }
        catch (ScimException e) when (e.ScimType == ScimErrorType.InvalidPath)
        {
            throw ScimException.InvalidValue(e.Detail);
        }
    }

    public void WriteListResponse(Utf8JsonWriter w, Page page, string baseUrl)
    {
        w.WriteStartObject();
        w.WriteStartArray("schemas"u8);
        w.WriteStringValue(ScimSchemaUris.ListResponse);
        w.WriteEndArray();
        w.WriteNumber("totalResults"u8, page.Result.TotalResults);
        w.WriteNumber("itemsPerPage"u8, page.Result.Resources.Count);
        if (page.Request.Cursor is null) w.WriteNumber("startIndex"u8, page.StartIndex);
        if (page.NextCursor is not null) w.WriteString("nextCursor"u8, page.NextCursor);
        w.WriteStartObject(ListExtension);
        w.WriteNumber("journalPosition"u8, page.Position);
        w.WriteEndObject();
        w.WriteStartArray("Resources"u8);
        foreach (var r in page.Result.Resources)
            renderer.Write(w, r, page.Types[r.ResourceType], baseUrl, page.Request.Selection);
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
