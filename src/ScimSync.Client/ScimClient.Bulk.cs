using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Client.Bulk;
using ScimSync.Client.Transport;

namespace ScimSync.Client;

public sealed partial class ScimClient
{
    /// <summary>
    /// Sends one Bulk request (split beforehand with <see cref="BulkBatches"/>) with the client's limits and
    /// retries: a 429 or 503 for the whole request is waited out by the same backoff as any call; a request
    /// that fails for good (413, 4xx, 5xx after retries, no answer) throws <see cref="ScimClientException"/>.
    /// </summary>
    /// <returns>
    /// One result per operation, in request order. An operation the answer has no entry for gets status 0:
    /// the caller cannot know whether it was applied.
    /// </returns>
    public async Task<IReadOnlyList<BulkResult>> BulkAsync(BulkBatch batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var response = await _pipeline.SendAsync(new ScimRequest(HttpMethod.Post, Resolve("Bulk"), batch.Body), ct).ConfigureAwait(false);
        var body = Object(response);
        var answered = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var unnamed = new List<JsonObject>();
        if (Member(body, "Operations") is JsonArray operations)
            foreach (var o in operations.OfType<JsonObject>())
            {
                if (Member(o, "bulkId") is JsonValue b && b.TryGetValue<string>(out var id)) answered.TryAdd(id, o);
                else unnamed.Add(o);
            }
        // Without bulkIds in the answer, entries can be matched only by position, and only if there is one per operation.
        var byPosition = answered.Count == 0 && unnamed.Count == batch.Operations.Count;
        var results = new BulkResult[batch.Operations.Count];
        for (var i = 0; i < results.Length; i++)
        {
            var op = batch.Operations[i];
            var entry = byPosition ? unnamed[i] : answered.GetValueOrDefault(op.BulkId);
            results[i] = entry is null ? new BulkResult(op, 0, null, null, null, null) : Result(op, entry);
        }
        var failures = results.Count(r => !r.IsSuccess);
        for (var i = 0; i < failures; i++) Stats.Failure();
        return results;
    }

    private static BulkResult Result(BulkOperation op, JsonObject entry)
    {
        var status = Status(Member(entry, "status"));
        var location = Member(entry, "location") is JsonValue l && l.TryGetValue<string>(out var loc) ? loc : null;
        var response = Member(entry, "response") as JsonObject;
        var version = Member(entry, "version") is JsonValue v && v.TryGetValue<string>(out var ver) ? ver : null;
        string? id = response?["id"] is JsonValue rid && rid.TryGetValue<string>(out var r) && r.Length > 0 ? r : null;
        if (id is null && location is not null && (status is >= 200 and < 300))
        {
            var path = Uri.TryCreate(location, UriKind.Absolute, out var u) ? u.AbsolutePath : location.Split('?')[0];
            var last = path.TrimEnd('/').Split('/')[^1];
            if (last.Length > 0) id = Uri.UnescapeDataString(last);
        }
        return new BulkResult(op, status, location, id, version, response);
    }

    /// <summary>RFC 7644 shows the status as a string ("201"); some providers send a number, older drafts an object with a code.</summary>
    private static int Status(JsonNode? node) => node switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var n) => n,
        JsonValue v when v.TryGetValue<string>(out var s) && int.TryParse(s.AsSpan(0, Math.Min(3, s.Length)), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) => p,
        JsonObject o => Status(Member(o, "code")),
        _ => 0,
    };
}
