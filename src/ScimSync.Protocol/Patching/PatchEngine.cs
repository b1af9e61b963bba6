using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>Applies a PatchOp to a canonical resource, atomically (RFC 7644 §3.5.2).</summary>
public sealed partial class PatchEngine(ResourceShaper shaper)
{
    public ResourceShaper Shaper => shaper;

    private SchemaRegistry Registry => shaper.Registry;

    /// <summary>The input is never modified; on any error nothing is applied.</summary>
    public PatchResult Apply(JsonObject resource, ResourceTypeDefinition rt, PatchRequest request) =>
        Apply(resource, rt, request, resourceId: null);

    /// <summary>
    /// As <see cref="Apply(JsonObject, ResourceTypeDefinition, PatchRequest)"/>, but an "id" in a path-less
    /// value that equals <paramref name="resourceId"/> is accepted as an echo (Okta). Without the id (the
    /// canonical form does not carry it) any "id" is a read-only target and fails with mutability.
    /// </summary>
    public PatchResult Apply(JsonObject resource, ResourceTypeDefinition rt, PatchRequest request, string? resourceId)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(rt);
        ArgumentNullException.ThrowIfNull(request);

        // Normalising the "before" side too means a stored resource with a stale "schemas" list or another
        // member order does not count as changed by a no-op PATCH (which must not move the ETag).
        var before = shaper.Normalize((JsonObject)resource.DeepClone(), rt);
        var doc = (JsonObject)before.DeepClone();
        foreach (var op in request.Operations)
        {
            if (op.Path is null) ApplyWithoutPath(doc, rt, op, resourceId);
            else ApplyPath(doc, rt, op.Op, op.Path, op.Value);
        }
        var after = shaper.Normalize(doc, rt);
        shaper.CheckInvariants(after, rt);

