using System.Globalization;
using System.Text.RegularExpressions;

namespace ScimSync.Protocol.Filtering;

/// <summary>
/// Reads SCIM dateTime values (RFC 7643 §2.3.5: xsd:dateTime, e.g. "2011-05-13T04:42:34Z") as instants.
/// Filter values and stored values go through this one method so that both sides agree on what parses.
/// </summary>
public static partial class XsdDateTime
{
    /// <summary>
    /// True when <paramref name="text"/> has a date, a 'T' and a time with seconds, optionally fractional
    /// seconds and a zone. A missing zone means UTC. <paramref name="instant"/> is in UTC (offset zero).
    /// </summary>
    public static bool TryParse(string? text, out DateTimeOffset instant)
    {
        instant = default;
        // DateTimeOffset.TryParse alone also reads "May 13, 2011" or a bare date as midnight; the shape
        // check keeps a filter like `meta.created gt "2011"` an error rather than a silent guess.
        if (text is null || !Shape().IsMatch(text)) return false;
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            return false;
        instant = parsed;
        return true;
    }

    // [0-9] rather than \d: .NET's \d also matches non-ASCII digits.
    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
