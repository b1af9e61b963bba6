using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Events;

/// <summary>
/// A new password on its way from the source to the sync engine: a JWE (RFC 7516, compact serialization) with
/// key management RSA-OAEP-256 and content encryption A256GCM (RFC 7518 §4.3, §5.3), encrypted to the engine's
/// public key. The server seals it the moment the password arrives and keeps only this; the engine alone can
/// open it. Both sides use this one class, so the format is written once.
/// </summary>
/// <remarks>
/// The plaintext is a small JSON object: <c>sub</c> (the resource id), <c>password</c>, <c>exp</c> (seconds since
/// the epoch), <c>jti</c>. The resource id and expiry are also in the protected header's claims, so the engine
/// checks that what it decrypted is the delivery it asked for (a ciphertext moved to another row is refused).
/// </remarks>
public static class PasswordEnvelope
{
    public const string KeyAlgorithm = "RSA-OAEP-256";
    public const string ContentAlgorithm = "A256GCM";

    /// <summary>Smallest RSA modulus accepted for an engine's key.</summary>
    public const int MinKeyBits = 2048;

    /// <summary>Largest compact JWE accepted (a password of a few KiB, a 4096-bit key): bounds what a reader decrypts.</summary>
    public const int MaxLength = 16 * 1024;

    public sealed record Content(string Id, string ResourceId, string Password, DateTimeOffset Expires);

