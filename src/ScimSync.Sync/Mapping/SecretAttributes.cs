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
}
