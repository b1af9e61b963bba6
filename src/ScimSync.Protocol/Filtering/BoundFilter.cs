using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>
/// A filter bound to one resource type: paths resolved to definitions, values converted to the
/// attribute's type, and the RFC's shorthands normalised away. Both the in-memory evaluator and the SQL
/// compilers consume this form, so they share every semantic decision made by <see cref="FilterBinder"/>:
/// <list type="bullet">
/// <item><c>ne</c> is rewritten to <c>not eq</c>; <c>eq null</c> to <c>not pr</c>, <c>ne null</c> to <c>pr</c>.</item>
/// <item><c>emails co "x"</c> (complex multi-valued without sub-attribute) means <c>emails.value co "x"</c>.</item>
/// <item>An attribute the type does not define (root queries) becomes <see cref="BoundConstant"/> false.</item>
/// </list>
/// </summary>
public abstract record BoundFilter;

/// <summary>
/// A comparison on an attribute. <see cref="Operator"/> is never <c>Ne</c>. When the attribute is
/// multi-valued (or a sub-attribute of a multi-valued complex attribute) it holds when any value matches.
/// Inside a <see cref="BoundValuePath"/> it applies to the one value being tested.
/// </summary>
public sealed record BoundComparison(ResolvedAttribute Attribute, ComparisonOperator Operator, BoundValue Value) : BoundFilter;

/// <summary>The attribute has a non-null, non-empty value (RFC 7644 §3.4.2.2 "pr").</summary>
public sealed record BoundPresent(ResolvedAttribute Attribute) : BoundFilter;

public sealed record BoundAnd(BoundFilter Left, BoundFilter Right) : BoundFilter;

public sealed record BoundOr(BoundFilter Left, BoundFilter Right) : BoundFilter;

public sealed record BoundNot(BoundFilter Inner) : BoundFilter;

/// <summary>Some single value of the multi-valued complex <see cref="Attribute"/> satisfies <see cref="Inner"/>.</summary>
public sealed record BoundValuePath(ResolvedAttribute Attribute, BoundFilter Inner) : BoundFilter;

public sealed record BoundConstant(bool Value) : BoundFilter;

/// <summary>
/// A comparison value converted to the attribute's type. For strings that are not caseExact,
/// <see cref="Text"/> is already folded with <see cref="Resources.ScimText.Fold"/>; for identifiers
/// (<see cref="Identifier"/>), it is already the <see cref="Resources.ScimText.UniquenessKey"/>.
/// </summary>
public sealed record BoundValue(AttributeType Type, string? Text, decimal Number, bool Boolean, DateTimeOffset Instant)
{
    public bool CaseExact { get; init; }

    /// <summary>
    /// Compared as an identifier (userName): by the key under which uniqueness is enforced, so that a filter
    /// finds every account a create would call a duplicate.
    /// </summary>
    public bool Identifier { get; init; }
}
