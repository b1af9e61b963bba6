using System.Text.Json.Nodes;

namespace ScimSync.Sync;

/// <summary>
/// Splits an attribute path into its schema URN (empty for core) and the dotted attribute path, and reads or
/// writes it in a resource document (names case-insensitive, as in SCIM). In the root namespace: mappings, kinds,
/// the planner and the inquiry all address attributes this way.
/// </summary>
public readonly record struct MappedPath(string Schema, string Path)
{
    public static MappedPath Parse(string text)
    {
        if (text.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            var cut = text.LastIndexOf(':');
            return new MappedPath(text[..cut], text[(cut + 1)..]);
        }
        return new MappedPath("", text);
    }

    public override string ToString() => Schema.Length == 0 ? Path : Schema + ":" + Path;

    public JsonNode? Read(JsonObject doc)
    {
        JsonNode? node = Schema.Length == 0 ? doc : Find(doc, Schema);
        foreach (var part in Path.Split('.'))
            node = node is JsonObject o ? Find(o, part) : null;
        return node;
    }

    public void Write(JsonObject doc, JsonNode? value)
    {
        var o = doc;
        if (Schema.Length > 0)
        {
            if (Find(doc, Schema) is not JsonObject ext) doc[Schema] = ext = new JsonObject();
            o = ext;
        }
        var parts = Path.Split('.');
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (Find(o, parts[i]) is not JsonObject child) o[parts[i]] = child = new JsonObject();
            o = child;
        }
        o[parts[^1]] = value;
    }

    private static JsonNode? Find(JsonObject o, string name)
    {
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (k, v) in o)
            if (k.Equals(name, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }
}
