using System.Collections.Frozen;

namespace ScimSync.Protocol.Schemas;

/// <summary>A schema definition (RFC 7643 §7): a URN and its attributes.</summary>
public sealed record ScimSchema
{
    private FrozenDictionary<string, SchemaAttribute>? _byName;

    public required string Id { get; init; }
    public string? Name { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<SchemaAttribute> Attributes { get; init; } = [];

    public SchemaAttribute? FindAttribute(string name)
    {
        _byName ??= Attributes.ToFrozenDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);
        return _byName.GetValueOrDefault(name);
    }
}
