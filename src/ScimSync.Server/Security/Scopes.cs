namespace ScimSync.Server.Security;

public static class Scopes
{
    public const string Read = "scim:read";
    public const string Write = "scim:write";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Read, Write, Admin];

    /// <summary>The scope of a subscription's own poll token: it can read and acknowledge that feed only.</summary>
    public static string Feed(string subscriptionId) => "feed:" + subscriptionId;

    public static bool IsKnown(string s) => All.Contains(s) || s.StartsWith("feed:", StringComparison.Ordinal) && s.Length > 5;
}

/// <summary>Who is calling: the token's id, its scopes, and the user it is bound to (for /Me).</summary>
public sealed record ScimCaller(string TokenId, IReadOnlySet<string> Scopes, string? UserId)
{
    public bool Has(string scope) => Scopes.Contains(scope) || Scopes.Contains(Security.Scopes.Admin);
}
