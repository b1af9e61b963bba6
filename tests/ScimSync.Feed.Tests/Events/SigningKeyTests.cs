using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Events;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

public sealed class SigningKeyTests
{
    [Fact]
    public void HS256_is_32_random_bytes_and_never_published()
    {
        var a = SigningKey.Generate("HS256");
        var b = SigningKey.Generate("HS256");
        Assert.Equal("HS256", a.Algorithm);
        Assert.Equal(32, a.Secret!.Length);
        Assert.Null(a.PrivateKeyPem);
        Assert.Null(a.PublicJwk());
        Assert.False(a.Secret.AsSpan().SequenceEqual(b.Secret));
        Assert.NotEqual(a.KeyId, b.KeyId);
        Assert.False(string.IsNullOrEmpty(a.KeyId));
    }

    [Fact]
    public void RS256_is_an_RSA_2048_key_with_a_public_jwk()
    {
        var key = SigningKey.Generate("RS256");
        Assert.Null(key.Secret);
        Assert.Contains("BEGIN PRIVATE KEY", key.PrivateKeyPem);
        using var rsa = RSA.Create();
        rsa.ImportFromPem(key.PrivateKeyPem);
        Assert.Equal(2048, rsa.KeySize);

        var jwk = key.PublicJwk()!;
        Assert.Equal(["kty", "use", "alg", "kid", "n", "e"], jwk.Select(kv => kv.Key).ToArray());
        Assert.Equal("RSA", jwk["kty"]!.GetValue<string>());
        Assert.Equal("sig", jwk["use"]!.GetValue<string>());
        Assert.Equal("RS256", jwk["alg"]!.GetValue<string>());
        Assert.Equal(key.KeyId, jwk["kid"]!.GetValue<string>());
        Assert.Equal(256, Base64Url.DecodeFromChars(jwk["n"]!.GetValue<string>()).Length);
        Assert.Equal("AQAB", jwk["e"]!.GetValue<string>());
    }

    [Fact]
    public void ES256_is_a_P256_key_with_a_public_jwk()
    {
        var key = SigningKey.Generate("ES256");
        Assert.Null(key.Secret);
        using var ec = ECDsa.Create();
        ec.ImportFromPem(key.PrivateKeyPem);
        Assert.Equal(256, ec.KeySize);

        var jwk = key.PublicJwk()!;
        Assert.Equal(["kty", "use", "alg", "kid", "crv", "x", "y"], jwk.Select(kv => kv.Key).ToArray());
        Assert.Equal("EC", jwk["kty"]!.GetValue<string>());
        Assert.Equal("P-256", jwk["crv"]!.GetValue<string>());
        Assert.Equal("ES256", jwk["alg"]!.GetValue<string>());
        Assert.Equal(32, Base64Url.DecodeFromChars(jwk["x"]!.GetValue<string>()).Length);
        Assert.Equal(32, Base64Url.DecodeFromChars(jwk["y"]!.GetValue<string>()).Length);
    }

    [Fact]
    public void None_has_no_key_material_and_no_jwk()
    {
        var key = SigningKey.Generate("none");
        Assert.Equal(new SigningKey("none", "", null, null), key);
        Assert.Null(key.PublicJwk());
    }

    [Theory]
    [InlineData("HS512")]
    [InlineData("hs256")]
    [InlineData("RS384")]
    [InlineData("None")]
    [InlineData("")]
    public void Other_algorithms_are_refused(string algorithm)
    {
        Assert.Throws<ArgumentException>(() => SigningKey.Generate(algorithm));
    }

    [Theory]
    [InlineData("RS256")]
    [InlineData("ES256")]
    public async Task A_receiver_holding_only_the_published_jwk_verifies_the_SET(string algorithm)
    {
        var key = SigningKey.Generate(algorithm);
        var token = new SetEncoder(new FakeTimeProvider(Time)).Encode(Build(Put()), "jti-1", "https://scim.example.com", ["rcv"], key);
        var jwk = new JsonWebKey(key.PublicJwk()!.ToJsonString());
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = "https://scim.example.com", ValidAudience = "rcv", IssuerSigningKey = jwk,
            RequireExpirationTime = false, ValidateLifetime = false, ValidTypes = ["secevent+jwt"],
        });
        Assert.True(result.IsValid, result.Exception?.Message);
    }

    [Theory]
    [InlineData("RS256")]
    [InlineData("ES256")]
    public void Validate_accepts_a_public_key_pem(string algorithm)
    {
        var key = SigningKey.Generate(algorithm);
        using AsymmetricAlgorithm alg = algorithm == "RS256" ? RSA.Create() : ECDsa.Create();
        alg.ImportFromPem(key.PrivateKeyPem);
        var verifier = key with { PrivateKeyPem = alg.ExportSubjectPublicKeyInfoPem() };
        var token = new SetEncoder(TimeProvider.System).Encode(Build(Put()), "jti-1", "iss", ["aud"], key);
        Assert.Equal("jti-1", SetEncoder.Validate(token, verifier, "iss", "aud")["jti"]!.GetValue<string>());
        Assert.Equal(key.PublicJwk()!.ToJsonString(), verifier.PublicJwk()!.ToJsonString());
    }

    [Fact]
    public void ToString_never_shows_the_secret_or_the_private_key()
    {
        foreach (var key in new[] { SigningKey.Generate("HS256"), SigningKey.Generate("RS256"), SigningKey.Generate("ES256") })
        {
            var text = key.ToString();
            Assert.Contains(key.KeyId, text);
            Assert.DoesNotContain("PRIVATE", text);
            Assert.DoesNotContain("Byte", text);
            Assert.DoesNotContain("Secret", text);
        }
    }

    [Fact]
    public void Keys_are_equal_by_value_including_the_secret_bytes()
    {
        var key = SigningKey.Generate("HS256");
        var copy = key with { Secret = key.Secret!.ToArray() };
        Assert.Equal(key, copy);
        Assert.Equal(key.GetHashCode(), copy.GetHashCode());
        Assert.NotEqual(key, key with { Secret = new byte[32] });
        Assert.NotEqual(key, key with { Secret = null });
    }
}
