using System.Security.Cryptography;
using System.Text;
using ScimSync.Store.Tokens;

namespace ScimSync.Server.Security;

/// <summary>
/// Issues, checks and revokes bearer tokens. Secrets are 256 random bits, so a single SHA-256 is a
/// sufficient hash (slow hashes protect low-entropy passwords, not random keys); only the hash is stored.
/// Every request looks its token up in the store (one indexed read), so a revocation, from this process or
/// from `scimsync token revoke` beside it, takes effect on the next request.
/// </summary>
public sealed class TokenService(ITokenStore store, TimeProvider time, string? adminToken)
{
    public const string Prefix = "scimsync_";

    /// <summary>The writer name of changes made with the environment's admin token (SCIMSYNC_ADMIN_TOKEN), which has no name of its own.</summary>
    public const string AdminWriter = "admin";
    private readonly byte[]? _adminHash = adminToken is { Length: > 0 } ? SHA256.HashData(Encoding.UTF8.GetBytes(adminToken)) : null;

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>A token with scopes a person asked for: only <see cref="Scopes.All"/>.</summary>
    /// <exception cref="ArgumentException">An unknown scope.</exception>
    public Task<(string Secret, AccessToken Token)> CreateAsync(string name, IReadOnlyList<string> scopes, string? userId, DateTimeOffset? expires, CancellationToken ct)
    {
        if (scopes.Count == 0) throw new ArgumentException($"Name at least one scope: {string.Join(", ", Scopes.All)}");
        foreach (var s in scopes)
            if (!Scopes.IsGrantable(s)) throw new ArgumentException($"Unknown scope \"{s}\"; known scopes: {string.Join(", ", Scopes.All)}");
        return IssueAsync(name, scopes, userId, expires, ct);
    }

    /// <summary>The poll token of a subscription: it reads and acknowledges that feed, nothing else.</summary>
    public Task<(string Secret, AccessToken Token)> CreatePollTokenAsync(string name, string subscriptionId, CancellationToken ct) =>
        IssueAsync(name, [Scopes.Feed(subscriptionId)], null, null, ct);

    /// <returns>False when no active token has that id or name.</returns>
    public Task<bool> RevokeAsync(string idOrName, CancellationToken ct) => store.RevokeAsync(idOrName, time.GetUtcNow(), ct);

    /// <summary>Revokes every token holding the scope (a deleted subscription's poll token).</summary>
    public Task<int> RevokeScopeAsync(string scope, CancellationToken ct) => store.RevokeByScopeAsync(scope, time.GetUtcNow(), ct);

    public Task<IReadOnlyList<AccessToken>> ListAsync(CancellationToken ct) => store.ListAsync(ct);

    private async Task<(string Secret, AccessToken Token)> IssueAsync(string name, IReadOnlyList<string> scopes, string? userId, DateTimeOffset? expires, CancellationToken ct)
    {
        var secret = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var token = new AccessToken(Guid.CreateVersion7().ToString("N")[..16], name, Hash(secret), scopes.Distinct().ToArray(), userId, time.GetUtcNow(), expires, null);
        await store.AddAsync(token, ct).ConfigureAwait(false);
        return (secret, token);
    }

    public async Task<ScimCaller?> AuthenticateAsync(string secret, CancellationToken ct)
    {
        var hashBytes = SHA256.HashData(Encoding.UTF8.GetBytes(secret));
        if (_adminHash is not null && CryptographicOperations.FixedTimeEquals(hashBytes, _adminHash))
            return new ScimCaller("admin-env", new HashSet<string>(Scopes.All), null) { Name = AdminWriter };
        var hash = Convert.ToHexStringLower(hashBytes);
        var now = time.GetUtcNow();
        var token = await store.FindByHashAsync(hash, ct).ConfigureAwait(false);
        if (token is null || token.Revoked is not null || token.Expires is { } exp && exp <= now) return null;
        return new ScimCaller(token.Id, new HashSet<string>(token.Scopes), token.UserId) { Name = token.Name };
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
