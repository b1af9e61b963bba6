using System.Collections.Frozen;

namespace ScimSync.Protocol.Schemas;

/// <summary>One attribute definition (RFC 7643 §7). Immutable; defaults follow RFC 7643 §2.2.</summary>
public sealed record SchemaAttribute
{
    private FrozenDictionary<string, SchemaAttribute>? _subByName;

    public required string Name { get; init; }
    public AttributeType Type { get; init; } = AttributeType.String;
    public bool MultiValued { get; init; }
    public string? Description { get; init; }
    public bool Required { get; init; }
    public bool CaseExact { get; init; }
    public Mutability Mutability { get; init; } = Mutability.ReadWrite;
    public Returned Returned { get; init; } = Returned.Default;
    public Uniqueness Uniqueness { get; init; } = Uniqueness.None;
    public IReadOnlyList<string> CanonicalValues { get; init; } = [];
    public IReadOnlyList<string> ReferenceTypes { get; init; } = [];
    public IReadOnlyList<SchemaAttribute> SubAttributes { get; init; } = [];

    public bool IsComplex => Type == AttributeType.Complex;

    /// <summary>Sub-attribute lookup; names are case-insensitive (RFC 7643 §2.1).</summary>
    public SchemaAttribute? FindSubAttribute(string name)
    {
        _subByName ??= SubAttributes.ToFrozenDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);
        return _subByName.GetValueOrDefault(name);
    }
}
