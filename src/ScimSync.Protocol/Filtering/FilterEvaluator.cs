using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>Evaluates a bound filter against a resource's full JSON representation.</summary>
/// <remarks>
/// The resource is expected in canonical form, but nothing here trusts that: names are looked up
/// case-insensitively, and a value of the wrong JSON kind simply does not match. A filter must never turn
/// one odd stored resource into a failed query.
/// </remarks>
public static class FilterEvaluator
{
    public static bool Matches(BoundFilter filter, JsonObject resource)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(resource);
        return Evaluate(filter, resource, element: null);
    }

    /// <param name="element">
    /// Inside a <see cref="BoundValuePath"/>, the one value being tested: sub-attributes are read from it
    /// alone, which is what makes every comparison in "[...]" apply to the same value.
    /// </param>
    private static bool Evaluate(BoundFilter filter, JsonObject resource, JsonObject? element) => filter switch
    {
        BoundConstant c => c.Value,
        BoundAnd a => Evaluate(a.Left, resource, element) && Evaluate(a.Right, resource, element),
        BoundOr o => Evaluate(o.Left, resource, element) || Evaluate(o.Right, resource, element),
        BoundNot n => !Evaluate(n.Inner, resource, element),
        BoundPresent p => Values(p.Attribute, resource, element).Any(v => HasValue(v, 0)),
        BoundComparison c => Values(c.Attribute, resource, element).Any(v => Compare(v, c.Operator, c.Value)),
        BoundValuePath vp => Expand(Lookup(vp.Attribute, resource), multiValued: true)
            .OfType<JsonObject>()
            .Any(e => Evaluate(vp.Inner, resource, e)),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter.GetType().Name, "Unknown bound filter node"),
    };

    /// <summary>Every value the path denotes; a filter on a multi-valued path holds when any of them matches.</summary>
    private static IEnumerable<JsonNode> Values(ResolvedAttribute attr, JsonObject resource, JsonObject? element)
    {
        if (element is not null && attr.SubAttribute is { } inner)
            return Expand(Get(element, inner.Name), inner.MultiValued);
        var values = Expand(Lookup(attr, resource), attr.Attribute.MultiValued);
        if (attr.SubAttribute is not { } sub) return values;
        return values.OfType<JsonObject>().SelectMany(o => Expand(Get(o, sub.Name), sub.MultiValued));
    }

    /// <summary>The attribute's node, from the extension object when it belongs to an extension.</summary>
    private static JsonNode? Lookup(ResolvedAttribute attr, JsonObject resource)
    {
        var container = attr.ContainerUrn is null ? resource : Get(resource, attr.ContainerUrn) as JsonObject;
        return container is null ? null : Get(container, attr.Attribute.Name);
    }

    private static IEnumerable<JsonNode> Expand(JsonNode? node, bool multiValued)
    {
        if (node is null) return [];
        if (!multiValued) return [node];
        // A multi-valued attribute stored as a single value is the wrong kind: it has no values.
        return node is JsonArray array ? array.OfType<JsonNode>() : [];
    }

    private static JsonNode? Get(JsonObject o, string name)
    {
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (key, value) in o)
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase)) return value;
        return null;
    }

    /// <summary>
    /// "pr": not null, not "", not an empty array and, for a complex value, some member with a value.
    /// Complex attributes do not nest (RFC 7643 §2.3.8), so the depth bound only guards odd JSON.
    /// </summary>
    private static bool HasValue(JsonNode? node, int depth) => node switch
    {
        null => false,
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.Null or JsonValueKind.Undefined => false,
            JsonValueKind.String => !TryGetString(v, out var s) || s.Length > 0,
            _ => true,
        },
        JsonArray a => depth >= 3 ? a.Count > 0 : a.Any(x => HasValue(x, depth + 1)),
        JsonObject o => depth >= 3 ? o.Count > 0 : o.Any(m => HasValue(m.Value, depth + 1)),
        _ => false,
    };

    private static bool Compare(JsonNode node, ComparisonOperator op, BoundValue expected)
    {
        if (node is not JsonValue value) return false;
        switch (expected.Type)
        {
            case AttributeType.String or AttributeType.Reference or AttributeType.Binary:
                if (!TryGetString(value, out var s)) return false;
                return CompareText(expected.Identifier ? ScimText.UniquenessKey(s) : expected.CaseExact ? s : ScimText.Fold(s), op, expected.Text ?? "");
            case AttributeType.DateTime:
                // The parser that validated the value on write and that SQL's scim_instant uses, so that
                // memory and the stores agree on which values are dates.
                return TryGetString(value, out var text)
                    && ValueCoercer.TryParseDateTime(text, out var instant)
                    && Ordered(instant.CompareTo(expected.Instant), op);
            case AttributeType.Boolean:
            {
                var kind = value.GetValueKind();
                if (kind is not (JsonValueKind.True or JsonValueKind.False)) return false;
                var equal = (kind == JsonValueKind.True) == expected.Boolean;
                return op switch { ComparisonOperator.Eq => equal, ComparisonOperator.Ne => !equal, _ => false };
            }
            case AttributeType.Integer or AttributeType.Decimal:
                return TryGetDecimal(value, out var number) && Ordered(number.CompareTo(expected.Number), op);
            default:
                return false;
        }
    }

    private static bool CompareText(string actual, ComparisonOperator op, string expected) => op switch
    {
        ComparisonOperator.Eq => string.Equals(actual, expected, StringComparison.Ordinal),
        ComparisonOperator.Ne => !string.Equals(actual, expected, StringComparison.Ordinal),
        ComparisonOperator.Co => actual.Contains(expected, StringComparison.Ordinal),
        ComparisonOperator.Sw => actual.StartsWith(expected, StringComparison.Ordinal),
        ComparisonOperator.Ew => actual.EndsWith(expected, StringComparison.Ordinal),
        // CompareCodePoints throws on a lone surrogate; such a stored value cannot be ordered, so it
        // does not match rather than failing the whole query.
        _ => FilterTokenizer.IsWellFormedUtf16(actual)
            && FilterTokenizer.IsWellFormedUtf16(expected)
            && Ordered(ScimText.CompareCodePoints(actual, expected), op),
    };

    private static bool Ordered(int comparison, ComparisonOperator op) => op switch
    {
        ComparisonOperator.Eq => comparison == 0,
        ComparisonOperator.Ne => comparison != 0,
        ComparisonOperator.Gt => comparison > 0,
        ComparisonOperator.Ge => comparison >= 0,
        ComparisonOperator.Lt => comparison < 0,
        ComparisonOperator.Le => comparison <= 0,
        _ => false,
    };

    private static bool TryGetString(JsonValue value, out string text)
    {
        if (value.TryGetValue(out string? s))
        {
            text = s;
            return true;
        }
        text = "";
        if (value.GetValueKind() != JsonValueKind.String) return false;
        // A node built in code may wrap a DateTimeOffset, Guid, char...; its JSON form is the SCIM value.
        using var doc = JsonDocument.Parse(value.ToJsonString());
        text = doc.RootElement.GetString() ?? "";
        return true;
    }

    private static bool TryGetDecimal(JsonValue value, out decimal number)
    {
        number = 0;
        if (value.GetValueKind() != JsonValueKind.Number) return false;
        if (value.TryGetValue(out number)) return true;
        // Nodes built from double, long, etc. do not convert to decimal directly; their JSON text does,
        // unless it is out of decimal's range, in which case the value cannot be compared and does not match.
        return decimal.TryParse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }
}
