using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Resources;

/// <summary>
/// Checks one attribute value against its definition and returns it in canonical form: canonical
/// sub-attribute names, canonical spelling of canonical values, and the Entra ID dialect's string booleans
/// ("False") turned into JSON booleans. null, [] and {} all mean "unassigned" (RFC 7643 §2.5) and come
/// back as null.
/// </summary>
public static class ValueCoercer
{
    public static JsonNode? Coerce(SchemaAttribute attr, JsonNode? value, string path)
    {
        if (value is null) return null;
        if (attr.MultiValued)
        {
            // A lone value for a multi-valued attribute is read as a one-element list: clients send
            // {"op":"add","path":"members","value":{"value":"id"}} and the intent is unambiguous.
            var items = value is JsonArray arr ? arr.ToArray() : [value];
            var result = new JsonArray();
            foreach (var item in items)
            {
                var coerced = CoerceSingle(attr, item, path);
                if (coerced is not null) result.Add(coerced);
            }
            return result.Count == 0 ? null : result;
        }
        if (value is JsonArray)
            throw ScimException.InvalidValue($"Attribute \"{path}\" is single-valued but an array was given");
        return CoerceSingle(attr, value, path);
    }

    public static JsonNode? CoerceSingle(SchemaAttribute attr, JsonNode? value, string path)
    {
        if (value is null) return null;
        if (attr.Type == AttributeType.Complex)
        {
            if (value is not JsonObject obj)
                throw ScimException.InvalidValue($"Attribute \"{path}\" is complex and needs a JSON object");
            var result = new JsonObject();
            foreach (var (name, sv) in obj)
            {
                var sub = attr.FindSubAttribute(name)
                    ?? throw ScimException.InvalidSyntax($"Unknown sub-attribute \"{name}\" in \"{path}\"");
                if (result.ContainsKey(sub.Name))
                    throw ScimException.InvalidSyntax($"Sub-attribute \"{sub.Name}\" appears twice in \"{path}\"");
                var coerced = sub.MultiValued ? Coerce(sub, sv, path + "." + sub.Name) : CoerceSingle(sub, sv, path + "." + sub.Name);
                if (coerced is not null) result[sub.Name] = coerced;
            }
            return result.Count == 0 ? null : result;
        }
        if (value is not JsonValue jv)
            throw ScimException.InvalidValue($"Attribute \"{path}\" needs a {TypeName(attr.Type)} value, not {Describe(value)}");
        switch (attr.Type)
        {
            case AttributeType.Boolean:
                if (jv.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return JsonValue.Create(jv.GetValue<bool>());
                // Entra ID (without aadOptscim062020) sends "True"/"False" as strings.
                if (jv.TryGetValue<string>(out var bs) && bool.TryParse(bs, out var b)) return JsonValue.Create(b);
                throw ScimException.InvalidValue($"Attribute \"{path}\" needs a boolean value");
            case AttributeType.Integer:
                if (jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue<long>(out var l)) return JsonValue.Create(l);
                throw ScimException.InvalidValue($"Attribute \"{path}\" needs an integer value");
            case AttributeType.Decimal:
                if (jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue<decimal>(out var d)) return JsonValue.Create(d);
                throw ScimException.InvalidValue($"Attribute \"{path}\" needs a decimal value");
            case AttributeType.DateTime:
                if (jv.TryGetValue<string>(out var ds) && TryParseDateTime(ds, out _)) return JsonValue.Create(ds);
                throw ScimException.InvalidValue($"Attribute \"{path}\" needs an xsd:dateTime value such as \"2008-01-23T04:56:22Z\"");
            case AttributeType.Binary:
                if (jv.TryGetValue<string>(out var bin) && IsBase64(bin)) return JsonValue.Create(bin);
                throw ScimException.InvalidValue($"Attribute \"{path}\" needs a base64 value");
            default:
                if (!jv.TryGetValue<string>(out var s))
                    throw ScimException.InvalidValue($"Attribute \"{path}\" needs a string value, not {Describe(value)}");
                if (attr.CanonicalValues.Count > 0)
                {
                    var canonical = attr.CanonicalValues.FirstOrDefault(c => string.Equals(c, s, attr.CaseExact ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
                        ?? throw ScimException.InvalidValue($"Attribute \"{path}\" must be one of {string.Join(", ", attr.CanonicalValues.Select(v => "\"" + v + "\""))}, not \"{s}\"");
                    return JsonValue.Create(canonical);
                }
                return JsonValue.Create(s);
        }
    }

    /// <summary>xsd:dateTime: a date and a time are both required; a missing offset means UTC.</summary>
    public static bool TryParseDateTime(string s, out DateTimeOffset instant)
    {
        instant = default;
        var t = s.IndexOf('T', StringComparison.OrdinalIgnoreCase);
        if (t < 8 || t == s.Length - 1) return false;
        return DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out instant);
    }

    private static bool IsBase64(string s)
    {
        Span<byte> buffer = s.Length <= 4096 ? stackalloc byte[s.Length] : new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out _);
    }

    private static string TypeName(AttributeType t) => t switch
    {
        AttributeType.DateTime => "dateTime",
        _ => t.ToString().ToLowerInvariant(),
    };

    private static string Describe(JsonNode n) => n switch
    {
        JsonObject => "an object",
        JsonArray => "an array",
        _ => n.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "null",
        },
    };
}
