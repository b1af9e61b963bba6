using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace ScimSync.Events;

/// <summary>
/// A key that signs a subscription's SETs (a JWS, RFC 8417). <see cref="Secret"/> holds the HS256 shared
/// secret; <see cref="PrivateKeyPem"/> the RS256/ES256 key as PKCS#8 PEM, or, on a receiver that only verifies,
/// a public key PEM ("BEGIN PUBLIC KEY"), which <see cref="SetEncoder.Validate"/> accepts as well.
/// </summary>
public sealed record SigningKey(string Algorithm, string KeyId, byte[]? Secret, string? PrivateKeyPem)
{
    public const string HS256 = "HS256";
    public const string RS256 = "RS256";
    public const string ES256 = "ES256";

    /// <summary>Unsigned SETs (JWS alg "none"): only when a subscription explicitly allows them.</summary>
    public const string None = "none";

    /// <summary>
    /// A new key: "HS256" (32 random bytes), "RS256" (RSA 2048), "ES256" (P-256), or "none" (unsigned,
    /// with an empty key id, since there is no key to name).
    /// </summary>
    public static SigningKey Generate(string algorithm)
    {
        switch (algorithm)
        {
            case HS256:
                // RFC 7518 §3.2: the HMAC key must be at least as long as the hash output.
                return new SigningKey(HS256, NewKeyId(), RandomNumberGenerator.GetBytes(32), null);
            case RS256:
                using (var rsa = RSA.Create(2048))
                    return new SigningKey(RS256, NewKeyId(), null, rsa.ExportPkcs8PrivateKeyPem());
            case ES256:
                using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
                    return new SigningKey(ES256, NewKeyId(), null, ec.ExportPkcs8PrivateKeyPem());
            case None:
                return new SigningKey(None, "", null, null);
            default:
                throw new ArgumentException($"Unsupported SET signing algorithm '{algorithm}' (HS256, RS256, ES256, none)", nameof(algorithm));
        }
    }

    /// <summary>
    /// The public JWK (RFC 7517) a receiver verifies with: kid, kty, alg, use "sig"; n/e for RSA, crv/x/y for EC.
    /// Null for HS256 (a shared secret is never published) and for "none".
    /// </summary>
    public JsonObject? PublicJwk()
    {
        switch (Algorithm)
        {
            case RS256:
            {
                using var rsa = RSA.Create();
                rsa.ImportFromPem(RequirePem());
                var p = rsa.ExportParameters(includePrivateParameters: false);
                return new JsonObject
                {
                    ["kty"] = "RSA", ["use"] = "sig", ["alg"] = RS256, ["kid"] = KeyId,
                    ["n"] = Base64Url.EncodeToString(p.Modulus), ["e"] = Base64Url.EncodeToString(p.Exponent),
                };
            }
            case ES256:
            {
                using var ec = ECDsa.Create();
                ec.ImportFromPem(RequirePem());
                var p = ec.ExportParameters(includePrivateParameters: false);
                return new JsonObject
                {
                    ["kty"] = "EC", ["use"] = "sig", ["alg"] = ES256, ["kid"] = KeyId, ["crv"] = "P-256",
                    ["x"] = Base64Url.EncodeToString(p.Q.X), ["y"] = Base64Url.EncodeToString(p.Q.Y),
                };
            }
            default:
                return null;
        }
    }

    /// <summary>
    /// The key as IdentityModel wants it, and what to dispose after use (the RSA/ECDsa instance). Signature
    /// provider caching is off: the cache is keyed by key thumbprint and would hand a later call a provider
    /// wrapping the instance this call disposed.
    /// </summary>
    internal (SecurityKey Key, IDisposable? Owner) CreateSecurityKey()
    {
        var factory = new CryptoProviderFactory { CacheSignatureProviders = false };
        switch (Algorithm)
        {
            case HS256:
                if (Secret is null) throw new InvalidOperationException($"HS256 key '{KeyId}' has no secret");
                return (new SymmetricSecurityKey(Secret) { KeyId = KeyId, CryptoProviderFactory = factory }, null);
            case RS256:
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(RequirePem());
                return (new RsaSecurityKey(rsa) { KeyId = KeyId, CryptoProviderFactory = factory }, rsa);
            }
            case ES256:
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(RequirePem());
                return (new ECDsaSecurityKey(ec) { KeyId = KeyId, CryptoProviderFactory = factory }, ec);
            }
            default:
                throw new InvalidOperationException($"Algorithm '{Algorithm}' has no key material");
        }
    }

    internal static bool IsSupported(string algorithm) => algorithm is HS256 or RS256 or ES256 or None;

    private string RequirePem() =>
        PrivateKeyPem ?? throw new InvalidOperationException($"{Algorithm} key '{KeyId}' has no PEM");

    private static string NewKeyId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));

    // Value equality on the secret's bytes: the compiler's default compares the array reference, so a key
    // read back from storage would not equal the one that was saved.
    public bool Equals(SigningKey? other) =>
        other is not null && Algorithm == other.Algorithm && KeyId == other.KeyId && PrivateKeyPem == other.PrivateKeyPem
        && (Secret ?? []).AsSpan().SequenceEqual(other.Secret ?? []) && (Secret is null) == (other.Secret is null);

    public override int GetHashCode() => HashCode.Combine(Algorithm, KeyId);

    // The generated ToString would print the secret and the private key PEM into any log that mentions a key.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Algorithm = ").Append(Algorithm).Append(", KeyId = ").Append(KeyId);
        return true;
    }
}
