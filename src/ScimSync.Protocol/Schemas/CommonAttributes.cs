namespace ScimSync.Protocol.Schemas;

/// <summary>
/// The attributes every resource has (RFC 7643 §3.1): <c>id</c>, <c>externalId</c>, <c>meta</c>, plus
/// <c>schemas</c>. They belong to no published schema, so they live in a pseudo-schema of their own.
/// </summary>
public static class CommonAttributes
{
    public const string SchemaId = "urn:scimsync:common";

    public static readonly SchemaAttribute Schemas = new()
    {
        Name = "schemas", Type = AttributeType.Reference, MultiValued = true, Required = true,
        CaseExact = false, Mutability = Mutability.ReadWrite, Returned = Returned.Always,
        ReferenceTypes = ["uri"],
    };

    public static readonly SchemaAttribute Id = new()
    {
        Name = "id", CaseExact = true, Mutability = Mutability.ReadOnly, Returned = Returned.Always,
        Uniqueness = Uniqueness.Server,
        Description = "Unique identifier for the SCIM resource as defined by the service provider.",
    };

    public static readonly SchemaAttribute ExternalId = new()
    {
        Name = "externalId", CaseExact = true, Mutability = Mutability.ReadWrite,
        Description = "Identifier of the resource as defined by the provisioning client.",
    };

    public static readonly SchemaAttribute Meta = new()
    {
        Name = "meta", Type = AttributeType.Complex, Mutability = Mutability.ReadOnly,
        Description = "Resource metadata.",
        SubAttributes =
        [
            new() { Name = "resourceType", CaseExact = true, Mutability = Mutability.ReadOnly },
            new() { Name = "created", Type = AttributeType.DateTime, Mutability = Mutability.ReadOnly },
            new() { Name = "lastModified", Type = AttributeType.DateTime, Mutability = Mutability.ReadOnly },
            new() { Name = "location", Type = AttributeType.Reference, CaseExact = true, Mutability = Mutability.ReadOnly, ReferenceTypes = ["uri"] },
            new() { Name = "version", CaseExact = true, Mutability = Mutability.ReadOnly },
        ],
    };

    public static readonly ScimSchema Schema = new()
    {
        Id = SchemaId,
        Name = "Common",
        Attributes = [Schemas, Id, ExternalId, Meta],
    };
}
