using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Resources;

/// <summary>
/// Which attributes a response carries (RFC 7644 §3.4.2.5, §3.9, RFC 7643 §7 "returned"). The
/// <c>attributes</c> and <c>excludedAttributes</c> lists are mutually exclusive; names are
/// case-insensitive; a name the resource type does not know is ignored.
/// </summary>
public sealed record AttributeSelection(IReadOnlyList<AttributePath> Attributes, IReadOnlyList<AttributePath> Excluded)
{
    public static readonly AttributeSelection Default = new([], []);

    public bool IsDefault => Attributes.Count == 0 && Excluded.Count == 0;

    public static AttributeSelection Parse(string? attributes, string? excluded)
    {
        var a = Split(attributes);
        var e = Split(excluded);
        if (a.Count > 0 && e.Count > 0)
            throw ScimException.InvalidValue("\"attributes\" and \"excludedAttributes\" cannot be used together");
        return a.Count == 0 && e.Count == 0 ? Default : new AttributeSelection(a, e);
    }

    public static AttributeSelection FromLists(IEnumerable<string>? attributes, IEnumerable<string>? excluded) =>
        Parse(attributes is null ? null : string.Join(',', attributes), excluded is null ? null : string.Join(',', excluded));

    private static List<AttributePath> Split(string? list)
    {
        var result = new List<AttributePath>();
        if (string.IsNullOrWhiteSpace(list)) return result;
        foreach (var raw in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var p = AttributePath.TryParse(raw)
                ?? throw ScimException.InvalidValue($"\"{raw}\" is not a valid attribute name");
            result.Add(p);
        }
        return result;
    }

    /// <summary>
    /// Whether a response could include the core attribute <paramref name="attributeName"/>; used to skip
    /// loading large attributes (members, groups) that the response will not carry.
    /// </summary>
    public bool Wants(string attributeName, Returned returned)
    {
        if (returned == Returned.Always) return true;
        if (Attributes.Count > 0) return Attributes.Any(p => Names(p, attributeName));
        if (Excluded.Any(p => Names(p, attributeName) && p.SubAttribute is null)) return false;
        return returned == Returned.Default;
    }

    private static bool Names(AttributePath p, string attributeName) =>
        string.Equals(p.Name, attributeName, StringComparison.OrdinalIgnoreCase);
}
