using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Sync.State;

/// <summary>
/// The stored form of an entry's changes, the same in every state implementation:
/// <c>[{"path": …, "old": …, "new": …}]</c>, an absent value omitted; null when there are none.
/// </summary>
public static class StoredChanges
{
    // Stored text stays readable (no \u escapes for non-ASCII names); it is printed, never embedded in HTML.
    private static readonly System.Text.Encodings.Web.JavaScriptEncoder Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    // One buffer and writer per thread, used again for every entry: a new Utf8JsonWriter asks its buffer for at least
    // 4 KB at its first write, so a fresh buffer per entry allocated and zeroed 4 KB for every operation logged.
    [ThreadStatic] private static System.Buffers.ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>A buffer that grew beyond this (an entry with a very large value) is not kept for the next.</summary>
    private const int KeptCapacity = 64 * 1024;

    public static string? Write(IReadOnlyList<AttributeChange> changes)
    {
        if (changes.Count == 0) return null;
        // Written straight from the values (an initial load records every attribute of 100,000 accounts): no copies.
        var buffer = t_buffer ??= new System.Buffers.ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Encoder });
        w.Reset(buffer);
        try
        {
            w.WriteStartArray();
            foreach (var c in changes)
            {
                w.WriteStartObject();
                w.WriteString("path", c.Path);
                if (c.Old is not null)
                {
                    w.WritePropertyName("old");
                    c.Old.WriteTo(w);
                }
                if (c.New is not null)
                {
                    w.WritePropertyName("new");
                    c.New.WriteTo(w);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.Flush();
            return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        finally
        {
            if (buffer.Capacity > KeptCapacity)
            {
                t_buffer = null;
                t_writer = null;
            }
        }
    }

    public static IReadOnlyList<AttributeChange> Read(string? json)
    {
        if (json is null || JsonNode.Parse(json) is not JsonArray array) return [];
        return array.OfType<JsonObject>().Select(o => new AttributeChange(o["path"]?.GetValue<string>() ?? "", o["old"]?.DeepClone(), o["new"]?.DeepClone())).ToArray();
    }
}
