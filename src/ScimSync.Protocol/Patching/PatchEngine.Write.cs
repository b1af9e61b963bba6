using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>"add" (RFC 7644 §3.5.2.1) and "replace" (§3.5.2.3): they differ only for multi-valued targets and null.</summary>
public sealed partial class PatchEngine
{
    private static void WriteAttribute(JsonObject doc, PatchOperationType kind, AttributeTarget t, JsonNode? value)
    {
        var r = t.Resolved;
        var attr = r.Attribute;
        if (attr.MultiValued)
        {
            var given = ValueCoercer.Coerce(attr, value, r.CanonicalPath) as JsonArray;
            PatchTargets.CheckNoReadOnlySubAttributes(attr, given, t.Text);
            if (kind == PatchOperationType.Replace) PatchTargets.Set(doc, r, given);
            else if (given is not null) AddValues(doc, r, given);
            return;
        }
        if (attr.IsComplex)
        {
            MergeComplex(doc, kind, t, value);
            return;
        }
        var coerced = ValueCoercer.Coerce(attr, value, r.CanonicalPath);
        // "add" of nothing (a null member in a path-less value) leaves the attribute alone; "replace" unassigns.
        if (coerced is null && kind == PatchOperationType.Add) return;
        PatchTargets.Set(doc, r, coerced);
    }

    /// <summary>
    /// Appends the values not already present. A value that is present (same "value"/"type") gets the
    /// other sub-attributes given with it, so re-adding an email with primary:true makes it primary;
    /// immutable sub-attributes of the existing value are kept, since re-adding a member is not an edit, and
    /// so are "value"/"type", which matched already and may differ only in case.
    /// </summary>
    private static void AddValues(JsonObject doc, ResolvedAttribute r, JsonArray given)
    {
        var attr = r.Attribute;
        var values = MultiValues.Current(doc, r);
        var touched = new List<JsonObject>();
        var lookup = new MultiValues.Lookup(attr, values);
        foreach (var item in given)
        {
            var existing = lookup.Find(item);
            if (existing is null)
            {
                var copy = item!.DeepClone();
                values.Add(copy);
                lookup.Add(copy);
                if (copy is JsonObject o) touched.Add(o);
                continue;
            }
            if (existing is not JsonObject eo || item is not JsonObject io) continue;
            foreach (var (name, sv) in io)
            {
                var sub = attr.FindSubAttribute(name);
                if (eo[name] is not null && (sub?.Mutability == Mutability.Immutable || name is "value" or "type")) continue;
                if (!JsonNode.DeepEquals(eo[name], sv)) eo[name] = sv?.DeepClone();
            }
            touched.Add(eo);
        }
        MultiValues.ResetPrimary(values, touched);
        PatchTargets.Set(doc, r, values);
    }

    /// <summary>
    /// Single-valued complex (name, manager): the given sub-attributes are set, the others kept, for both
    /// add and replace (RFC 7644 §3.5.2.3). Under replace a sub-attribute given as null is unassigned.
    /// </summary>
    private static void MergeComplex(JsonObject doc, PatchOperationType kind, AttributeTarget t, JsonNode? value)
    {
        var r = t.Resolved;
        var attr = r.Attribute;
        value = EntraComplexValue(attr, value);
        if (value is null)
        {
            if (kind == PatchOperationType.Replace) PatchTargets.Set(doc, r, null);
            return;
        }
        var coerced = ValueCoercer.CoerceSingle(attr, value, r.CanonicalPath) as JsonObject;
        PatchTargets.CheckNoReadOnlySubAttributes(attr, coerced, t.Text);
        var merged = PatchTargets.Get(doc, r)?.DeepClone() as JsonObject ?? [];
        foreach (var (name, sv) in coerced ?? [])
            merged[name] = sv!.DeepClone();
        if (kind == PatchOperationType.Replace && value is JsonObject raw)
            foreach (var (name, sv) in raw)
                if (sv is null && attr.FindSubAttribute(name) is { } sub) merged.Remove(sub.Name);
        PatchTargets.Set(doc, r, merged);
    }

