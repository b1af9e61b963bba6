using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>
/// A parsed SCIM filter (RFC 7644 §3.4.2.2, Figure 1). The tree is syntax only: binding the attribute
/// paths to a resource type's schema happens when it is evaluated or compiled.
/// </summary>
public abstract record ScimFilter;

public enum ComparisonOperator { Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le }

/// <summary><c>attrPath SP compareOp SP compValue</c>.</summary>
public sealed record ComparisonFilter(AttributePath Path, ComparisonOperator Operator, FilterValue Value) : ScimFilter;

/// <summary><c>attrPath SP "pr"</c>.</summary>
public sealed record PresentFilter(AttributePath Path) : ScimFilter;

public sealed record AndFilter(ScimFilter Left, ScimFilter Right) : ScimFilter;

public sealed record OrFilter(ScimFilter Left, ScimFilter Right) : ScimFilter;

public sealed record NotFilter(ScimFilter Inner) : ScimFilter;

/// <summary>
/// <c>attrPath "[" valFilter "]"</c>: every comparison inside applies to the same value of the
/// multi-valued attribute <see cref="Path"/> (RFC 7644 §3.4.2.2). Paths inside <see cref="Inner"/> are
/// relative to one value: their <see cref="AttributePath.Name"/> is the sub-attribute name.
/// </summary>
public sealed record ValuePathFilter(AttributePath Path, ScimFilter Inner) : ScimFilter;

public static class FilterTerms
{
    /// <summary>Comparisons and presence tests in the filter, those inside value paths included.</summary>
    public static int Count(ScimFilter filter) => filter switch
    {
        AndFilter a => Count(a.Left) + Count(a.Right),
        OrFilter o => Count(o.Left) + Count(o.Right),
        NotFilter n => Count(n.Inner),
        ValuePathFilter v => Count(v.Inner),
        _ => 1,
    };
}
