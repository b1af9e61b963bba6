namespace ScimSync.Protocol.Schemas;

public sealed record SchemaExtension(string Schema, bool Required);

/// <summary>A resource type (RFC 7643 §6): a name, an endpoint, a core schema and its extensions.</summary>
public sealed record ResourceTypeDefinition
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    /// <summary>Endpoint relative to the SCIM root, with a leading slash: "/Users".</summary>
    public required string Endpoint { get; init; }
    public string? Description { get; init; }
    public required string Schema { get; init; }
    public IReadOnlyList<SchemaExtension> SchemaExtensions { get; init; } = [];

    public bool IsExtension(string urn) =>
        SchemaExtensions.Any(e => string.Equals(e.Schema, urn, StringComparison.OrdinalIgnoreCase));
}
