using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Client.Transport;
using Microsoft.Extensions.Logging;
using ScimSync.Client.Updates;

namespace ScimSync.Client;

/// <summary>
/// A client for any SCIM 2.0 service provider (RFC 7644, RFC 9865 cursors). Thread-safe: one instance per
/// service provider, shared by all concurrent calls, so its rate limit and concurrency cap hold for all.
/// </summary>
public sealed partial class ScimClient : IDisposable
{
    private readonly ScimClientOptions _options;
    private readonly ScimPipeline _pipeline;
    private readonly Uri _root;
    private readonly SemaphoreSlim _capabilitiesGate = new(1, 1);
    private readonly Lazy<PatchByPut> _patchByPut = new(() => new PatchByPut());
    private ScimCapabilities? _capabilities;

    /// <param name="logger">Retries, throttling and waits (ClientLog); none when null.</param>
    public ScimClient(ScimClientOptions options, HttpMessageHandler? handler = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.BaseUri.IsAbsoluteUri) throw new ArgumentException("BaseUri must be absolute", nameof(options));
        if (options.MaxPageSize is < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxPageSize must be at least 1");
        _options = options;
        var text = options.BaseUri.GetLeftPart(UriPartial.Path);
        _root = new Uri(text.EndsWith('/') ? text : text + "/");
        _pipeline = new ScimPipeline(options, handler, time ?? TimeProvider.System, Stats, logger);
    }

    public ScimClientStats Stats { get; } = new();

    /// <summary>Test seam: every wait the client makes (Retry-After, backoff, rate limit), after its timer is armed.</summary>
    internal Action<TimeSpan, WaitReason>? WaitObserver
    {
        get => _pipeline.WaitObserver;
        set => _pipeline.WaitObserver = value;
    }

