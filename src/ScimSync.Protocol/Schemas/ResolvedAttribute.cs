namespace ScimSync.Protocol.Schemas;

/// <summary>
/// An attribute path bound to its definition for one resource type. <see cref="ContainerUrn"/> is null
/// for core and common attributes and names the extension object for extension attributes.
/// </summary>
public sealed record ResolvedAttribute(
    ScimSchema Schema,
    string? ContainerUrn,
    SchemaAttribute Attribute,
    SchemaAttribute? SubAttribute)
{
    /// <summary>The definition the path finally points at (the sub-attribute when there is one).</summary>
    public SchemaAttribute Target => SubAttribute ?? Attribute;

    /// <summary>Canonical spelling, e.g. "name.givenName" or "urn:...:enterprise:2.0:User:manager.value".</summary>
    public string CanonicalPath
    {
        get
        {
            var core = SubAttribute is null ? Attribute.Name : Attribute.Name + "." + SubAttribute.Name;
            return ContainerUrn is null ? core : ContainerUrn + ":" + core;
        }
    }
}
