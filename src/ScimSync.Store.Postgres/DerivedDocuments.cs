using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Resources;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The stored document's derived forms, computed in .NET when it is written so that PostgreSQL never has to fold
/// text or parse dates: it cannot call <see cref="ScimText.Fold"/> (SQLite can, as a registered function), and
/// its lower() and timestamp parsing differ from .NET's at the edges. Filters then compare values computed by the
/// same functions the in-memory evaluator calls, which is what FilterEquivalenceTests checks.
/// </summary>
internal static class DerivedDocuments
{
    /// <summary>The document with every string value folded by <see cref="ScimText.Fold"/> (names unchanged).</summary>
    public static string Folded(JsonObject data) => Fold(data)!.ToJsonString();

    private static JsonNode? Fold(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Fold(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Fold).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => JsonValue.Create(ScimText.Fold(v.GetValue<string>())),
        JsonValue v => v.DeepClone(),
        _ => null,
    };

    /// <summary>
    /// The strings that <see cref="ValueCoercer.TryParseDateTime"/> (the parser of the evaluator and of SQLite's
    /// scim_instant) reads as instants, as UTC ticks, at the same paths; array elements keep their index (null
    /// where the element holds none). Null when the document holds no such string, which is the common case.
    /// </summary>
    public static string? Instants(JsonObject data) => Instant(data) is JsonNode n ? n.ToJsonString() : null;

    private static JsonNode? Instant(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                JsonObject? result = null;
                foreach (var (key, value) in o)
                    if (Instant(value) is { } i) (result ??= [])[key] = i;
                return result;
            case JsonArray a:
                var items = a.Select(Instant).ToArray();
                return items.Any(i => i is not null) ? new JsonArray(items) : null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String && ValueCoercer.TryParseDateTime(v.GetValue<string>(), out var instant):
                return JsonValue.Create(instant.UtcTicks);
            default:
                return null;
        }
    }
}
