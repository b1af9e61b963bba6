using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Resources;

/// <summary>Cuts a full resource representation down to what a response may carry.</summary>
public sealed class ResourceProjector(SchemaRegistry registry)
{
    /// <param name="full">Full representation with id, meta, members/groups; modified in place and returned.</param>
    /// <param name="requested">
    /// Canonical top-level names the client sent in the write request; <c>returned=request</c> attributes
    /// among them are returned (RFC 7643 §7).
    /// </param>
    public JsonObject Project(JsonObject full, ResourceTypeDefinition rt, AttributeSelection selection, IReadOnlySet<string>? requested = null)
    {
        var includeSet = selection.Attributes.Count == 0 ? null : Bind(rt, selection.Attributes);
        var excludeSet = selection.Excluded.Count == 0 ? null : Bind(rt, selection.Excluded);
        ProjectContainer(full, registry.CoreSchemaOf(rt), null, includeSet, excludeSet, requested, isRoot: true);
        foreach (var ext in rt.SchemaExtensions)
        {
            if (full[ext.Schema] is not JsonObject c) continue;
            var wholeIncluded = includeSet?.Any(r => r.WholeExtension == ext.Schema) ?? false;
            var wholeExcluded = excludeSet?.Any(r => r.WholeExtension == ext.Schema) ?? false;
            if (wholeExcluded) { full.Remove(ext.Schema); continue; }
            ProjectContainer(c, registry.FindSchema(ext.Schema)!, ext.Schema, wholeIncluded ? null : includeSet, excludeSet, requested, isRoot: false);
            if (c.Count == 0) full.Remove(ext.Schema);
        }
        return full;
    }

    private sealed record Target(string? Container, string? Attribute, string? Sub, string? WholeExtension);

    private List<Target> Bind(ResourceTypeDefinition rt, IReadOnlyList<AttributePath> paths)
    {
        var list = new List<Target>();
        foreach (var p in paths)
        {
            var ext = registry.AsExtensionUrn(rt, p);
            if (ext is not null) { list.Add(new Target(ext, null, null, ext)); continue; }
            ResolvedAttribute? r;
            try { r = registry.Resolve(rt, p); }
            catch (Errors.ScimException) { r = null; }
            if (r is null) continue;
            list.Add(new Target(r.ContainerUrn, r.Attribute.Name, r.SubAttribute?.Name, null));
        }
        return list;
    }

    private static void ProjectContainer(JsonObject container, ScimSchema schema, string? urn, List<Target>? include, List<Target>? exclude, IReadOnlySet<string>? requested, bool isRoot)
    {
        foreach (var (name, value) in container.ToArray())
        {
            if (isRoot && (name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))) continue;
            var attr = (isRoot ? CommonAttributes.Schema.FindAttribute(name) : null) ?? schema.FindAttribute(name);
            if (attr is null) continue;
            var keep = attr.Returned switch
            {
                Returned.Always => true,
                Returned.Never => false,
                Returned.Request => include is not null ? include.Any(t => Matches(t, urn, attr.Name)) : requested?.Contains(attr.Name) == true,
                _ => include is not null ? include.Any(t => Matches(t, urn, attr.Name))
                    : exclude is null || !exclude.Any(t => Matches(t, urn, attr.Name) && t.Sub is null),
            };
            if (!keep) { container.Remove(name); continue; }
            if (!attr.IsComplex || value is null || attr.Returned == Returned.Always) continue;
            var subsIncluded = include?.Where(t => Matches(t, urn, attr.Name) && t.Sub is not null).Select(t => t.Sub!).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var wholeIncluded = include is null || include.Any(t => Matches(t, urn, attr.Name) && t.Sub is null);
            var subsExcluded = exclude?.Where(t => Matches(t, urn, attr.Name) && t.Sub is not null).Select(t => t.Sub!).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var element in value is JsonArray arr ? arr.OfType<JsonObject>() : value is JsonObject o ? [o] : [])
            {
                foreach (var (subName, _) in element.ToArray())
                {
                    var sub = attr.FindSubAttribute(subName);
                    var keepSub = sub is null || sub.Returned switch
                    {
                        Returned.Always => true,
                        Returned.Never => false,
                        _ => (wholeIncluded || subsIncluded!.Contains(subName)) && !(subsExcluded?.Contains(subName) ?? false)
                             && (sub.Returned != Returned.Request || subsIncluded?.Contains(subName) == true),
                    };
                    if (!keepSub) element.Remove(subName);
                }
            }
        }
    }

    private static bool Matches(Target t, string? urn, string attr) =>
        t.WholeExtension is null && string.Equals(t.Container, urn, StringComparison.OrdinalIgnoreCase)
        && string.Equals(t.Attribute, attr, StringComparison.OrdinalIgnoreCase);
}
