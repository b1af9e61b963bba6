using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;

namespace ScimSync.Sync.Correlation;

/// <summary>
/// midPoint's synchronization situations, seen from an account on a target:
/// <list type="bullet">
/// <item><see cref="Linked"/>: the engine knows which source account owns it.</item>
/// <item><see cref="Unlinked"/>: exactly one source account matches it by a correlation key, but no link exists yet.</item>
/// <item><see cref="Unmatched"/>: no source account in scope matches it: someone else's account (customers, manual accounts).</item>
/// <item><see cref="Disputed"/>: more than one source account could own it, or its owner already owns another account.</item>
/// <item><see cref="Deleted"/>: a linked account disappeared from the target.</item>
/// </list>
/// </summary>
public enum Situation { Linked, Unlinked, Unmatched, Disputed, Deleted }

/// <summary>An attribute compared between the account a target holds and the account the engine would create.</summary>
public enum CorrelationKey { ExternalId, UserName, Email }

public static class Correlator
{
    public static IReadOnlyList<CorrelationKey> Defaults { get; } = [CorrelationKey.ExternalId, CorrelationKey.UserName];

    /// <summary>
    /// The values an account offers for a key, folded (user names and emails are case-insensitive in SCIM;
    /// externalId is case-exact, RFC 7643 §3.1).
    /// </summary>
    public static IEnumerable<string> ValuesOf(JsonObject account, CorrelationKey key)
    {
        switch (key)
        {
            case CorrelationKey.ExternalId:
                if (account["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) && ext.Length > 0) yield return ext;
                break;
            case CorrelationKey.UserName:
                if (account["userName"] is JsonValue u && u.TryGetValue<string>(out var name) && name.Length > 0) yield return name.ToLowerInvariant();
                break;
            case CorrelationKey.Email:
                if (MappedPath.Parse("emails").Read(account) is JsonArray emails)
                    foreach (var item in emails)
                        if (item?["value"] is JsonValue v && v.TryGetValue<string>(out var mail) && mail.Length > 0) yield return mail.ToLowerInvariant();
                break;
        }
    }
}
