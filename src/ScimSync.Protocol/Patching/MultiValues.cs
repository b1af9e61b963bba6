using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>Rules shared by the operations for the values of multi-valued attributes.</summary>
internal static class MultiValues
{
    /// <summary>The current values, as a fresh list the caller may edit and write back.</summary>
    public static JsonArray Current(JsonObject doc, ResolvedAttribute r) => PatchTargets.Get(doc, r) switch
    {
        JsonArray a => a,
        null => [],
        // Not produced by the shaper; tolerated so that a stray single value is not silently lost.
        var single => [single.DeepClone()],
    };

    /// <summary>
    /// Whether two values are "the same value" for add (RFC 7644 §3.5.2.1 "already present") and for the
    /// value-as-filter removal dialect. Complex values are identified by "value" (and "type" when both carry
    /// one), so re-adding a member with a display name is still recognised as the existing member.
    /// </summary>
    public static bool SameValue(SchemaAttribute attr, JsonNode? a, JsonNode? b)
    {
        if (attr.IsComplex && attr.FindSubAttribute("value") is { } valueDef &&
            a is JsonObject ao && b is JsonObject bo && ao["value"] is { } av && bo["value"] is { } bv)
        {
            if (!Equal(valueDef, av, bv)) return false;
            var typeDef = attr.FindSubAttribute("type");
            return typeDef is null || ao["type"] is not { } at || bo["type"] is not { } bt || Equal(typeDef, at, bt);
        }
        return Equal(attr, a, b);
    }

    /// <summary>
    /// Finds "the same value" without comparing against every element: adding or removing a few members of
    /// a large group would otherwise cost members × listed comparisons. Values are bucketed by their
    /// (folded) "value" sub-attribute; values without one are compared linearly.
    /// </summary>
    public sealed class Lookup
    {
        private readonly SchemaAttribute _attr;
        private readonly SchemaAttribute? _valueDef;
        private readonly Dictionary<string, List<JsonNode>> _byKey = new(StringComparer.Ordinal);
        private readonly List<JsonNode> _unkeyed = [];

        public Lookup(SchemaAttribute attr, IEnumerable<JsonNode?> values)
        {
            _attr = attr;
            _valueDef = attr.IsComplex ? attr.FindSubAttribute("value") : null;
            foreach (var v in values) Add(v);
        }

        public void Add(JsonNode? value)
        {
            if (value is null) return;
            if (Key(value) is { } key)
            {
                if (!_byKey.TryGetValue(key, out var list)) _byKey[key] = list = [];
                list.Add(value);
            }
            else _unkeyed.Add(value);
        }

        public JsonNode? Find(JsonNode? value)
        {
            // A keyed value can only equal another with the same key (SameValue compares "value" first, and
            // a value lacking it differs by deep equality); an unkeyed one may equal any unkeyed value.
            var candidates = Key(value) is { } key ? _byKey.GetValueOrDefault(key) ?? [] : _unkeyed;
            return candidates.FirstOrDefault(c => SameValue(_attr, c, value));
        }

        private string? Key(JsonNode? n) =>
            _valueDef is not null && n is JsonObject o && o["value"] is JsonValue v && v.TryGetValue<string>(out var s)
                ? (_valueDef.CaseExact ? s : ScimText.Fold(s))
                : null;
    }

    private static bool Equal(SchemaAttribute def, JsonNode? a, JsonNode? b)
    {
        if (!def.CaseExact && !def.IsComplex && a is JsonValue va && b is JsonValue vb &&
            va.TryGetValue<string>(out var sa) && vb.TryGetValue<string>(out var sb))
            return ScimText.Fold(sa) == ScimText.Fold(sb);
        return JsonNode.DeepEquals(a, b);
    }

    public static bool IsPrimary(JsonNode? element) =>
        element is JsonObject o && o["primary"] is JsonValue p && p.GetValueKind() == JsonValueKind.True;

    /// <summary>
    /// RFC 7643 §2.4 / RFC 7644 §3.5.2: a value newly set primary takes the flag from the others. The member
    /// is removed rather than set false because absent already means false and keeps stored values minimal.
    /// </summary>
    public static void ResetPrimary(JsonArray values, IReadOnlyCollection<JsonObject> changed)
    {
        if (!changed.Any(IsPrimary)) return;
        foreach (var other in values.OfType<JsonObject>())
            if (!changed.Contains(other) && IsPrimary(other)) other.Remove("primary");
    }

    /// <summary>
    /// A value path with a sub-attribute that matches nothing, e.g. {"op":"Add","path":"addresses[type eq \"work\"].formatted"}
    /// for a user without a work address. When the filter is one <c>eq</c> on a sub-attribute it says exactly
    /// which value is meant, and the new element is {type:"work", formatted:value}:
    /// <list type="bullet">
    /// <item><c>add</c>: RFC 7644 §3.5.2.1 adds a target location that does not exist.</item>
    /// <item><c>replace</c>: §3.5.2.3 requires noTarget, but Entra ID sends replace with a <c>type eq</c>
    /// filter to users that lack that type, and Microsoft's guidance is that the value is then created; only
    /// that form is accepted (docs/compatibility.md). A replace whose filter names anything else, such as
    /// <c>members[value eq "x"].display</c> or <c>emails[value eq "x"].type</c>, selects values that exist or
    /// nothing, and nothing is noTarget.</item>
    /// </list>
    /// Any other filter that matches nothing stays noTarget.
    /// </summary>
    public static JsonObject? CreateFromEqFilter(PatchOperationType kind, ElementsTarget target, JsonNode? value)
    {
        if (target.Sub is null || value is null) return null;
        if (target.RawFilter is not ComparisonFilter { Operator: ComparisonOperator.Eq } c ||
            c.Path.SchemaUrn is not null || c.Path.SubAttribute is not null || c.Value.Kind == FilterValueKind.Null)
            return null;
        if (kind == PatchOperationType.Replace && !c.Path.Name.Equals("type", StringComparison.OrdinalIgnoreCase)) return null;
        var attr = target.Resolved.Attribute;
        var filterSub = attr.FindSubAttribute(c.Path.Name);
        if (filterSub is null) return null;
        // Through JSON text so that numbers get the element-backed value the coercer's conversions expect.
        var element = new JsonObject { [filterSub.Name] = JsonNode.Parse(c.Value.ToString()) };
        element[target.Sub.Name] = value.DeepClone();
        return ValueCoercer.CoerceSingle(attr, element, target.Resolved.CanonicalPath) as JsonObject;
    }

    /// <summary>
    /// Immutable sub-attributes of a multi-valued attribute (Group members) protect each existing value from
    /// being edited in place; whole values may still be added and removed.
    /// </summary>
    public static void CheckInPlaceChange(SchemaAttribute attr, JsonObject before, JsonObject after, string text)
    {
        foreach (var sub in attr.SubAttributes.Where(s => s.Mutability == Mutability.Immutable))
            if (before[sub.Name] is { } old && !JsonNode.DeepEquals(old, after[sub.Name]))
                throw ScimException.Mutability($"\"{text}\": sub-attribute \"{attr.Name}.{sub.Name}\" is immutable and already has a value");
    }
}
