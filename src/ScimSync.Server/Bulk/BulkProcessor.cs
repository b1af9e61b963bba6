using System.Globalization;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Http;
using ScimSync.Server.Resources;

namespace ScimSync.Server.Bulk;

/// <summary>
/// /Bulk (RFC 7644 §3.7). Operations run in request order, each in its own transaction (Bulk is not
/// atomic); one that refers to a "bulkId:x" not created yet waits until it is, so clients may send
/// operations in any order. References that can never resolve (unknown, failed, or circular) fail that
/// operation with 409. Processing stops once <c>failOnErrors</c> errors have occurred. A successful POST, PUT or
/// PATCH of a User carries the resource as stored in <c>response</c> (RFC 7644 §3.7.3 allows it), so a client
/// that keeps a copy need not read each one back; groups, whose member lists may be large, do not.
/// </summary>
/// <remarks>
/// One pass in dependency order (Kahn's algorithm): each operation's references are read once, and an
/// operation is queued when the last bulkId it waits for is created. Work is linear in the request; sweeping
/// the waiting operations again after each creation made a chain of 1,000 references (op i refers to the
/// bulkId of op i+1) cost half a million reference scans.
/// </remarks>
public sealed class BulkProcessor(SchemaRegistry registry, ResourceService resources, ScimServerOptions options, ResourceRenderer renderer)
{
    private sealed record Op(int Index, string Method, string? BulkId, string Path, JsonNode? Data, string? Version)
    {
        /// <summary>The bulkIds this operation refers to, read once.</summary>
        public IReadOnlySet<string> References { get; init; } = new HashSet<string>();
    }

    public async Task<BulkResponse> ProcessAsync(JsonObject body, string baseUrl, string? actor, string? writer, CancellationToken ct)
    {
        JsonNode? Member(string name) => body.FirstOrDefault(kv => kv.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
        if (Member("schemas") is not JsonArray schemas || !schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var u) && u.Equals(ScimSchemaUris.BulkRequest, StringComparison.OrdinalIgnoreCase)))
            throw ScimException.InvalidSyntax($"A bulk request must list \"{ScimSchemaUris.BulkRequest}\" in \"schemas\"");
        if (Member("Operations") is not JsonArray opsNode)
            throw ScimException.InvalidSyntax("A bulk request needs an \"Operations\" array");
        if (opsNode.Count > options.BulkMaxOperations)
            throw ScimException.TooLarge($"The bulk request has {opsNode.Count} operations; maxOperations is {options.BulkMaxOperations}");
        int? failOnErrors = null;
        if (Member("failOnErrors") is { } f)
        {
            if (f is not JsonValue fv || !fv.TryGetValue<int>(out var n) || n < 1)
                throw ScimException.InvalidSyntax("failOnErrors must be a positive integer");
            failOnErrors = n;
        }

        var results = new JsonObject?[opsNode.Count];
        var bodies = new BulkResponse.Body?[opsNode.Count];
        var ops = new List<Op>();
        var bulkIds = new HashSet<string>(StringComparer.Ordinal);
        var producers = new HashSet<string>(StringComparer.Ordinal); // bulkIds that a POST will create
        for (var i = 0; i < opsNode.Count; i++)
        {
            try
            {
                var op = ReadOp(i, opsNode[i]);
                if (op.BulkId is not null && !bulkIds.Add(op.BulkId))
                    throw ScimException.InvalidValue($"bulkId \"{op.BulkId}\" is used twice");
                if (op.Method == "POST") producers.Add(op.BulkId!);
                ops.Add(op);
            }
            catch (ScimException e)
            {
                results[i] = Failure(opsNode[i] as JsonObject, e);
            }
        }
        var errors = results.Count(r => r is not null);
        bool Stopped() => failOnErrors is not null && errors >= failOnErrors;

        // waiting[index] = how many of its references are not created yet; dependents[bulkId] = who waits for it.
        // The queue holds operations in the order they become decidable: runnable, or doomed by a reference
        // that is unknown or whose operation failed. Request order is kept among those ready at the start.
        var waiting = new Dictionary<int, int>(); // by Index
        var dependents = new Dictionary<string, List<Op>>(StringComparer.Ordinal);
        var failedIds = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<Op>();
        foreach (var op in ops)
        {
            var pending = op.References.Count(producers.Contains);
            if (pending == 0 || pending < op.References.Count)
            {
                queue.Enqueue(op);
                continue;
            }
            waiting[op.Index] = pending;
            foreach (var r in op.References)
            {
                if (!dependents.TryGetValue(r, out var list)) dependents[r] = list = [];
                list.Add(op);
            }
        }

