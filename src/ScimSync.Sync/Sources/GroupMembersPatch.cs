using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ScimSync.Sync.Sources;

/// <summary>
/// Applies a group PATCH from a <c>prov:patch:full</c> event to the engine's copy of the group, so that a
/// membership change to a 50,000-member group costs the engine nothing but the change. Returns null for
/// anything it cannot apply with certainty; the caller then reads the group instead.
/// </summary>
public static partial class GroupMembersPatch
{
    public static SourceGroup? Apply(SourceGroup group, JsonObject patch)
    {
        if (patch["Operations"] is not JsonArray ops) return null;
        var members = new List<string>(group.Members);
        var set = new HashSet<string>(members, StringComparer.Ordinal);
        var name = group.DisplayName;
        foreach (var node in ops)
        {
            if (node is not JsonObject op) return null;
            var verb = op["op"] is JsonValue o && o.TryGetValue<string>(out var opText) ? opText.ToLowerInvariant() : null;
            var path = op["path"] is JsonValue p && p.TryGetValue<string>(out var pathText) ? pathText : null;
            // The fully qualified form names the same attributes.
            if (path is not null && path.StartsWith(GroupSchema, StringComparison.OrdinalIgnoreCase)) path = path[GroupSchema.Length..];
            var value = op["value"];
            if (path is null)
            {
                if (verb is not ("add" or "replace") || value is not JsonObject whole) return null;
                foreach (var (k, v) in whole)
                {
                    if (k.Equals("displayName", StringComparison.OrdinalIgnoreCase) && v is JsonValue dn) name = dn.GetValue<string>();
                    else if (k.Equals("members", StringComparison.OrdinalIgnoreCase))
                    {
                        if (verb == "replace") { members.Clear(); set.Clear(); }
                        foreach (var id in Values(v)) if (set.Add(id)) members.Add(id);
                    }
                }
                continue;
            }
            if (path.Equals("displayName", StringComparison.OrdinalIgnoreCase))
            {
                if (value is JsonValue dn && dn.TryGetValue<string>(out var n)) name = n;
                continue;
            }
            if (path.Equals("members", StringComparison.OrdinalIgnoreCase))
            {
                switch (verb)
                {
                    case "add":
                        foreach (var id in Values(value)) if (set.Add(id)) members.Add(id);
                        break;
                    case "replace":
                        members.Clear(); set.Clear();
                        foreach (var id in Values(value)) if (set.Add(id)) members.Add(id);
                        break;
                    case "remove" when value is null:
                        members.Clear(); set.Clear();
                        break;
                    case "remove":
                        foreach (var id in Values(value)) set.Remove(id);
                        members.RemoveAll(m => !set.Contains(m));
                        break;
                    default:
                        return null;
                }
                continue;
            }
            var filtered = MemberFilter().Match(path);
            if (filtered.Success && verb == "remove")
            {
                // The literal is a JSON string (RFC 7644 §3.4.2.2): unescaped the JSON way.
                string id;
                try
                {
                    id = System.Text.Json.JsonSerializer.Deserialize<string>("\"" + filtered.Groups[1].Value + "\"")!;
                }
                catch (System.Text.Json.JsonException)
                {
                    return null;
                }
                if (set.Remove(id)) members.Remove(id);
                continue;
            }
            // Anything else about members (another filter, a sub-attribute) is not guessed at: the group is read back.
            if (path.Contains("members", StringComparison.OrdinalIgnoreCase)) return null;
            // Other attributes do not concern the engine's copy (name and members are all it keeps).
        }
        return group with { DisplayName = name, Members = members };
    }

    private static IEnumerable<string> Values(JsonNode? value) =>
        (value as JsonArray ?? (value is JsonObject o ? new JsonArray(o.DeepClone()) : []))
            .Select(m => m?["value"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null).OfType<string>();

    private const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group:";

    [GeneratedRegex("""^members\[\s*value\s+eq\s+"((?:[^"\\]|\\.)*)"\s*\]$""", RegexOptions.IgnoreCase)]
    private static partial Regex MemberFilter();
}
