using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;

namespace ScimSync.Events;

/// <summary>
/// An RFC 8936 §2.4 poll: what the receiver acknowledges, what it refuses (setErrs), and how many SETs it wants
/// next. The server reads it (<see cref="Read"/>) and the sync engine writes it (<see cref="ToJson"/>).
/// </summary>
/// <param name="MaxEvents">At most this many SETs (0: acknowledge only); null: as many as the transmitter allows.</param>
/// <param name="ReturnImmediately">false: a long poll, answered when SETs are ready or the transmitter's wait ends.</param>
/// <param name="Errors">setErrs, each refused SET's jti → "err: description".</param>
public sealed record PollRequest(int? MaxEvents, bool ReturnImmediately, IReadOnlyList<string> Ack, IReadOnlyDictionary<string, string> Errors)
{
    /// <summary>Reads a poll body; a member of the wrong type is 400 invalidSyntax (RFC 8936 leaves the body open).</summary>
    public static PollRequest Read(JsonObject body)
    {
        ArgumentNullException.ThrowIfNull(body);
        JsonNode? M(string name) => body.FirstOrDefault(kv => kv.Key.Equals(name, StringComparison.Ordinal)).Value;
        int? max = null;
        if (M("maxEvents") is { } m)
        {
            if (m is not JsonValue mv || !mv.TryGetValue<int>(out var n) || n < 0) throw ScimException.InvalidSyntax("maxEvents must be a non-negative integer");
            max = n;
        }
        var immediately = false;
        if (M("returnImmediately") is { } ri)
        {
            if (ri is not JsonValue rv || !rv.TryGetValue<bool>(out immediately)) throw ScimException.InvalidSyntax("returnImmediately must be a boolean");
        }
        var ack = new List<string>();
        if (M("ack") is { } a)
        {
            if (a is not JsonArray arr) throw ScimException.InvalidSyntax("ack must be an array of jti strings");
            foreach (var x in arr)
                ack.Add(x is JsonValue xv && xv.TryGetValue<string>(out var s) ? s : throw ScimException.InvalidSyntax("ack must be an array of jti strings"));
        }
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        if (M("setErrs") is { } e)
        {
            if (e is not JsonObject eo) throw ScimException.InvalidSyntax("setErrs must be an object keyed by jti");
            foreach (var (jti, err) in eo)
                errors[jti] = err is JsonObject o ? $"{o["err"]?.ToString()}: {o["description"]?.ToString()}" : err?.ToJsonString() ?? "";
        }
        return new PollRequest(max, immediately, ack, errors);
    }

    /// <summary>The body as sent; each error's "err: description" becomes the RFC 8936 <c>{"err","description"}</c> object.</summary>
    public JsonObject ToJson()
    {
        var body = new JsonObject { ["ack"] = new JsonArray(Ack.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()) };
        if (Errors.Count > 0)
        {
            var errs = new JsonObject();
            foreach (var (jti, error) in Errors)
            {
                var colon = error.IndexOf(": ", StringComparison.Ordinal);
                errs[jti] = colon < 0
                    ? new JsonObject { ["err"] = error }
                    : new JsonObject { ["err"] = error[..colon], ["description"] = error[(colon + 2)..] };
            }
            body["setErrs"] = errs;
        }
        if (MaxEvents is { } max) body["maxEvents"] = max;
        body["returnImmediately"] = ReturnImmediately;
        return body;
    }
}
