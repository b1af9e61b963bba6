using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;

namespace ScimSync.Sync.Planning;

/// <summary>
/// Compares what a target holds with what it should hold, attribute by managed attribute. The comparison
/// is "does the target hold at least what we want": servers add sub-attributes of their own (a
/// <c>primary</c> flag, a <c>$ref</c>) and return booleans as strings, and neither is drift.
/// </summary>
public static class AccountDiff
{
    /// <summary>PATCH operations that bring <paramref name="actual"/> to <paramref name="desired"/> for the managed attributes.</summary>
    public static IReadOnlyList<JsonObject> Operations(JsonObject desired, JsonObject actual, IReadOnlyList<MappedPath> managed)
    {
        var ops = new List<JsonObject>();
        foreach (var path in managed)
        {
            var want = path.Read(desired);
            var have = path.Read(actual);
            if (Covers(want, have)) continue;
            ops.Add(want is null || IsEmpty(want)
                ? new JsonObject { ["op"] = "remove", ["path"] = path.ToString() }
                : new JsonObject { ["op"] = "replace", ["path"] = path.ToString(), ["value"] = want.DeepClone() });
        }
        return ops;
    }

    /// <summary>Attributes that differ, for drift reports.</summary>
    public static IReadOnlyList<string> Differences(JsonObject desired, JsonObject actual, IReadOnlyList<MappedPath> managed) =>
        managed.Where(p => !Covers(p.Read(desired), p.Read(actual))).Select(p => p.ToString()).ToArray();

    /// <summary>The whole document for a PUT: the target's own attributes kept, the managed ones replaced.</summary>
    public static JsonObject Replacement(JsonObject desired, JsonObject actual, IReadOnlyList<MappedPath> managed)
    {
        var doc = actual.DeepClone().AsObject();
        doc.Remove("meta");
        foreach (var path in managed) path.Write(doc, path.Read(desired)?.DeepClone());
        var schemas = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var source in new[] { doc["schemas"], desired["schemas"] })
            if (source is JsonArray a)
                foreach (var s in a) if (s is JsonValue v && v.TryGetValue<string>(out var uri)) schemas.Add(uri);
        doc["schemas"] = new JsonArray(schemas.Select(s => (JsonNode)JsonValue.Create(s)).ToArray());
        return doc;
    }

    public static bool Covers(JsonNode? want, JsonNode? have)
    {
        if (want is null || IsEmpty(want)) return have is null || IsEmpty(have);
        if (have is null) return false;
        switch (want)
        {
            case JsonObject wo:
                if (have is not JsonObject ho) return false;
                foreach (var (k, v) in wo)
                {
                    var match = ho.FirstOrDefault(p => p.Key.Equals(k, StringComparison.OrdinalIgnoreCase)).Value;
                    if (!Covers(v, match)) return false;
                }
                return true;
            case JsonArray wa:
                if (have is not JsonArray ha || ha.Count != wa.Count) return false;
                var used = new bool[ha.Count];
                foreach (var w in wa)
                {
                    var found = false;
                    for (var i = 0; i < ha.Count && !found; i++)
                        if (!used[i] && Covers(w, ha[i])) used[i] = found = true;
                    if (!found) return false;
                }
                return true;
            default:
                return ScalarText(want) == ScalarText(have);
        }
    }

    private static bool IsEmpty(JsonNode node) => node is JsonArray { Count: 0 } || node is JsonObject { Count: 0 };

    /// <summary>Booleans compare with "True"/"false" strings (Entra ID style), numbers by value.</summary>
    private static string? ScalarText(JsonNode? node)
    {
        if (node is not JsonValue v) return node?.ToJsonString();
        return v.GetValueKind() switch
        {
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Number => v.GetValue<decimal>().ToString(CultureInfo.InvariantCulture),
            JsonValueKind.String when v.GetValue<string>() is var s && (s.Equals("true", StringComparison.OrdinalIgnoreCase) || s.Equals("false", StringComparison.OrdinalIgnoreCase)) => s.ToLowerInvariant(),
            JsonValueKind.String => v.GetValue<string>(),
            _ => v.ToJsonString(),
        };
    }
}