        var created = new Dictionary<string, string>(StringComparer.Ordinal); // bulkId -> new id
        void Resolved(Op op, bool ok)
        {
            if (op.BulkId is null || !dependents.Remove(op.BulkId, out var list)) return;
            if (!ok) failedIds.Add(op.BulkId);
            foreach (var d in list)
            {
                if (!waiting.TryGetValue(d.Index, out var n)) continue;
                if (!ok || n == 1)
                {
                    waiting.Remove(d.Index);
                    queue.Enqueue(d);
                }
                else waiting[d.Index] = n - 1;
            }
        }
        while (!Stopped() && queue.TryDequeue(out var op))
        {
            if (failOnErrors is null && IndependentCreate(op) && queue.TryPeek(out var next) && IndependentCreate(next))
            {
                // Creates that refer to nothing run side by side, so that they share the store's group commits
                // (one fsync for many) instead of each waiting for its own: an initial load through Bulk would
                // otherwise be slower than the same creates sent as concurrent single requests. Only without
                // failOnErrors, which counts errors in order.
                var wave = new List<Op> { op };
                while (wave.Count < ConcurrentCreates && queue.TryPeek(out var more) && IndependentCreate(more)) wave.Add(queue.Dequeue());
                var answers = await Task.WhenAll(wave.Select(w => ExecuteAsync(w, created, baseUrl, WriteContext.New(actor, writer), ct))).ConfigureAwait(false);
                for (var i = 0; i < wave.Count; i++)
                {
                    (results[wave[i].Index], bodies[wave[i].Index]) = answers[i];
                    var created2xx = answers[i].Head["status"]!.GetValue<string>()[0] == '2';
                    if (!created2xx) errors++;
                    Resolved(wave[i], created2xx);
                }
                continue;
            }
            JsonObject result;
            if (op.References.FirstOrDefault(r => !producers.Contains(r) || failedIds.Contains(r)) is { } lost)
                result = Failure(op, new ScimException(409, ScimErrorType.InvalidValue, $"Operation refers to bulkId \"{lost}\", which was not created"));
            else
                (result, bodies[op.Index]) = await ExecuteAsync(op, created, baseUrl, WriteContext.New(actor, writer), ct).ConfigureAwait(false);
            results[op.Index] = result;
            var ok = result["status"]!.GetValue<string>()[0] == '2';
            if (!ok) errors++;
            Resolved(op, ok);
        }
        if (!Stopped())
        {
            // Whatever still waits is on a cycle (or waits for one): nothing can ever create its references.
            foreach (var op in ops.Where(o => waiting.ContainsKey(o.Index)))
            {
                results[op.Index] = Failure(op, new ScimException(409, ScimErrorType.InvalidValue, "Circular bulkId references cannot be resolved"));
                errors++;
            }
        }

