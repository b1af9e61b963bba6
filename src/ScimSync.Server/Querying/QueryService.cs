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

/// <summary>
/// Lists and searches (RFC 7644 §3.4.2–3.4.3) with index and cursor paging (RFC 9865), within the query
/// limits: a filter's terms are counted before it is bound, the store's <see cref="QueryCost"/> is checked
/// before it runs, queries that scan take one of <see cref="ScimServerOptions.MaxConcurrentScans"/> slots,
/// and every query runs within <see cref="ScimServerOptions.QueryTimeout"/> (the request's own cancellation,
/// a client that disconnects, reaches the store's statement too).
/// </summary>
public sealed class QueryService(IResourceStore store, SchemaRegistry registry, ResourceRenderer renderer, CursorCodec cursors, ScimServerOptions options, TimeProvider time)
{
    private readonly SemaphoreSlim _scanSlots = new(options.MaxConcurrentScans, options.MaxConcurrentScans);

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
        if (parsed is not null && FilterTerms.Count(parsed) is var terms && terms > options.MaxFilterTerms)
            throw ScimException.InvalidFilter($"The filter has {terms} terms; this server accepts at most {options.MaxFilterTerms}");
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

        var query = new ResourceQuery(filters, sortSpec, page, load);
        var cost = store.Cost(query);
        if (cost.UnindexedTerms > options.MaxUnindexedFilterTerms)
            throw ScimException.InvalidFilter($"The filter has {cost.UnindexedTerms} terms that no index answers, each evaluated against every candidate resource; this server evaluates at most {options.MaxUnindexedFilterTerms} per query (docs/compliance.md lists the indexed attributes)");
        var result = await RunAsync(query, cost.Scans, ct).ConfigureAwait(false);
        var position = walkPosition ?? result.JournalPosition;
        if (request.Cursor is not null && result.HasMore && result.Resources.Count > 0)
        {
            nextCursor = page.AfterSeq is not null
                ? cursors.Encode(result.Resources[^1].Seq, 0, count, queryHash, position)
                : cursors.Encode(null, page.StartIndex - 1 + result.Resources.Count, count, queryHash, position);
        }
        return new Page(result, request, startIndex, nextCursor, types.ToDictionary(t => t.Name), position);
    }

    /// <summary>
    /// Runs the query within its time budget; a scan first waits (at most as long again) for a scan slot.
    /// Past either limit the answer is a SCIM error, never a 500: 503 when the server is busy with other
    /// scans (worth retrying), 400 tooMany when this query costs more than the budget (RFC 7644 §3.12:
    /// "more results than the server is willing to calculate or process").
    /// </summary>
    private async Task<QueryPage> RunAsync(ResourceQuery query, bool scans, CancellationToken ct)
    {
        var seconds = options.QueryTimeout.TotalSeconds;
        if (scans)
        {
            using var patience = new CancellationTokenSource(options.QueryTimeout, time);
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, patience.Token);
            try
            {
                await _scanSlots.WaitAsync(waiting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (patience.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new ScimException(503, null, $"The server is running as many scanning queries as it allows and this one waited {seconds:0.#} s; retry, or filter on an indexed attribute");
            }
        }
        try
        {
            using var budget = new CancellationTokenSource(options.QueryTimeout, time);
            using var running = CancellationTokenSource.CreateLinkedTokenSource(ct, budget.Token);
            try
            {
                return await store.QueryAsync(query, running.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (budget.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new ScimException(400, ScimErrorType.TooMany, $"The query did not finish within this server's {seconds:0.#} s budget; narrow the filter (an indexed attribute, eq or sw rather than co or ew)");
            }
        }
        finally
        {
            if (scans) _scanSlots.Release();
        }
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
