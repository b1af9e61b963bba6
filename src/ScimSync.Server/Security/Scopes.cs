namespace ScimSync.Server.Security;

public static class Scopes
{
    public const string Read = "scim:read";
    public const string Write = "scim:write";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Read, Write, Admin];

    /// <summary>
    /// The scope of a subscription's own poll token: it can read and acknowledge that feed only. Issued with
    /// the subscription, never asked for by name.
    /// </summary>
    public static string Feed(string subscriptionId)
    {
        if (subscriptionId.Length == 0 || !subscriptionId.All(char.IsAsciiLetterOrDigit)) throw new ArgumentException("not a subscription id", nameof(subscriptionId));
        return "feed:" + subscriptionId;
    }

    /// <summary>
    /// The scopes a person may ask for (CLI, admin API): exactly these strings. Anything else is refused,
    /// including "feed:..." and strings with spaces: scopes are stored space-separated, so "feed:x admin"
    /// asked for as one scope would have come back as two, one of them admin.
    /// </summary>
    public static bool IsGrantable(string s) => All.Contains(s);
}

/// <summary>Who is calling: the token's id, its scopes, and the user it is bound to (for /Me).</summary>
public sealed record ScimCaller(string TokenId, IReadOnlySet<string> Scopes, string? UserId)
{
    /// <summary>
    /// The credential's name as operators know it (the token's name; "admin" for the environment's admin token):
    /// recorded as the writer of each change in the journal, which ids would not tell a person.
    /// </summary>
    public string? Name { get; init; }

    public bool Has(string scope) => Scopes.Contains(scope) || Scopes.Contains(Security.Scopes.Admin);
}
