using System.Buffers;
using System.Text;
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
    // One buffer and writer per thread, used again for every document: a new Utf8JsonWriter asks its buffer for 4 KB
    // at its first write, and the folded copy used to be built as a second tree before being written.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>A buffer that grew beyond this (a very large document) is not kept for the next.</summary>
    private const int KeptCapacity = 64 * 1024;

    /// <summary>The document with every string value folded by <see cref="ScimText.Fold"/> (names unchanged).</summary>
    public static string Folded(JsonObject data)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        WriteFolded(w, data);
        w.Flush();
        var json = Encoding.UTF8.GetString(buffer.WrittenSpan);
        if (buffer.Capacity > KeptCapacity) (t_buffer, t_writer) = (null, null);
        return json;
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