    /// <summary>
    /// The service provider's /ServiceProviderConfig, read once and cached, with the client's dialect
    /// switches applied: <see cref="ScimClientOptions.UsePutForUpdates"/> clears Patch,
    /// <see cref="ScimClientOptions.DisableBulk"/> clears Bulk, <see cref="ScimClientOptions.DisableCursor"/>
    /// clears Cursor. So the flags say what this client will use. A provider without the document (404,
    /// 403, 501 or a body that is not an object) gets <see cref="ScimCapabilities.Conservative"/>.
    /// </summary>
    public async Task<ScimCapabilities> GetCapabilitiesAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _capabilities) is { } cached) return cached;
        await _capabilitiesGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_capabilities is { } again) return again;
            var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve("ServiceProviderConfig")), ct).ConfigureAwait(false);
            ScimCapabilities advertised;
            if (response.IsSuccess)
                advertised = response.Json is JsonObject spc ? ScimCapabilities.Parse(spc) : ScimCapabilities.Conservative;
            else if ((int)response.Status is 403 or 404 or 405 or 501)
                advertised = ScimCapabilities.Conservative;
            else
                throw Fail(response);
            var effective = advertised with
            {
                Patch = advertised.Patch && !_options.UsePutForUpdates,
                Bulk = advertised.Bulk && !_options.DisableBulk,
                Cursor = advertised.Cursor && !_options.DisableCursor,
            };
            Volatile.Write(ref _capabilities, effective);
            return effective;
        }
        finally
        {
            _capabilitiesGate.Release();
        }
    }

    /// <summary>
    /// Walks a list to the end, one page at a time. Uses cursors (RFC 9865) when the service provider
    /// advertises them and they are not disabled, else startIndex/count. The page size asked for is the
    /// smallest of <see cref="ListOptions.PageSize"/>, <see cref="ScimClientOptions.MaxPageSize"/> and the
    /// advertised maximum; a provider that returns fewer is paged on from what it actually returned.
    /// A provider that repeats a cursor or a page fails the walk instead of looping.
    /// </summary>
    /// <param name="endpoint">Relative to the SCIM root: "Users", "Groups".</param>
    public IAsyncEnumerable<ScimPage> ListAsync(string endpoint, ListOptions options, CancellationToken ct) => ListAsync(endpoint, options, null, ct);

    /// <summary>
    /// Walks a list to the end, as <see cref="ListAsync(string, ListOptions, CancellationToken)"/>, and records
    /// in <paramref name="walk"/> whether what came back adds up.
    /// </summary>
    /// <remarks>
    /// <c>totalResults</c> is never trusted alone: servers in the field report the size of the page there, or
    /// cap every page at 50 whatever <c>count</c> says. An index walk goes on until a page comes back empty,
    /// or shorter than the largest page the provider has already returned (its page size in practice); so a
    /// walk whose pages are all full costs one more request, which comes back empty. A cursor walk goes on
    /// until there is no next cursor. A page that brings no id not seen before means paging stopped
    /// advancing, and fails the walk.
    /// </remarks>
    public async IAsyncEnumerable<ScimPage> ListAsync(string endpoint, ListOptions options, ListWalk? walk, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        walk ??= new ListWalk();
        var caps = await GetCapabilitiesAsync(ct).ConfigureAwait(false);
        var size = PageSize(caps, options.PageSize);
        var path = Endpoint(endpoint);
        var useCursor = caps.Cursor;
        string? cursor = "";
        var seenCursors = new HashSet<string>(StringComparer.Ordinal);
        var seenIds = new HashSet<string>(StringComparer.Ordinal);
        var emptyCursorPages = 0;
        var start = 1;
        // With ReadAhead, the next cursor page, asked for as soon as this one names it: the provider renders it
        // (and this client parses it) while the caller works through this one. Still one request at a time: it
        // starts after this page's answer has arrived.
        Task<ScimResponse>? ahead = null;
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            while (true)
            {
                walk.Paging = useCursor ? "cursor" : "index";
                var query = Query(options, useCursor ? ("cursor", cursor!) : ("startIndex", start.ToString(CultureInfo.InvariantCulture)), size);
                var response = ahead is not null
                    ? await ahead.ConfigureAwait(false)
                    : await _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve(path + query)), ct).ConfigureAwait(false);
                ahead = null;
                if (!response.IsSuccess) throw Fail(response);
                if (response.Json is not JsonObject list) throw Fail(response, "The list response is not a JSON object");
                if (Member(list, "Resources") is { } listed && listed is not JsonArray) throw Fail(response, "The list response's Resources is not an array");
                var (resources, notObjects) = TakeResources(list);
                var total = Int(Member(list, "totalResults"));
                walk.Pages++;
                var fresh = 0;
                var withoutId = 0;
                foreach (var resource in resources)
                {
                    if (resource["id"] is JsonValue v && v.TryGetValue<string>(out var id) && id.Length > 0)
                    {
                        if (seenIds.Add(id)) fresh++;
                    }
                    else withoutId++;
                }
                var repeated = resources.Count - fresh - withoutId;
                var next = useCursor && Member(list, "nextCursor") is JsonValue nv && nv.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
                if (next is not null && !seenCursors.Add(next))
                    throw Fail(response, $"The service provider returned nextCursor \"{Shorten(next)}\" a second time; the walk would never end");
                if (repeated > 0 && fresh == 0)
                {
                    // SCIMMY answers a startIndex past the end with the first page again. When the provider's own
                    // total says everything has been read, that page is the end of the list, not a loop.
                    if (!useCursor && total is { } all && walk.Resources >= all)
                    {
                        walk.Finished = true;
                        yield break;
                    }
                    throw Fail(response, useCursor
                        ? "The service provider returned a page of resources it had already returned; paging is not advancing"
                        : $"The service provider returned, for startIndex {start}, only resources it had already returned; it does not honour startIndex");
                }
                if (repeated > 0) walk.Irregular($"{repeated} resources returned a second time (page {walk.Pages})");
                if (withoutId > 0) walk.Irregular($"{withoutId} resources without an id (page {walk.Pages})");
                if (notObjects > 0) walk.Irregular($"{notObjects} entries of Resources that are not objects (page {walk.Pages})");
                walk.Resources += fresh;
                if (walk.Resources > _options.MaxListResources || walk.Pages > _options.MaxListPages)
                    throw Fail(response, $"The listing goes on past {_options.MaxListResources:N0} resources or {_options.MaxListPages:N0} pages; the walk stops there (limits.maxListResources, limits.maxListPages)");
                var largest = walk.LargestPage;
                walk.LargestPage = Math.Max(largest, resources.Count);
                if (options.ReadAhead && useCursor && next is not null)
                    ahead = _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve(path + Query(options, ("cursor", next), size))), abandon.Token);
                yield return new ScimPage(resources, total, response.JournalPosition);

                if (useCursor)
                {
                    if (next is null)
                    {
                        // A provider that advertises cursors but answered in index mode (startIndex, no nextCursor)
                        // has ignored the cursor: stopping would silently lose the rest, so page on by index.
                        if (Member(list, "startIndex") is not null && total is { } t && walk.Resources < t && resources.Count > 0)
                        {
                            useCursor = false;
                            start = (int)Math.Min(walk.Resources + 1, int.MaxValue);
                            continue;
                        }
                        walk.Finished = true;
                        yield break;
                    }
                    emptyCursorPages = resources.Count == 0 ? emptyCursorPages + 1 : 0;
                    if (emptyCursorPages >= MaxEmptyCursorPages)
                        throw Fail(response, $"{MaxEmptyCursorPages} empty pages in a row, each with a nextCursor; the walk is not making progress");
                    cursor = next;
                    continue;
                }

                // Index paging ends on an empty page, or on a page shorter than one the provider already returned.
                var last = resources.Count == 0 || resources.Count < largest;
                if (last && total is { } claimed && claimed > walk.Resources)
                {
                    if (resources.Count > 0)
                    {
                        // A total that says more is not trusted to end or go on by itself, but it does say the
                        // short page may have lost something: read on, and report the walk as not adding up.
                        walk.Irregular($"a short page in the middle: {resources.Count} resources at startIndex {start} after pages of {largest}, with totalResults {claimed}");
                        start += resources.Count;
                        continue;
                    }
                    walk.Irregular($"the service provider reported totalResults {claimed}, but the walk found {walk.Resources}");
                }
                if (last)
                {
                    walk.Finished = true;
                    yield break;
                }
                start += resources.Count;
            }
        }
        finally
        {
            // The caller stopped early (or the walk failed): the page asked for ahead is not wanted.
            if (ahead is not null)
            {
                await abandon.CancelAsync().ConfigureAwait(false);
                try
                {
                    await ahead.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Cancelled or failed: nobody reads it.
                }
            }
        }
    }

    /// <summary>A service provider may return empty cursor pages (filtered out server-side), but not forever.</summary>
    private const int MaxEmptyCursorPages = 1000;

    /// <summary>
    /// Whether the service provider answers at all: one GET of /ServiceProviderConfig, no retry, outside the
    /// client's limits. For health probes of a target that stopped answering.
    /// </summary>
    public Task<bool> ProbeAsync(TimeSpan timeout, CancellationToken ct) => _pipeline.ProbeAsync(Resolve("ServiceProviderConfig"), timeout, ct);

    /// <returns>The resource, or null when the service provider answers 404.</returns>
    public async Task<JsonObject?> GetAsync(string endpoint, string id, string? attributes, CancellationToken ct)
    {
        var query = attributes is null ? "" : "?attributes=" + Uri.EscapeDataString(attributes);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve(Resource(endpoint, id) + query)), ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound) return null;
        return Resource(response);
    }

    /// <remarks>
    /// A create that is retried after an ambiguous failure (a timeout, a 5xx) may fail with 409
    /// uniqueness: the first attempt may have succeeded. Callers look the resource up by its unique keys.
    /// </remarks>
    public async Task<JsonObject> CreateAsync(string endpoint, JsonObject resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Post, Resolve(Endpoint(endpoint)), Json(resource)), ct).ConfigureAwait(false);
        return Resource(response);
    }

    /// <summary>
    /// Sends a PatchOp message with these operations. When the client must not send PATCH
    /// (<see cref="ScimClientOptions.UsePutForUpdates"/>, or the provider does not advertise PATCH), the
    /// resource is read, patched locally and written with PUT (If-Match on the version read, repeated up to
    /// 3 times if it changes meanwhile, unless the caller gave its own <paramref name="ifMatch"/>); a patch
    /// that changes nothing then sends no PUT and returns the resource as read.
    /// </summary>
    /// <returns>The resource (200), or null when the provider answers 204 No Content or a body without a resource.</returns>
    public async Task<JsonObject?> PatchAsync(string endpoint, string id, IReadOnlyList<JsonObject> operations, string? ifMatch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var caps = await GetCapabilitiesAsync(ct).ConfigureAwait(false);
        if (!caps.Patch) return await PatchByPutAsync(endpoint, id, operations, ifMatch, caps, ct).ConfigureAwait(false);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Patch, Resolve(Resource(endpoint, id)),
            Json(PatchByPut.Message(operations)), IfMatch: ifMatch), ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NoContent) return null;
        return ResourceOrNothing(response);
    }

    private async Task<JsonObject?> PatchByPutAsync(string endpoint, string id, IReadOnlyList<JsonObject> operations, string? ifMatch, ScimCapabilities caps, CancellationToken ct)
    {
        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var read = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve(Resource(endpoint, id))), ct).ConfigureAwait(false);
            var current = Resource(read);
            var version = read.ETag ?? (current["meta"]?["version"] is JsonValue mv && mv.TryGetValue<string>(out var s) ? s : null);
            if (ifMatch is not null && version is not null && !ETagMatches(version, ifMatch))
                throw Failed(new ScimClientException(412, null, $"The resource is at version {version}, not {ifMatch}"));
            JsonObject? body;
            try
            {
                body = _patchByPut.Value.Apply(Endpoint(endpoint), id, current, operations);
            }
            catch (ScimClientException e)
            {
                throw Failed(e);
            }
            if (body is null) return current;
            var condition = ifMatch ?? (caps.ETag ? version : null);
            var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Put, Resolve(Resource(endpoint, id)), Json(body), IfMatch: condition), ct).ConfigureAwait(false);
            // Someone else wrote between our read and our write: read again, unless the caller pinned a version.
            if (response.Status == HttpStatusCode.PreconditionFailed && ifMatch is null && condition is not null && attempt < attempts) continue;
            return ResourceOrNothing(response);
        }
    }

    public async Task<JsonObject> ReplaceAsync(string endpoint, string id, JsonObject resource, string? ifMatch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Put, Resolve(Resource(endpoint, id)), Json(resource), IfMatch: ifMatch), ct).ConfigureAwait(false);
        return Resource(response);
    }

    /// <returns>True when deleted, false when the provider answers 404 (already gone).</returns>
    public async Task<bool> DeleteAsync(string endpoint, string id, CancellationToken ct)
    {
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Delete, Resolve(Resource(endpoint, id))), ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound) return false;
        if (!response.IsSuccess) throw Fail(response);
        return true;
    }

    /// <summary>
    /// An authenticated POST with the same limits and retries, e.g. /Bulk or an RFC 8936 poll. A path
    /// starting with '/' is relative to the server's origin ("/feeds/v1/subscriptions/{id}/poll"), any
    /// other path to the SCIM root ("Bulk"). An absolute URI must be on the same origin as the SCIM root,
    /// so credentials never go elsewhere.
    /// </summary>
    public async Task<JsonObject> PostJsonAsync(string relativePath, JsonObject body, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(body);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Post, Resolve(relativePath), Json(body)), ct).ConfigureAwait(false);
        return Object(response);
    }

    /// <summary>An authenticated PATCH with a plain JSON body (not a SCIM PatchOp), e.g. a feed subscription's settings; paths as for <see cref="PostJsonAsync"/>.</summary>
    public async Task<JsonObject> PatchJsonAsync(string relativePath, JsonObject body, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(body);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Patch, Resolve(relativePath), Json(body)), ct).ConfigureAwait(false);
        return Object(response);
    }

    /// <summary>An authenticated GET; paths as for <see cref="PostJsonAsync"/>.</summary>
    /// <returns>The body, or null on 404 or an empty body.</returns>
    public async Task<JsonObject?> GetJsonAsync(string relativePath, CancellationToken ct)
    {
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Get, Resolve(relativePath)), ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound) return null;
        if (!response.IsSuccess) throw Fail(response);
        if (response.Json is null && response.Text is null) return null;
        return response.Json as JsonObject ?? throw Fail(response, "The response is not a JSON object");
    }

    public void Dispose()
    {
        _pipeline.Dispose();
        _capabilitiesGate.Dispose();
    }

    private int PageSize(ScimCapabilities caps, int? requested)
    {
        int? limit = (_options.MaxPageSize, caps.MaxPageSize) switch
        {
            ({ } a, { } b) => Math.Min(a, b),
            ({ } a, null) => a,
            (null, { } b) => b,
            _ => null,
        };
        // Absent limits are not "no limit" (RFC 9865 §4): without any figure, ask for a common page size.
        var wanted = requested ?? limit ?? caps.DefaultPageSize ?? 100;
        return Math.Max(1, limit is { } l ? Math.Min(wanted, l) : wanted);
    }

    private static string Query(ListOptions options, (string Name, string Value) position, int count)
    {
        var q = new StringBuilder();
        void Add(string name, string? value)
        {
            if (value is null) return;
            q.Append(q.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }
        Add("filter", options.Filter);
        Add("attributes", options.Attributes);
        Add("excludedAttributes", options.ExcludedAttributes);
        Add("sortBy", options.SortBy);
        Add(position.Name, position.Value);
        Add("count", count.ToString(CultureInfo.InvariantCulture));
        return q.ToString();
    }

    /// <summary>Detaches the resources from the parsed document, so callers can put them into their own trees.</summary>
    private static (List<JsonObject> Items, int NotObjects) TakeResources(JsonObject list)
    {
        if (Member(list, "Resources") is not JsonArray array) return ([], 0);
        var items = array.OfType<JsonObject>().ToList();
        var notObjects = array.Count - items.Count;
        array.Clear();
        return (items, notObjects);
    }

    private static JsonNode? Member(JsonObject o, string name)
    {
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (key, value) in o)
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }

    /// <summary>Lenient: some providers send totalResults as a string.</summary>
    private static int? Int(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l)) return (int)Math.Clamp(l, 0, int.MaxValue);
        if (v.GetValueKind() == JsonValueKind.String && int.TryParse(v.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p)) return p;
        return null;
    }

    private static bool ETagMatches(string current, string header)
    {
        static string Opaque(string tag) => tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag;
        return header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Any(raw => raw == "*" || Opaque(raw) == Opaque(current));
    }

    private static ReadOnlyMemory<byte> Json(JsonNode node) => JsonSerializer.SerializeToUtf8Bytes(node);

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "…" : s;

    private Uri Resolve(string path)
    {
        // "/x" resolves against the origin, "x" against the SCIM root, an absolute URL stands: the rules of
        // RFC 3986 §5.2. The origin is checked on the result, whatever the form ("//host/x" is a network-path
        // reference to another host, not a path).
        var resolved = Uri.TryCreate(path, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https"
            ? absolute
            : new Uri(_root, path);
        if (!string.Equals(resolved.GetLeftPart(UriPartial.Authority), _root.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{resolved.GetLeftPart(UriPartial.Authority)} is not the service provider's origin; credentials are only sent there", nameof(path));
        return resolved;
    }

    private static string Endpoint(string endpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        return endpoint.Trim('/');
    }

    private static string Resource(string endpoint, string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return Endpoint(endpoint) + "/" + Uri.EscapeDataString(id);
    }

    private JsonObject Object(ScimResponse response)
    {
        if (!response.IsSuccess) throw Fail(response);
        return response.Json as JsonObject ?? throw Fail(response, "The response has no JSON object body");
    }

    /// <summary>
    /// A resource as a success must carry it: a JSON object with a string <c>id</c>. A 2xx without one
    /// (<c>201 {}</c>, an HTML page, an array) is a failed call, not a resource the caller would then trip over.
    /// </summary>
    private JsonObject Resource(ScimResponse response)
    {
        var body = Object(response);
        if (body["id"] is JsonValue id && id.TryGetValue<string>(out var text) && text.Length > 0) return body;
        throw Fail(response, $"The service provider answered {(int)response.Status} without a usable resource (no string \"id\")");
    }

    /// <summary>
    /// For an update that succeeded: the resource when the answer carries one, else null (as for 204), and
    /// the caller reads it back when it needs it. The write itself was acknowledged.
    /// </summary>
    private JsonObject? ResourceOrNothing(ScimResponse response)
    {
        if (!response.IsSuccess) throw Fail(response);
        return response.Json is JsonObject body && body["id"] is JsonValue id && id.TryGetValue<string>(out var text) && text.Length > 0 ? body : null;
    }

    private ScimClientException Failed(ScimClientException e)
    {
        Stats.Failure();
        return e;
    }

    /// <summary>Builds the exception from the SCIM error body (RFC 7644 §3.12), or from whatever came instead.</summary>
    private ScimClientException Fail(ScimResponse response, string? problem = null)
    {
        Stats.Failure();
        var status = (int)response.Status;
        if (problem is not null) return new ScimClientException(status, null, problem);
        var body = response.Json as JsonObject;
        string? Text(string name) => body is not null && Member(body, name) is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var detail = Text("detail")
            ?? (body is not null ? Shorten(body.ToJsonString(), 300) : null)
            ?? response.Text
            ?? $"{status} {response.Status}";
        return new ScimClientException(status, Text("scimType"), detail);
    }

    private static string Shorten(string s, int max) => s.Length > max ? s[..max] + "…" : s;
}
