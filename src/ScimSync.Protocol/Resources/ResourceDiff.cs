using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Resources;

/// <summary>
/// Which attributes a write changed, by canonical path. Single-valued complex attributes are reported per
/// sub-attribute ("name.givenName") when they existed before and after, so that event consumers (RFC 9967
/// "attributes") see the finest useful granularity; everything else is reported as a whole attribute.
/// </summary>
public static class ResourceDiff
{
    public static IReadOnlyList<string> ChangedAttributes(ResourceShaper shaper, ResourceTypeDefinition rt, JsonObject before, JsonObject after)
    {
        var result = new List<string>();
        // "schemas" is derived from the data; the extension attribute that moved it is reported instead.
        Compare(CommonAttributes.Schema.Attributes.Where(a => !ReferenceEquals(a, CommonAttributes.Schemas)), before, after, null, result);
        foreach (var (schema, urn) in shaper.SchemasOf(rt))
            Compare(schema.Attributes, ResourceShaper.Container(before, urn, create: false),
                ResourceShaper.Container(after, urn, create: false), urn, result);
        return result;
    }

    private static void Compare(IEnumerable<SchemaAttribute> attrs, JsonObject? before, JsonObject? after, string? urn, List<string> result)
    {
        foreach (var attr in attrs)
        {
            var b = before?[attr.Name];
            var a = after?[attr.Name];
            if (JsonNode.DeepEquals(b, a)) continue;
            var path = urn is null ? attr.Name : urn + ":" + attr.Name;
            if (!attr.MultiValued && attr.IsComplex && b is JsonObject bo && a is JsonObject ao)
            {
                foreach (var sub in attr.SubAttributes)
                    if (!JsonNode.DeepEquals(bo[sub.Name], ao[sub.Name])) result.Add(path + "." + sub.Name);
                continue;
            }
            result.Add(path);
        }
    }
}