        var changed = !JsonNode.DeepEquals(before, after);
        return new PatchResult(after, changed, changed ? ResourceDiff.ChangedAttributes(shaper, rt, before, after) : []);
    }

    /// <summary>
    /// RFC 7644 §3.5.2.1/§3.5.2.3 without a path: each member of the value object is one target. Keys may be
    /// dotted ("name.givenName", sent by Entra ID), URN-qualified, or an extension URN holding an object.
    /// </summary>
    private void ApplyWithoutPath(JsonObject doc, ResourceTypeDefinition rt, PatchOperation op, string? resourceId)
    {
        foreach (var (key, value) in (JsonObject)op.Value!)
        {
            // Clients echo "schemas" when they send a whole resource as the value; it is derived from the
            // data after the PATCH, so there is nothing to apply.
            if (key.Equals("schemas", StringComparison.OrdinalIgnoreCase)) continue;
            // Okta renames a pushed group with {"op":"replace","value":{"id":"<its id>","displayName":...}} on
            // every membership push. Repeating the resource's own id changes nothing, so it is skipped when
            // the caller supplied that id to compare with; otherwise "id" falls through to the read-only check.
            if (key.Equals("id", StringComparison.OrdinalIgnoreCase) && IsEchoOf(value, resourceId)) continue;
            var path = AttributePath.TryParse(key)
                ?? throw ScimException.InvalidPath($"\"{key}\" in the value of \"{Name(op.Op)}\" is not an attribute path");
            ApplyPath(doc, rt, op.Op, new PatchPath(path, null, null), value);
        }
    }

    private void ApplyPath(JsonObject doc, ResourceTypeDefinition rt, PatchOperationType kind, PatchPath path, JsonNode? value)
    {
        var target = PatchTargets.Resolve(Registry, rt, path);
        if (target is ExtensionTarget ext)
        {
            ApplyToExtension(doc, rt, kind, ext, value);
            return;
        }

        var resolved = target switch
        {
            AttributeTarget t => t.Resolved,
            SubAttributeTarget t => t.Resolved,
            ElementsTarget t => t.Resolved,
            _ => throw new InvalidOperationException(target.GetType().Name),
        };
        var before = PatchTargets.Get(doc, resolved)?.DeepClone();
        switch (target)
        {
            case AttributeTarget t when kind == PatchOperationType.Remove: RemoveAttribute(doc, t, value); break;
            case AttributeTarget t: WriteAttribute(doc, kind, t, value); break;
            case SubAttributeTarget t when kind == PatchOperationType.Remove: RemoveSubAttribute(doc, t); break;
            case SubAttributeTarget t: WriteSubAttribute(doc, kind, t, value); break;
            case ElementsTarget t when kind == PatchOperationType.Remove: RemoveElements(doc, t); break;
            case ElementsTarget t: WriteElements(doc, kind, t, value); break;
        }
        CheckMutability(resolved.Attribute, before, PatchTargets.Get(doc, resolved), target.Text);
    }

    /// <summary>
    /// A bare extension URN as path (or as a key of a path-less value): add/replace apply each attribute of
    /// the object as its own target, so the extension's other attributes are kept; remove clears it.
    /// </summary>
    private void ApplyToExtension(JsonObject doc, ResourceTypeDefinition rt, PatchOperationType kind, ExtensionTarget ext, JsonNode? value)
    {
        if (kind == PatchOperationType.Remove || value is null)
        {
            if (kind == PatchOperationType.Add) return;
            if (rt.SchemaExtensions.Any(e => e.Required && e.Schema == ext.Urn))
                throw ScimException.Mutability($"Extension \"{ext.Urn}\" is required for {rt.Name} and cannot be removed");
            // Attribute by attribute, so required, read-only and immutable extension attributes are protected.
            if (ResourceShaper.Container(doc, ext.Urn, create: false) is { } container)
                foreach (var name in container.Select(kv => kv.Key).ToArray())
                    ApplyPath(doc, rt, PatchOperationType.Remove, new PatchPath(new AttributePath(ext.Urn, name, null), null, null), null);
            return;
        }
        if (value is not JsonObject attrs)
            throw ScimException.InvalidValue($"\"{ext.Text}\" needs an object of the extension's attributes");
        foreach (var (key, v) in attrs)
        {
            var p = AttributePath.TryParse(key);
            if (p is null || p.SchemaUrn is not null && !string.Equals(p.SchemaUrn, ext.Urn, StringComparison.OrdinalIgnoreCase))
                throw ScimException.InvalidPath($"\"{key}\" is not an attribute of extension \"{ext.Urn}\"");
            ApplyPath(doc, rt, kind, new PatchPath(new AttributePath(ext.Urn, p.Name, p.SubAttribute), null, null), v);
        }
    }

    /// <summary>
    /// Checked on the attribute's value before and after each operation (RFC 7643 §2.2): required
    /// attributes cannot be unassigned; immutable ones (or immutable sub-attributes of a single-valued
    /// complex attribute) can be set once but not changed. Multi-valued values are checked in place.
    /// </summary>
    private static void CheckMutability(SchemaAttribute attr, JsonNode? before, JsonNode? after, string text)
    {
        if (attr.Required && before is not null && after is null)
            throw ScimException.Mutability($"\"{text}\": attribute \"{attr.Name}\" is required and cannot be removed");
        if (attr.Mutability == Mutability.Immutable && before is not null && !JsonNode.DeepEquals(before, after))
            throw ScimException.Mutability($"\"{text}\": attribute \"{attr.Name}\" is immutable and already has a value");
        if (attr.MultiValued || !attr.IsComplex) return;
        foreach (var sub in attr.SubAttributes.Where(s => s.Mutability == Mutability.Immutable))
            if ((before as JsonObject)?[sub.Name] is { } old && !JsonNode.DeepEquals(old, (after as JsonObject)?[sub.Name]))
                throw ScimException.Mutability($"\"{text}\": sub-attribute \"{attr.Name}.{sub.Name}\" is immutable and already has a value");
    }

    private static bool IsEchoOf(JsonNode? value, string? resourceId) =>
        resourceId is not null && value is JsonValue v && v.TryGetValue<string>(out var id) && id == resourceId;

    private static string Name(PatchOperationType op) => op.ToString().ToLowerInvariant();
}
