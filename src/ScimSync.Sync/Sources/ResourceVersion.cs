using System.Globalization;

namespace ScimSync.Sync.Sources;

/// <summary>A source resource's version as a number, from its ETag (<c>W/"7"</c>), to tell a replayed change from a newer one.</summary>
public static class ResourceVersion
{
    public static long? Parse(string? etag) =>
        etag is not null && long.TryParse(etag.Replace("W/", "", StringComparison.Ordinal).Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;
}