    /// <summary>
    /// Entra ID compatibility: Entra sends the manager as {"path":"...:manager","value":"&lt;id&gt;"} and
    /// sometimes wraps single values in a one-element array. For a complex attribute with a "value"
    /// sub-attribute the intent of a bare string is unambiguous, so it is read as {"value": "&lt;id&gt;"}.
    /// </summary>
    private static JsonNode? EntraComplexValue(SchemaAttribute attr, JsonNode? value)
    {
        if (value is JsonArray { Count: 1 } one) value = one[0];
        if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && attr.FindSubAttribute("value") is { } sub)
            return new JsonObject { [sub.Name] = v.DeepClone() };
        return value;
    }

    private static void WriteSubAttribute(JsonObject doc, PatchOperationType kind, SubAttributeTarget t, JsonNode? value)
    {
        var coerced = ValueCoercer.Coerce(t.Sub, value, t.Resolved.CanonicalPath + "." + t.Sub.Name);
        if (coerced is null && kind == PatchOperationType.Add) return;
        var merged = PatchTargets.Get(doc, t.Resolved)?.DeepClone() as JsonObject ?? [];
        if (coerced is null) merged.Remove(t.Sub.Name);
        else merged[t.Sub.Name] = coerced;
        PatchTargets.Set(doc, t.Resolved, merged);
    }

    /// <summary>
    /// A value path (emails[type eq "work"], optionally ".value"): every matching value is edited in place;
    /// without a sub-attribute the value object is merged into each match (RFC 7644 §3.5.2.3), and a null
    /// replacement removes the matches. No match is noTarget (RFC 7644 §3.5.2.3), except where
    /// <see cref="MultiValues.CreateFromEqFilter"/> creates the value.
    /// </summary>
    private static void WriteElements(JsonObject doc, PatchOperationType kind, ElementsTarget t, JsonNode? value)
    {
        var r = t.Resolved;
        var attr = r.Attribute;
        var path = t.Sub is null ? r.CanonicalPath : r.CanonicalPath + "." + t.Sub.Name;
        if (t.Sub is null && value is not null and not JsonObject)
            throw ScimException.InvalidValue($"\"{t.Text}\" selects complex values and needs an object of sub-attributes");
        var coerced = t.Sub is null ? ValueCoercer.CoerceSingle(attr, value, path) : ValueCoercer.Coerce(t.Sub, value, path);
        PatchTargets.CheckNoReadOnlySubAttributes(attr, t.Sub is null ? coerced : null, t.Text);

        var values = MultiValues.Current(doc, r);
        var matches = values.OfType<JsonObject>().Where(t.Matches).ToList();
        if (matches.Count == 0)
        {
            var created = MultiValues.CreateFromEqFilter(kind, t, coerced)
                ?? throw ScimException.NoTarget($"No value of \"{r.CanonicalPath}\" matched \"{t.Text}\"");
            values.Add(created);
            MultiValues.ResetPrimary(values, [created]);
            PatchTargets.Set(doc, r, values);
            return;
        }

        if (coerced is null && kind == PatchOperationType.Add) return;
        foreach (var m in matches)
        {
            var before = (JsonObject)m.DeepClone();
            if (t.Sub is not null)
            {
                if (coerced is null) m.Remove(t.Sub.Name);
                else m[t.Sub.Name] = coerced.DeepClone();
            }
            else if (value is null)
            {
                values.Remove(m);
                continue;
            }
            else
            {
                foreach (var (name, sv) in coerced as JsonObject ?? []) m[name] = sv!.DeepClone();
                if (kind == PatchOperationType.Replace && value is JsonObject raw)
                    foreach (var (name, sv) in raw)
                        if (sv is null && attr.FindSubAttribute(name) is { } sub) m.Remove(sub.Name);
            }
            MultiValues.CheckInPlaceChange(attr, before, m, t.Text);
            if (m.Count == 0) values.Remove(m);
        }
        MultiValues.ResetPrimary(values, matches);
        PatchTargets.Set(doc, r, values);
    }
}
