using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Resources;

namespace ScimSync.Protocol.Patching;

/// <summary>"remove" (RFC 7644 §3.5.2.2).</summary>
public sealed partial class PatchEngine
{
    private static void RemoveAttribute(JsonObject doc, AttributeTarget t, JsonNode? value)
    {
        var r = t.Resolved;
        if (r.Attribute.Required)
            throw ScimException.Mutability($"\"{t.Text}\" is required and cannot be removed");
        if (r.Attribute.MultiValued && value is not null)
        {
            RemoveListedValues(doc, t, value);
            return;
        }
        PatchTargets.Set(doc, r, null);
    }

    /// <summary>
    /// Decision (value-as-filter): {"op":"remove","path":"members","value":[{"value":"id1"}]} removes only the
    /// listed values. Read strictly, RFC 7644 §3.5.2.2 ignores "value" and would delete every member, but
    /// Salesforce and Entra ID send exactly this to remove one member; honouring the strict reading would
    /// empty groups in production, while the listed values state the intent without ambiguity. A value
    /// that lists nothing therefore removes nothing. Without "value" all values are removed as the RFC says.
    /// </summary>
    private static void RemoveListedValues(JsonObject doc, AttributeTarget t, JsonNode value)
    {
        var attr = t.Resolved.Attribute;
        var listed = new MultiValues.Lookup(attr, ValueCoercer.Coerce(attr, value, t.Resolved.CanonicalPath) as JsonArray ?? []);
        var values = MultiValues.Current(doc, t.Resolved);
        foreach (var v in values.ToArray())
            if (listed.Find(v) is not null) values.Remove(v);
        PatchTargets.Set(doc, t.Resolved, values);
    }

    private static void RemoveSubAttribute(JsonObject doc, SubAttributeTarget t)
    {
        if (t.Sub.Required)
            throw ScimException.Mutability($"\"{t.Text}\" is required and cannot be removed");
        if (PatchTargets.Get(doc, t.Resolved)?.DeepClone() is not JsonObject merged) return;
        merged.Remove(t.Sub.Name);
        // An object left without sub-attributes is unassigned rather than stored as {} (RFC 7643 §2.5).
        PatchTargets.Set(doc, t.Resolved, merged);
    }

    /// <summary>
    /// Matching values are removed (or lose the sub-attribute); a filter that matches nothing is success
    /// without change, so retried removals of a member that is already gone stay harmless.
    /// </summary>
    private static void RemoveElements(JsonObject doc, ElementsTarget t)
    {
        if (t.Sub?.Required == true)
            throw ScimException.Mutability($"\"{t.Text}\" is required and cannot be removed");
        var attr = t.Resolved.Attribute;
        var values = MultiValues.Current(doc, t.Resolved);
        foreach (var m in values.OfType<JsonObject>().Where(t.Matches).ToList())
        {
            if (t.Sub is null)
            {
                values.Remove(m);
                continue;
            }
            var before = (JsonObject)m.DeepClone();
            m.Remove(t.Sub.Name);
            MultiValues.CheckInPlaceChange(attr, before, m, t.Text);
            if (m.Count == 0) values.Remove(m);
        }
        PatchTargets.Set(doc, t.Resolved, values);
    }
}
