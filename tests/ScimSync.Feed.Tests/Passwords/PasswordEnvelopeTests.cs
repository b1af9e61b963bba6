using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Events;

namespace ScimSync.Feed.Tests.Passwords;

/// <summary>The sealed form of a password (JWE, RSA-OAEP-256 + A256GCM): only the key's holder opens it, and only unaltered.</summary>
public sealed class PasswordEnvelopeTests
{
    private static readonly RSA Key = RSA.Create(2048);
    private static readonly PasswordEnvelope.Content Sample = new("d1", "user-1", "s3cret-ünï", new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static string Seal(PasswordEnvelope.Content? c = null)
    {
        using var pub = PasswordEnvelope.ReadPublicJwk(PasswordEnvelope.PublicJwk(Key), out var why) ?? throw new InvalidOperationException(why);
        return PasswordEnvelope.Seal(pub, "k1", c ?? Sample);
    }

    [Fact]
    public void What_is_sealed_with_the_public_key_opens_with_the_private_key_and_holds_no_clear_text()
    {
        var jwe = Seal();
        Assert.Equal(5, jwe.Split('.').Length);
        Assert.DoesNotContain("s3cret", jwe, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", Encoding.UTF8.GetString(Base64Url.DecodeFromChars(jwe.Split('.')[0])), StringComparison.Ordinal);
        var header = JsonNode.Parse(Base64Url.DecodeFromChars(jwe.Split('.')[0]))!;
        Assert.Equal("RSA-OAEP-256", header["alg"]!.GetValue<string>());
        Assert.Equal("A256GCM", header["enc"]!.GetValue<string>());
        Assert.Equal(Sample, PasswordEnvelope.Open(Key, jwe));
        // Each sealing has its own key and IV: the same password twice looks different.
        Assert.NotEqual(jwe, Seal());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void A_changed_part_is_refused(int part)
    {
        var parts = Seal().Split('.');
        var bytes = Base64Url.DecodeFromChars(parts[part]);
        bytes[bytes.Length / 2] ^= 0x01;
        parts[part] = Base64Url.EncodeToString(bytes);
        Assert.ThrowsAny<CryptographicException>(() => PasswordEnvelope.Open(Key, string.Join('.', parts)));
    }

    [Fact]
    public void Another_key_or_a_malformed_token_is_refused()
    {
        using var other = RSA.Create(2048);
        Assert.ThrowsAny<CryptographicException>(() => PasswordEnvelope.Open(other, Seal()));
        foreach (var bad in new[] { "", "a.b.c", "a.b.c.d.e", new string('x', PasswordEnvelope.MaxLength + 1) })
            Assert.ThrowsAny<CryptographicException>(() => PasswordEnvelope.Open(Key, bad));
    }

    [Fact]
    public void A_header_swapped_from_another_delivery_is_refused()
    {
        // The header is authenticated (AAD): one taken from another sealing does not decrypt this content.
        var a = Seal().Split('.');
        var b = Seal(Sample with { Id = "d2", ResourceId = "user-2" }).Split('.');
        Assert.ThrowsAny<CryptographicException>(() => PasswordEnvelope.Open(Key, string.Join('.', b[0], a[1], a[2], a[3], a[4])));
    }

    [Fact]
    public void Only_an_RSA_public_key_of_2048_bits_or_more_is_accepted_as_a_password_key()
    {
        var good = PasswordEnvelope.PublicJwk(Key);
        using (var ok = PasswordEnvelope.ReadPublicJwk(good, out _)) Assert.NotNull(ok);

        var withPrivate = good.DeepClone().AsObject();
        withPrivate["d"] = Base64Url.EncodeToString(Key.ExportParameters(true).D);
        Assert.Null(PasswordEnvelope.ReadPublicJwk(withPrivate, out var why));
        Assert.Contains("private", why, StringComparison.Ordinal);

        using var small = RSA.Create(1024);
        Assert.Null(PasswordEnvelope.ReadPublicJwk(PasswordEnvelope.PublicJwk(small), out why));
        Assert.Contains("2048", why, StringComparison.Ordinal);

        Assert.Null(PasswordEnvelope.ReadPublicJwk(new JsonObject { ["kty"] = "EC", ["crv"] = "P-256" }, out _));
        Assert.Null(PasswordEnvelope.ReadPublicJwk(new JsonObject { ["kty"] = "RSA" }, out _));
        Assert.Null(PasswordEnvelope.ReadPublicJwk(new JsonObject { ["kty"] = "RSA", ["n"] = "!!", ["e"] = "AQAB" }, out _));
        var wrongAlg = good.DeepClone().AsObject();
        wrongAlg["alg"] = "RSA1_5";
        Assert.Null(PasswordEnvelope.ReadPublicJwk(wrongAlg, out _));
    }
}
