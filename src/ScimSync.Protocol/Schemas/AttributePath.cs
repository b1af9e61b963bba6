namespace ScimSync.Protocol.Schemas;

/// <summary>
/// <c>attrPath = [URI ":"] ATTRNAME *1subAttr</c> (RFC 7644 §3.10), split syntactically. Names keep the
/// client's spelling; resolution against a schema is case-insensitive.
/// </summary>
public sealed record AttributePath(string? SchemaUrn, string Name, string? SubAttribute)
{
    public override string ToString()
    {
        var core = SubAttribute is null ? Name : Name + "." + SubAttribute;
        return SchemaUrn is null ? core : SchemaUrn + ":" + core;
    }

    /// <summary>
    /// Splits an attribute path. URNs contain dots and colons ("...:2.0:User"), attribute names contain
    /// neither, so the URN ends at the last colon and the sub-attribute starts after the first dot of the rest.
    /// Returns null when the text is not a syntactically valid path.
    /// </summary>
    public static AttributePath? TryParse(string text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        string? urn = null;
        var rest = text;
        if (text.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            var colon = text.LastIndexOf(':');
            urn = text[..colon];
            rest = text[(colon + 1)..];
            // "urn:a:b:2.0:User" alone names an extension container: its last segment holds a dot-free
            // name that is not an attribute. The resolver tells the two apart with the schema registry.
        }
        var dot = rest.IndexOf('.');
        var name = dot < 0 ? rest : rest[..dot];
        var sub = dot < 0 ? null : rest[(dot + 1)..];
        if (!IsAttrName(name) || (sub is not null && !IsAttrName(sub))) return null;
        return new AttributePath(urn, name, sub);
    }

    /// <summary><c>ATTRNAME = ALPHA *(nameChar)</c>, <c>nameChar = "-" / "_" / DIGIT / ALPHA</c>; "$ref" is allowed too.</summary>
    public static bool IsAttrName(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return false;
        if (s.Equals("$ref", StringComparison.OrdinalIgnoreCase)) return true;
        if (!char.IsAsciiLetter(s[0])) return false;
        foreach (var c in s[1..])
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '$')) return false;
        return true;
    }
}
