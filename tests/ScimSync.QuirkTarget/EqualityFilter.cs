using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.QuirkTarget;

/// <summary>
/// The only filter this server understands: <c>attr eq "value"</c> on a handful of attributes, compared
/// case-sensitively (RFC 7643 says userName, emails and displayName compare without case; field servers
/// often do not). Anything else is 400 invalidFilter.
/// </summary>
public sealed record EqualityFilter(string Attribute, string Value)
{
    private static readonly string[] Supported = ["userName", "externalId", "displayName", "emails.value", "id"];

    public static EqualityFilter Parse(string text)
    {
        var s = text.Trim();
        var space = s.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0) throw Invalid(text);
        var attribute = Supported.FirstOrDefault(a => string.Equals(a, s[..space], StringComparison.OrdinalIgnoreCase)) ?? throw Invalid(text);
        var rest = s[space..].TrimStart();
        if (!rest.StartsWith("eq ", StringComparison.OrdinalIgnoreCase)) throw Invalid(text);
        var literal = rest[3..].Trim();
        if (literal.Length < 2 || literal[0] != '"' || literal[^1] != '"') throw Invalid(text);
        string? value;
        try
        {
            value = JsonSerializer.Deserialize<string>(literal);
        }
        catch (JsonException)
        {
            throw Invalid(text);
        }
        // A second comparison ("... and ...") leaves quotes or words after the literal: JSON parsing fails above.
        return new EqualityFilter(attribute, value ?? throw Invalid(text));
    }

    private static ScimError Invalid(string text) =>
        ScimError.BadRequest("invalidFilter", $"Unsupported filter '{text}': only attr eq \"value\" on userName, externalId, displayName, emails.value or id");

    public bool Matches(JsonObject resource)
    {
        if (Attribute == "emails.value")
        {
            return Find(resource, "emails") is JsonArray emails
                && emails.OfType<JsonObject>().Any(e => Find(e, "value") is JsonValue v && v.TryGetValue<string>(out var s) && string.Equals(s, Value, StringComparison.Ordinal));
        }
        return Find(resource, Attribute) is JsonValue value && value.TryGetValue<string>(out var text) && string.Equals(text, Value, StringComparison.Ordinal);
    }

    /// <summary>Attribute names are case-insensitive (RFC 7643 §2.1); values are compared exactly.</summary>
    private static JsonNode? Find(JsonObject o, string name)
    {
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (key, value) in o)
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }
}
