using System.Text.Json.Nodes;

namespace ScimSync.Sync.Mapping;

/// <summary>
/// The target attributes whose values nobody reads back from the engine: those a mapping marks
/// <c>secret: true</c>, and any password (which the engine never maps, but a target might echo). The
/// provisioning log stores "(secret)" in their place, so a secret is never at rest in the state file, and
/// <c>sync user</c> shows the same (DESIGN.md invariant 9).
/// </summary>
public sealed class SecretAttributes
{
    /// <summary>What stands in for a secret value.</summary>
    public const string Redacted = "(secret)";

    private readonly string[] _paths;

    public SecretAttributes(IEnumerable<string> paths) => _paths = paths.ToArray();

    public static SecretAttributes None { get; } = new([]);

    public static SecretAttributes From(IEnumerable<AttributeMapping> mappings) =>
        new(mappings.Where(m => m.Secret).Select(m => MappedPath.Parse(m.Target).ToString()));

    /// <summary>
    /// Whether <paramref name="path"/> (<c>title</c>, <c>name.givenName</c>, <c>urn:…:User:pin</c>) is, or lies
    /// inside, a secret attribute. Attribute names are case-insensitive in SCIM, so the comparison is too.
    /// </summary>
    public bool IsSecret(string path)
    {
        var last = path[(Math.Max(path.LastIndexOf('.'), path.LastIndexOf(':')) + 1)..];
        if (last.Equals("password", StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var secret in _paths)
            if (path.Equals(secret, StringComparison.OrdinalIgnoreCase)
                || (path.Length > secret.Length && path.StartsWith(secret, StringComparison.OrdinalIgnoreCase) && path[secret.Length] is '.' or ':'))
                return true;
        return false;
    }

    /// <summary>The value to show or store for <paramref name="path"/>: itself, or "(secret)" (an absent value stays absent).</summary>
    public JsonNode? Redact(string path, JsonNode? value) => value is not null && IsSecret(path) ? JsonValue.Create(Redacted) : value;

    /// <summary>
    /// The resource document (as planned for a create) with every secret value replaced by "(secret)", so that
    /// <c>plan --json</c> and the on-demand trace can show what is sent without showing what is secret: a copy when
    /// something in it is secret, else the document itself (a plan's report holds 100,000 of them; callers pass a
    /// document of their own).
    /// </summary>
    public JsonObject RedactResource(JsonObject resource) =>
        Holds("", resource, schemaContainer: false) ? (JsonObject)Copy("", resource, schemaContainer: false)! : resource;

    /// <summary>
    /// A copy of one PATCH operation with its value redacted where its path is secret; a path-less operation's
    /// value is a partial resource and is redacted attribute by attribute. Value filters in the path
    /// (<c>emails[type eq "work"].value</c>) do not change which attribute it is.
    /// </summary>
    public JsonObject RedactPatchOperation(JsonObject operation)
    {
        var copy = operation.DeepClone().AsObject();
        if (copy["value"] is not { } value) return copy;
        var path = copy["path"] is JsonValue p && p.TryGetValue<string>(out var text) ? WithoutValueFilters(text) : "";
        copy["value"] = Copy(path, value, schemaContainer: IsSchemaUrn(path));
        return copy;
    }

    /// <param name="schemaContainer">The node is an extension's object under its schema URN, whose attributes are named <c>urn:…:User:name</c>.</param>
    private JsonNode? Copy(string path, JsonNode? node, bool schemaContainer)
    {
        if (node is null) return null;
        if (path.Length > 0 && IsSecret(path)) return JsonValue.Create(Redacted);
        switch (node)
        {
            case JsonObject o:
                var copy = new JsonObject();
                foreach (var (name, value) in o)
                    copy[name] = Copy(Child(path, name, schemaContainer), value, schemaContainer: path.Length == 0 && IsSchemaUrn(name));
                return copy;
            case JsonArray a:
                // The elements of a multi-valued attribute are the attribute itself: emails[0].value is "emails.value".
                return new JsonArray(a.Select(e => Copy(path, e, schemaContainer: false)).ToArray());
            default:
                return node.DeepClone();
        }
    }

    /// <summary>Whether <paramref name="node"/> is or holds a secret value: <see cref="Copy"/>'s walk, without copying.</summary>
    private bool Holds(string path, JsonNode? node, bool schemaContainer)
    {
        if (node is null) return false;
        if (path.Length > 0 && IsSecret(path)) return true;
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o)
                    if (Holds(Child(path, name, schemaContainer), value, schemaContainer: path.Length == 0 && IsSchemaUrn(name)))
                        return true;
                return false;
            case JsonArray a:
                foreach (var e in a)
                    if (Holds(path, e, schemaContainer: false)) return true;
                return false;
            default:
                return false;
        }
    }

    /// <summary>A member's path, as SCIM writes it: after a colon inside an extension's container, else after a dot.</summary>
    private static string Child(string path, string name, bool schemaContainer) =>
        path.Length == 0 ? name : path + (schemaContainer ? ":" : ".") + name;

    private static bool IsSchemaUrn(string name) => name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase);

    private static string WithoutValueFilters(string path)
    {
        var sb = new System.Text.StringBuilder(path.Length);
        var depth = 0;
        foreach (var c in path)
        {
            if (c == '[') depth++;
            else if (c == ']') depth = Math.Max(0, depth - 1);
            else if (depth == 0) sb.Append(c);
        }
        return sb.ToString();
    }
}
