namespace ScimSync.Feed.Delivery;

/// <summary>
/// The SSRF guard for push delivery: a destination must match an allow-list entry by scheme, host and
/// port (parsed, never by string prefix, so "http://127.0.0.1:80@evil.example" cannot pass as loopback).
/// URLs with user information are refused outright (RFC 7644 §7.1).
/// </summary>
public static class PushDestination
{
    public static bool IsAllowed(string url, IReadOnlyList<string> allowList, out string reason)
    {
        reason = "";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
        {
            reason = "pushUrl must be an absolute http(s) URL";
            return false;
        }
        if (u.UserInfo.Length > 0)
        {
            reason = "pushUrl must not contain user information";
            return false;
        }
        foreach (var entry in allowList)
        {
            var anyPort = entry.EndsWith(":*", StringComparison.Ordinal);
            if (!Uri.TryCreate(anyPort ? entry[..^2] : entry, UriKind.Absolute, out var a)) continue;
            if (!a.Scheme.Equals(u.Scheme, StringComparison.OrdinalIgnoreCase)) continue;
            if (!a.IdnHost.Equals(u.IdnHost, StringComparison.OrdinalIgnoreCase)) continue;
            if (!anyPort && a.Port != u.Port) continue;
            return true;
        }
        reason = allowList.Count == 0
            ? "push delivery is disabled: start the server with --push-allow to name permitted destinations"
            : $"{u.Scheme}://{u.Authority} is not in the push allow-list";
        return false;
    }
}
