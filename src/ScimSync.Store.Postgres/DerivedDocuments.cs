using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Json;
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
    public static string Folded(JsonObject data)
    {
        // Written from the stored tree through the thread's reused writer: the folded copy is never built as a tree.
        using var json = ReusedJsonWriter.Rent();
        WriteFolded(json.Writer, data);
        return json.ToString();
    }

    /// <summary>Writes the node as it is, but every string value folded: the copy is written, never built.</summary>
    private static void WriteFolded(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                w.WriteStartObject();
                foreach (var (key, value) in o)
                {
                    w.WritePropertyName(key);
                    WriteFolded(w, value);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var item in a) WriteFolded(w, item);
                w.WriteEndArray();
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                w.WriteStringValue(ScimText.Fold(v.GetValue<string>()));
                break;
            case null:
                w.WriteNullValue();
                break;
            default:
                node.WriteTo(w);
                break;
        }
    }

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
