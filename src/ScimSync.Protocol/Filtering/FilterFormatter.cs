namespace ScimSync.Protocol.Filtering;

/// <summary>Writes a filter back as text that <see cref="ScimFilterParser"/> reads to an equal tree.</summary>
public static class FilterFormatter
{
    public static string Format(ScimFilter filter) => filter switch
    {
        ComparisonFilter c => $"{c.Path} {c.Operator.ToString().ToLowerInvariant()} {c.Value}",
        PresentFilter p => $"{p.Path} pr",
        AndFilter a => $"({Format(a.Left)} and {Format(a.Right)})",
        OrFilter o => $"({Format(o.Left)} or {Format(o.Right)})",
        NotFilter n => $"not ({Format(n.Inner)})",
        ValuePathFilter v => $"{v.Path}[{Format(v.Inner)}]",
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };
}
