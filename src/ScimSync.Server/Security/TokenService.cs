using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using ScimSync.Store.Tokens;

namespace ScimSync.Server.Security;

/// <summary>
/// Issues and checks bearer tokens. Secrets are 256 random bits, so a single SHA-256 is a sufficient
/// hash (slow hashes protect low-entropy passwords, not random keys); only the hash is stored.
/// Lookups are cached for a few seconds so that a revocation made by another process takes effect
/// quickly without a database read per request.
/// </summary>
public sealed class TokenService(ITokenStore store, TimeProvider time, string? adminToken)
{
    public const string Prefix = "scimsync_";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (AccessToken? Token, DateTimeOffset Until)> _cache = new();
    private readonly byte[]? _adminHash = adminToken is { Length: > 0 } ? SHA256.HashData(Encoding.UTF8.GetBytes(adminToken)) : null;

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public async Task<(string Secret, AccessToken Token)> CreateAsync(string name, IReadOnlyList<string> scopes, string? userId, DateTimeOffset? expires, CancellationToken ct)
    {
        foreach (var s in scopes)
            if (!Scopes.IsKnown(s)) throw new ArgumentException($"Unknown scope \"{s}\"; known scopes: {string.Join(", ", Scopes.All)}");
        var secret = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var token = new AccessToken(Guid.CreateVersion7().ToString("N")[..16], name, Hash(secret), scopes.Distinct().ToArray(), userId, time.GetUtcNow(), expires, null);
        await store.AddAsync(token, ct).ConfigureAwait(false);
        return (secret, token);
    }

    public async Task<ScimCaller?> AuthenticateAsync(string secret, CancellationToken ct)
    {
        var hashBytes = SHA256.HashData(Encoding.UTF8.GetBytes(secret));
        if (_adminHash is not null && CryptographicOperations.FixedTimeEquals(hashBytes, _adminHash))
            return new ScimCaller("admin-env", new HashSet<string>(Scopes.All), null);
        var hash = Convert.ToHexStringLower(hashBytes);
        var now = time.GetUtcNow();
        AccessToken? token;
        if (_cache.TryGetValue(hash, out var cached) && cached.Until > now)
        {
            token = cached.Token;
        }
        else
        {
            token = await store.FindByHashAsync(hash, ct).ConfigureAwait(false);
            if (_cache.Count > 10_000) _cache.Clear();
            _cache[hash] = (token, now + CacheFor);
        }
        if (token is null || token.Revoked is not null || token.Expires is { } exp && exp <= now) return null;
        return new ScimCaller(token.Id, new HashSet<string>(token.Scopes), token.UserId);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
