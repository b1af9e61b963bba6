using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>
/// <c>PATH = attrPath / valuePath [subAttr]</c> (RFC 7644 §3.5.2). Without a filter, <see cref="Attribute"/>
/// may carry a sub-attribute ("name.givenName"). With a filter, <see cref="Attribute"/> names the
/// multi-valued attribute and <see cref="SubAttribute"/> the optional part after the bracket
/// (<c>emails[type eq "work"].value</c>).
/// </summary>
public sealed record PatchPath(AttributePath Attribute, ScimFilter? ValueFilter, string? SubAttribute)
{
    public override string ToString()
    {
        var s = Attribute.ToString();
        if (ValueFilter is not null) s += "[" + FilterFormatter.Format(ValueFilter) + "]";
        if (SubAttribute is not null) s += "." + SubAttribute;
        return s;
    }
}
