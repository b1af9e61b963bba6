using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>Binds a parsed filter to a resource type (see <see cref="BoundFilter"/> for the rules).</summary>
public static class FilterBinder
{
    /// <param name="strict">
    /// True on a single resource type endpoint: an unknown attribute is 400 invalidFilter. False for root
    /// queries across types, where an attribute a type does not define simply has no value there.
    /// </param>
    public static BoundFilter Bind(ScimFilter filter, ResourceTypeDefinition rt, SchemaRegistry registry, bool strict) =>
        throw new NotImplementedException();
}
