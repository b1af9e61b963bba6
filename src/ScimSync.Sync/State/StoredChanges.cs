using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Json;

namespace ScimSync.Sync.State;

/// <summary>
/// The stored form of an entry's changes, the same in every state implementation:
/// <c>[{"path": …, "old": …, "new": …}]</c>, an absent value omitted; null when there are none.
/// </summary>
public static class StoredChanges
{
    public static string? Write(IReadOnlyList<AttributeChange> changes)
    {
        if (changes.Count == 0) return null;
        // Written straight from the values (an initial load records every attribute of 100,000 accounts): no copies.
        // Relaxed escaping: stored text stays readable (no \u escapes for non-ASCII names); it is printed, never
        // embedded in HTML.
        using var json = ReusedJsonWriter.Rent(relaxedEscaping: true);
        var w = json.Writer;
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
        return json.ToString();
    }

    public static IReadOnlyList<AttributeChange> Read(string? json)
    {
        if (json is null || JsonNode.Parse(json) is not JsonArray array) return [];
        return array.OfType<JsonObject>().Select(o => new AttributeChange(o["path"]?.GetValue<string>() ?? "", o["old"]?.DeepClone(), o["new"]?.DeepClone())).ToArray();
    }
}