        var answered = new List<(JsonObject, BulkResponse.Body?)>(results.Length);
        for (var i = 0; i < results.Length; i++)
            if (results[i] is { } r) answered.Add((r, bodies[i]));
        return new BulkResponse(answered, renderer, baseUrl);
    }

    /// <summary>Independent creates run at most this many at a time within one request.</summary>
    private const int ConcurrentCreates = 16;

    /// <summary>A POST that refers to no bulkId: it can run beside others like it (each creates a new resource).</summary>
    private static bool IndependentCreate(Op op) => op.Method == "POST" && op.References.Count == 0;

    private static Op ReadOp(int index, JsonNode? node)
    {
        if (node is not JsonObject o) throw ScimException.InvalidSyntax("Each bulk operation must be an object");
        string? Str(string name)
        {
            var v = o.FirstOrDefault(kv => kv.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
            return v switch
            {
                null => null,
                JsonValue jv when jv.TryGetValue<string>(out var s) => s,
                _ => throw ScimException.InvalidSyntax($"\"{name}\" must be a string"),
            };
        }
        var method = Str("method")?.ToUpperInvariant() ?? throw ScimException.InvalidSyntax("A bulk operation needs a \"method\"");
        if (method is not ("POST" or "PUT" or "PATCH" or "DELETE"))
            throw ScimException.InvalidSyntax($"Unsupported bulk method \"{method}\"");
        var path = Str("path") ?? throw ScimException.InvalidSyntax("A bulk operation needs a \"path\"");
        var bulkId = Str("bulkId");
        if (method == "POST" && string.IsNullOrEmpty(bulkId)) throw ScimException.InvalidSyntax("A POST bulk operation needs a \"bulkId\"");
        var data = o.FirstOrDefault(kv => kv.Key.Equals("data", StringComparison.OrdinalIgnoreCase)).Value;
        if (method != "DELETE" && data is not JsonObject) throw ScimException.InvalidSyntax($"A {method} bulk operation needs a \"data\" object");
        // Not copied: the request's tree is this processor's alone; an operation's data is copied when it runs only if
        // bulkIds in it are to be replaced (Detach, Substitute).
        var op = new Op(index, method, bulkId, path, data, Str("version"));
        return op with { References = References(op) };
    }

    private static HashSet<string> References(Op op)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var seg in op.Path.Split('/'))
            if (seg.StartsWith("bulkId:", StringComparison.Ordinal)) set.Add(seg[7..]);
        Collect(op.Data, set);
        return set;
    }

    private static void Collect(JsonNode? n, HashSet<string> set)
    {
        switch (n)
        {
            case JsonObject o: foreach (var (_, v) in o) Collect(v, set); break;
            case JsonArray a: foreach (var v in a) Collect(v, set); break;
            case JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith("bulkId:", StringComparison.Ordinal): set.Add(s[7..]); break;
        }
    }

    /// <summary>
    /// The data of an operation that refers to no bulkId, taken out of the request rather than copied: the request's
    /// tree is this processor's alone and each operation runs once (a copy of every created user's data was 4 % of a
    /// target's CPU in an initial load through Bulk).
    /// </summary>
    private static JsonObject? Detach(JsonNode? data)
    {
        if (data?.Parent is JsonObject operation && operation.FirstOrDefault(kv => ReferenceEquals(kv.Value, data)).Key is { } key) operation.Remove(key);
        return data as JsonObject;
    }

    private static JsonNode? Substitute(JsonNode? n, Dictionary<string, string> created) => n switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Substitute(kv.Value, created)))),
        JsonArray a => new JsonArray(a.Select(v => Substitute(v, created)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith("bulkId:", StringComparison.Ordinal) => JsonValue.Create(created[s[7..]]),
        _ => n?.DeepClone(),
    };

    private async Task<(JsonObject Head, BulkResponse.Body? Body)> ExecuteAsync(Op op, Dictionary<string, string> created, string baseUrl, WriteContext context, CancellationToken ct)
    {
        try
        {
            var path = string.Join('/', op.Path.Split('/').Select(s => s.StartsWith("bulkId:", StringComparison.Ordinal) ? created[s[7..]] : s));
            var segments = path.Trim('/').Split('/');
            var rt = registry.FindByEndpoint(segments[0]) ?? throw ScimException.InvalidValue($"\"{op.Path}\" is not a resource path");
            var data = op.References.Count == 0 ? Detach(op.Data) : Substitute(op.Data, created) as JsonObject;
            switch (op.Method)
            {
                case "POST":
                    if (segments.Length != 1) throw ScimException.InvalidValue("A POST path names a resource type endpoint, e.g. \"/Users\"");
                    var c = await resources.CreateAsync(rt, data!, context, ct).ConfigureAwait(false);
                    lock (created) created[op.BulkId!] = c.Resource.Id;
                    return (Success(op, "201", c.Resource.ETag, ResourceRenderer.Location(baseUrl, rt, c.Resource.Id)), Body(c.Resource, rt));
                case "PUT":
                    var p = await resources.ReplaceAsync(rt, Id(segments, op), data!, op.Version, context, ct).ConfigureAwait(false);
                    return (Success(op, "200", p.Resource.ETag, ResourceRenderer.Location(baseUrl, rt, p.Resource.Id)), Body(p.Resource, rt));
                case "PATCH":
                    if (options.DisablePatch) throw ScimApi.PatchDisabled();
                    var r = await resources.PatchAsync(rt, Id(segments, op), PatchRequest.Read(data), op.Version, context, ct).ConfigureAwait(false);
                    return (Success(op, "200", r.Resource.ETag, ResourceRenderer.Location(baseUrl, rt, r.Resource.Id)), Body(r.Resource, rt));
                default:
                    var id = Id(segments, op);
                    await resources.DeleteAsync(rt, id, op.Version, context, ct).ConfigureAwait(false);
                    return (Success(op, "204", null, ResourceRenderer.Location(baseUrl, rt, id)), null);
            }
        }
        catch (ScimException e)
        {
            return (Failure(op, e), null);
        }
    }

    private static string Id(string[] segments, Op op) =>
        segments.Length == 2 ? segments[1] : throw ScimException.InvalidValue($"\"{op.Path}\" must name one resource, e.g. \"/Users/{{id}}\"");

    /// <summary>The resource a GET would return, for Users; none for groups (their member lists keep Bulk answers unbounded).</summary>
    private static BulkResponse.Body? Body(Store.Resources.StoredResource resource, ResourceTypeDefinition rt) =>
        rt.Name == "Group" ? null : new BulkResponse.Body(resource, rt);

    private static JsonObject Success(Op op, string status, string? version, string location)
    {
        var o = new JsonObject { ["method"] = op.Method };
        if (op.BulkId is not null) o["bulkId"] = op.BulkId;
        if (version is not null) o["version"] = version;
        o["location"] = location;
        o["status"] = status;
        return o;
    }

    private static JsonObject Failure(Op op, ScimException e)
    {
        var o = new JsonObject { ["method"] = op.Method };
        if (op.BulkId is not null) o["bulkId"] = op.BulkId;
        o["status"] = e.Status.ToString(CultureInfo.InvariantCulture);
        o["response"] = ScimHttp.ErrorBody(e.Status, e.ScimType, e.Detail);
        return o;
    }

    private static JsonObject Failure(JsonObject? raw, ScimException e)
    {
        var o = new JsonObject();
        if (raw?["method"] is JsonValue m && m.TryGetValue<string>(out var ms)) o["method"] = ms;
        if (raw?["bulkId"] is JsonValue b && b.TryGetValue<string>(out var bs)) o["bulkId"] = bs;
        o["status"] = e.Status.ToString(CultureInfo.InvariantCulture);
        o["response"] = ScimHttp.ErrorBody(e.Status, e.ScimType, e.Detail);
        return o;
    }
}
