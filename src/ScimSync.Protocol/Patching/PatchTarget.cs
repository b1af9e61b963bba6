using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>What one PATCH path points at, bound to the resource type's schema.</summary>
internal abstract record PatchTarget(string Text);

/// <summary>A bare extension URN: the whole extension object.</summary>
internal sealed record ExtensionTarget(string Text, string Urn) : PatchTarget(Text);

/// <summary>A whole attribute, single- or multi-valued ("userName", "members", "urn:...:manager").</summary>
internal sealed record AttributeTarget(string Text, ResolvedAttribute Resolved) : PatchTarget(Text);

/// <summary>A sub-attribute of a single-valued complex attribute ("name.givenName").</summary>
internal sealed record SubAttributeTarget(string Text, ResolvedAttribute Resolved, SchemaAttribute Sub) : PatchTarget(Text);

/// <summary>
/// Values of a multi-valued complex attribute: those matching <see cref="Filter"/> (every value when it is
/// null, as for "emails.display"), optionally narrowed to one sub-attribute.
/// </summary>
internal sealed record ElementsTarget(
    string Text, ResolvedAttribute Resolved, BoundFilter? Filter, ScimFilter? RawFilter, SchemaAttribute? Sub)
    : PatchTarget(Text)
{
    public bool Matches(JsonObject element)
    {
        if (Filter is null) return true;
        // The evaluator reads whole resources, so each value is tested inside a resource that holds only it;
        // the bound filter is a value path, so "any value matches" then means "this value matches".
        var probe = new JsonObject { [Resolved.Attribute.Name] = new JsonArray(element.DeepClone()) };
        if (Resolved.ContainerUrn is not null) probe = new JsonObject { [Resolved.ContainerUrn] = probe };
        return FilterEvaluator.Matches(Filter, probe);
    }
}

internal static class PatchTargets
{
    public static PatchTarget Resolve(SchemaRegistry registry, ResourceTypeDefinition rt, PatchPath path)
    {
        var text = path.ToString();
        if (path.ValueFilter is null && path.SubAttribute is null && registry.AsExtensionUrn(rt, path.Attribute) is { } urn)
            return new ExtensionTarget(text, urn);

        var resolved = registry.Resolve(rt, path.Attribute)
            ?? throw ScimException.InvalidPath($"\"{text}\" does not name an attribute of resource type {rt.Name}");
        CheckWritable(resolved.Attribute, text);

        if (path.ValueFilter is not null)
        {
            if (resolved.SubAttribute is not null || !(resolved.Attribute.MultiValued && resolved.Attribute.IsComplex))
                throw ScimException.InvalidPath($"\"{text}\": a filter in brackets applies only to a multi-valued complex attribute");
            var bound = FilterBinder.Bind(new ValuePathFilter(path.Attribute, path.ValueFilter), rt, registry, strict: true);
            SchemaAttribute? sub = null;
            if (path.SubAttribute is not null)
            {
                sub = resolved.Attribute.FindSubAttribute(path.SubAttribute)
                    ?? throw ScimException.InvalidPath($"\"{text}\": \"{resolved.Attribute.Name}\" has no sub-attribute \"{path.SubAttribute}\"");
                CheckWritable(sub, text);
            }
            return new ElementsTarget(text, resolved, bound, path.ValueFilter, sub);
        }

        if (resolved.SubAttribute is null) return new AttributeTarget(text, resolved);
        CheckWritable(resolved.SubAttribute, text);
        var parent = resolved with { SubAttribute = null };
        return resolved.Attribute.MultiValued
            ? new ElementsTarget(text, parent, null, null, resolved.SubAttribute)
            : new SubAttributeTarget(text, parent, resolved.SubAttribute);
    }

    /// <summary>
    /// PUT silently drops read-only input, but PATCH names its target explicitly, so RFC 7644 §3.5.2 makes
    /// it an error. "schemas" is read-only here too: it is recomputed from the data after every PATCH.
    /// </summary>
    public static void CheckWritable(SchemaAttribute attr, string text)
    {
        if (attr.Mutability == Mutability.ReadOnly || ReferenceEquals(attr, CommonAttributes.Schemas))
            throw ScimException.Mutability($"\"{text}\" is read-only and cannot be modified");
    }

    /// <summary>Values may carry read-only sub-attributes (manager.displayName); setting them is refused like a path would be.</summary>
    public static void CheckNoReadOnlySubAttributes(SchemaAttribute attr, JsonNode? value, string text)
    {
        if (value is null || !attr.IsComplex) return;
        foreach (var obj in value is JsonArray a ? a.OfType<JsonObject>() : value is JsonObject o ? [o] : [])
            foreach (var (name, _) in obj)
                if (attr.FindSubAttribute(name) is { Mutability: Mutability.ReadOnly } sub)
                    throw ScimException.Mutability($"\"{text}\": sub-attribute \"{sub.Name}\" is read-only and cannot be modified");
    }

    /// <summary>The container holding the attribute, or null when its extension object does not exist.</summary>
    public static JsonNode? Get(JsonObject doc, ResolvedAttribute r) =>
        ResourceShaper.Container(doc, r.ContainerUrn, create: false)?[r.Attribute.Name];

    /// <summary>Sets or (for null, [] and {}) unassigns the attribute; empty containers are dropped later by Normalize.</summary>
    public static void Set(JsonObject doc, ResolvedAttribute r, JsonNode? value)
    {
        var empty = value is null || value is JsonArray { Count: 0 } || value is JsonObject { Count: 0 };
        var container = ResourceShaper.Container(doc, r.ContainerUrn, create: !empty);
        if (container is null) return;
        if (empty) container.Remove(r.Attribute.Name);
        // A list edited in place is already there; assigning a node to its own slot would re-parent it.
        else if (!ReferenceEquals(container[r.Attribute.Name], value)) container[r.Attribute.Name] = value;
    }
}