    /// <summary>The public JWK of <paramref name="rsa"/> as a subscription registers it (kty, n, e, alg, use "enc", kid).</summary>
    public static JsonObject PublicJwk(RSA rsa)
    {
        var p = rsa.ExportParameters(includePrivateParameters: false);
        var jwk = new JsonObject { ["kty"] = "RSA", ["n"] = Base64Url.EncodeToString(p.Modulus), ["e"] = Base64Url.EncodeToString(p.Exponent), ["alg"] = KeyAlgorithm, ["use"] = "enc" };
        jwk["kid"] = Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(jwk["n"]!.GetValue<string>()))[..12]);
        return jwk;
    }

    /// <summary>
    /// Reads a public JWK a subscriber registers, or says why not (a private member, another key type, a short
    /// modulus): the message is for a SCIM error.
    /// </summary>
    public static RSA? ReadPublicJwk(JsonObject jwk, out string reason)
    {
        reason = "";
        if (jwk["kty"]?.GetValueKind() != System.Text.Json.JsonValueKind.String || jwk["kty"]!.GetValue<string>() != "RSA")
        {
            reason = "passwordKey must be an RSA public JWK (kty \"RSA\")";
            return null;
        }
        // A private key has no business on the source: refuse it rather than keep it.
        foreach (var member in new[] { "d", "p", "q", "dp", "dq", "qi" })
            if (jwk.ContainsKey(member))
            {
                reason = "passwordKey must be a public key: it holds the private member \"" + member + "\"";
                return null;
            }
        if (jwk["alg"] is { } alg && (alg.GetValueKind() != System.Text.Json.JsonValueKind.String || alg.GetValue<string>() != KeyAlgorithm))
        {
            reason = $"passwordKey's alg must be {KeyAlgorithm}";
            return null;
        }
        try
        {
            var n = Base64Url.DecodeFromChars(jwk["n"]!.GetValue<string>());
            var e = Base64Url.DecodeFromChars(jwk["e"]!.GetValue<string>());
            if (n.Length * 8 < MinKeyBits || n[0] == 0)
            {
                reason = $"passwordKey's modulus must be at least {MinKeyBits} bits";
                return null;
            }
            var rsa = RSA.Create();
            rsa.ImportParameters(new RSAParameters { Modulus = n, Exponent = e });
            return rsa;
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or NullReferenceException or CryptographicException)
        {
            reason = "passwordKey must hold base64url \"n\" and \"e\"";
            return null;
        }
    }

    /// <summary>Seals <paramref name="content"/> for the holder of <paramref name="publicKey"/>'s private key.</summary>
    public static string Seal(RSA publicKey, string keyId, Content content)
    {
        var header = new JsonObject
        {
            ["alg"] = KeyAlgorithm, ["enc"] = ContentAlgorithm, ["kid"] = keyId, ["cty"] = "scimsync-password",
            ["sub"] = content.ResourceId, ["jti"] = content.Id, ["exp"] = content.Expires.ToUnixTimeSeconds(),
        };
        var plaintext = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["sub"] = content.ResourceId, ["jti"] = content.Id, ["exp"] = content.Expires.ToUnixTimeSeconds(), ["password"] = content.Password,
        }.ToJsonString());
        var cek = RandomNumberGenerator.GetBytes(32);
        var iv = RandomNumberGenerator.GetBytes(12);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        try
        {
            var encodedHeader = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header.ToJsonString()));
            using (var gcm = new AesGcm(cek, 16))
                gcm.Encrypt(iv, plaintext, ciphertext, tag, Encoding.ASCII.GetBytes(encodedHeader));
            var encryptedKey = publicKey.Encrypt(cek, RSAEncryptionPadding.OaepSHA256);
            return string.Join('.', encodedHeader, Base64Url.EncodeToString(encryptedKey), Base64Url.EncodeToString(iv),
                Base64Url.EncodeToString(ciphertext), Base64Url.EncodeToString(tag));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
            CryptographicOperations.ZeroMemory(cek);
        }
    }

    /// <summary>
    /// Opens a JWE sealed by <see cref="Seal"/>. Throws <see cref="CryptographicException"/> on anything else: another
    /// algorithm, a tampered part, a wrong key, a header whose claims disagree with the sealed ones.
    /// </summary>
    public static Content Open(RSA privateKey, string jwe)
    {
        if (jwe.Length > MaxLength) throw new CryptographicException("the JWE is too long");
        var parts = jwe.Split('.');
        if (parts.Length != 5) throw new CryptographicException("not a compact JWE");
        byte[] cek = [];
        byte[] plaintext = [];
        try
        {
            var header = JsonNode.Parse(Base64Url.DecodeFromChars(parts[0])) as JsonObject ?? throw new CryptographicException("the JWE header is not an object");
            if (header["alg"]?.ToString() != KeyAlgorithm || header["enc"]?.ToString() != ContentAlgorithm)
                throw new CryptographicException($"the JWE must use {KeyAlgorithm} and {ContentAlgorithm}");
            cek = privateKey.Decrypt(Base64Url.DecodeFromChars(parts[1]), RSAEncryptionPadding.OaepSHA256);
            var iv = Base64Url.DecodeFromChars(parts[2]);
            var ciphertext = Base64Url.DecodeFromChars(parts[3]);
            var tag = Base64Url.DecodeFromChars(parts[4]);
            if (cek.Length != 32 || iv.Length != 12 || tag.Length != 16) throw new CryptographicException("the JWE's key, IV or tag has the wrong length");
            plaintext = new byte[ciphertext.Length];
            using (var gcm = new AesGcm(cek, 16))
                gcm.Decrypt(iv, ciphertext, tag, plaintext, Encoding.ASCII.GetBytes(parts[0]));
            var claims = JsonNode.Parse(plaintext) as JsonObject ?? throw new CryptographicException("the JWE's content is not an object");
            var content = new Content(claims["jti"]!.GetValue<string>(), claims["sub"]!.GetValue<string>(), claims["password"]!.GetValue<string>(),
                DateTimeOffset.FromUnixTimeSeconds(claims["exp"]!.GetValue<long>()));
            if (header["sub"]?.ToString() != content.ResourceId || header["jti"]?.ToString() != content.Id)
                throw new CryptographicException("the JWE's header and content disagree");
            return content;
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or ArgumentException)
        {
            throw new CryptographicException("the JWE is malformed", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(cek);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }
}
