using System.Buffers.Text;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

public sealed class SetEncoderTests
{
    private const string Issuer = "https://scim.example.com";
    private const string Audience = "https://scim.example.com/Feeds/98d52461fa5bbc879593b7754";
    private static readonly SigningKey Hs = SigningKey.Generate("HS256");

    private static readonly FakeTimeProvider Clock = new(DateTimeOffset.FromUnixTimeSeconds(1458505044));

    private static string Encode(SigningKey key, ScimEvent? e = null, string jti = "6164f3bbf6ff41a88dc94f18cb0620e8",
        IReadOnlyList<string>? audience = null, TimeProvider? time = null) =>
        new SetEncoder(time ?? Clock).Encode(e ?? Build(Put()), jti, Issuer, audience ?? [Audience], key);

    private static JsonObject Part(string token, int index) =>
        JsonNode.Parse(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token.Split('.')[index])))!.AsObject();

    private static SetValidationException Refused(string token, SigningKey key, string issuer = Issuer, string audience = Audience) =>
        Assert.Throws<SetValidationException>(() => SetEncoder.Validate(token, key, issuer, audience));

    public static TheoryData<string> Algorithms => new() { "HS256", "RS256", "ES256", "none" };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Header_is_typed_secevent_jwt_with_the_key_id(string algorithm)
    {
        var key = SigningKey.Generate(algorithm);
        var token = Encode(key);
        var header = Part(token, 0);
        Assert.Equal("secevent+jwt", header["typ"]!.GetValue<string>());
        Assert.Equal(algorithm, header["alg"]!.GetValue<string>());
        if (algorithm == "none")
        {
            Assert.False(header.ContainsKey("kid"));
            Assert.EndsWith(".", token);
        }
        else
            Assert.Equal(key.KeyId, header["kid"]!.GetValue<string>());
    }

    [Fact]
    public void Claims_are_exactly_iss_iat_jti_aud_txn_sub_id_events()
    {
        var claims = Part(Encode(Hs), 1);
        Assert.Equal(["iss", "iat", "jti", "aud", "txn", "sub_id", "events"], claims.Select(kv => kv.Key).ToArray());
        Assert.False(claims.ContainsKey("sub"));
        Assert.False(claims.ContainsKey("exp"));
        AssertJson($"[\"{Audience}\"]", claims["aud"]);
    }

    [Fact]
    public void Iat_is_the_time_provider_now_in_seconds()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1458505044_999));
        Assert.Equal(1458505044, Part(Encode(Hs, time: clock), 1)["iat"]!.GetValue<long>());
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1458505044 + 3600, Part(Encode(Hs, time: clock), 1)["iat"]!.GetValue<long>());
    }

    [Fact]
    public void Jti_is_the_callers_and_is_not_made_unique_by_the_encoder()
    {
        var e = Build(Put());
        Assert.Equal("a", Part(Encode(Hs, e, "a"), 1)["jti"]!.GetValue<string>());
        // A retransmission keeps its jti so that the receiver deduplicates (RFC 8935): same input, same claims.
        Assert.Equal(Part(Encode(Hs, e, "a"), 1).ToJsonString(), Part(Encode(Hs, e, "a"), 1).ToJsonString());
        Assert.NotEqual(Encode(Hs, e, "a"), Encode(Hs, e, "b"));
    }

    [Fact]
    public void Several_audiences_stay_an_array_and_none_omits_aud()
    {
        AssertJson("""["a","b"]""", Part(Encode(Hs, audience: ["a", "b"]), 1)["aud"]);
        Assert.False(Part(Encode(Hs, audience: []), 1).ContainsKey("aud"));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Encode_then_validate_returns_the_claims(string algorithm)
    {
        var key = SigningKey.Generate(algorithm);
        var e = Build(Patch(PatchOp("""{"op":"replace","path":"displayName","value":"Zoë \"Z\" <3"}"""), UserData, "displayName"));
        var token = Encode(key, e);
        var claims = SetEncoder.Validate(token, key, Issuer, Audience);
        Assert.True(JsonNode.DeepEquals(Part(token, 1), claims));
        Assert.True(JsonNode.DeepEquals(e.Events, claims["events"]));
        Assert.True(JsonNode.DeepEquals(e.SubId, claims["sub_id"]));
        Assert.Equal(Txn, claims["txn"]!.GetValue<string>());
    }

    [Fact]
    public void Encoding_leaves_the_event_usable_for_the_next_subscriber()
    {
        var e = Build(Put());
        var before = e.Events.ToJsonString();
        Encode(Hs, e);
        Encode(SigningKey.Generate("ES256"), e);
        Assert.Equal(before, e.Events.ToJsonString());
        Assert.Null(e.Events.Parent);
    }

    [Fact]
    public void Payload_json_is_not_html_escaped()
    {
        var json = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(Encode(Hs).Split('.')[1]));
        Assert.Contains("\"version\":\"W/\\\"3\\\"\"", json);
    }

    // Nothing protects an unsigned SET from tampering; that is why "none" needs a subscription's explicit consent.
    [Theory]
    [InlineData("HS256")]
    [InlineData("RS256")]
    [InlineData("ES256")]
    public void Tampered_payload_is_invalid_key(string algorithm)
    {
        var key = SigningKey.Generate(algorithm);
        var parts = Encode(key).Split('.');
        var claims = Part(string.Join('.', parts), 1);
        claims["events"] = new JsonObject { [EventUris.Delete] = new JsonObject() };
        parts[1] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        Assert.Equal("invalid_key", Refused(string.Join('.', parts), key).Err);
    }

    [Fact]
    public void Tampered_signature_or_another_key_is_invalid_key()
    {
        var token = Encode(Hs);
        var sig = token.Split('.')[2];
        var flipped = token[..^sig.Length] + (sig[0] == 'A' ? 'B' : 'A') + sig[1..];
        Assert.Equal("invalid_key", Refused(flipped, Hs).Err);
        Assert.Equal("invalid_key", Refused(token, SigningKey.Generate("HS256") with { KeyId = Hs.KeyId }).Err);
        var es = SigningKey.Generate("ES256");
        Assert.Equal("invalid_key", Refused(Encode(es), SigningKey.Generate("ES256") with { KeyId = es.KeyId }).Err);
    }

    [Fact]
    public void The_key_decides_the_algorithm_not_the_token()
    {
        var none = SigningKey.Generate("none");
        // An unsigned SET presented to a signed subscription: the "alg":"none" downgrade.
        Assert.Equal("invalid_key", Refused(Encode(none), Hs).Err);
        // A signed SET to a subscription that agreed on none is not silently accepted either.
        Assert.Equal("invalid_key", Refused(Encode(Hs), none).Err);
        // An unsigned SET that still carries a signature is not an unsigned SET.
        Assert.Equal("invalid_key", Refused(Encode(none) + Encode(Hs).Split('.')[2], none).Err);
        Assert.Equal("invalid_key", Refused(Encode(SigningKey.Generate("RS256")), Hs).Err);
    }

    [Fact]
    public void Wrong_audience_is_invalid_audience()
    {
        Assert.Equal("invalid_audience", Refused(Encode(Hs), Hs, audience: "https://other.example.com").Err);
        Assert.Equal("invalid_audience", Refused(Encode(Hs), Hs, audience: Audience + "/").Err);
        Assert.Equal("invalid_audience", Refused(Encode(Hs, audience: []), Hs).Err);
        Assert.Equal("invalid_audience", Refused(Encode(SigningKey.Generate("none")), SigningKey.Generate("none"), audience: "x").Err);
    }

    [Fact]
    public void Any_listed_audience_is_accepted()
    {
        var claims = SetEncoder.Validate(Encode(Hs, audience: ["first", Audience]), Hs, Issuer, Audience);
        Assert.Equal(2, claims["aud"]!.AsArray().Count);
    }

    [Fact]
    public void Wrong_issuer_is_invalid_issuer()
    {
        Assert.Equal("invalid_issuer", Refused(Encode(Hs), Hs, issuer: "https://evil.example.com").Err);
        var es = SigningKey.Generate("ES256");
        Assert.Equal("invalid_issuer", Refused(Encode(es), es, issuer: Issuer + "/").Err);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a token")]
    [InlineData("a.b.c")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9")]
    public void Garbage_is_invalid_request(string token)
    {
        Assert.Equal("invalid_request", Refused(token, Hs).Err);
    }

    [Fact]
    public void A_plain_JWT_is_not_a_SET()
    {
        var securityKey = new SymmetricSecurityKey(Hs.Secret) { KeyId = Hs.KeyId };
        var jwt = new JsonWebTokenHandler().CreateToken(Part(Encode(Hs), 1).ToJsonString(), new SigningCredentials(securityKey, "HS256"));
        Assert.Equal("JWT", Part(jwt, 0)["typ"]!.GetValue<string>());
        Assert.Equal("invalid_request", Refused(jwt, Hs).Err);
    }

    [Fact]
    public void Typ_is_compared_as_a_media_type()
    {
        var claims = Part(Encode(Hs), 1).ToJsonString();
        var key = new SymmetricSecurityKey(Hs.Secret) { KeyId = Hs.KeyId };
        foreach (var typ in new[] { "application/secevent+jwt", "SecEvent+JWT" })
        {
            var token = new JsonWebTokenHandler().CreateToken(claims, new SigningCredentials(key, "HS256"), new Dictionary<string, object> { ["typ"] = typ });
            Assert.Equal(Issuer, SetEncoder.Validate(token, Hs, Issuer, Audience)["iss"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData("events")]
    [InlineData("jti")]
    [InlineData("iat")]
    public void A_SET_without_a_required_claim_is_invalid_request(string claim)
    {
        var claims = Part(Encode(Hs), 1);
        claims.Remove(claim);
        var key = new SymmetricSecurityKey(Hs.Secret) { KeyId = Hs.KeyId };
        var token = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(claims.ToJsonString(),
            new SigningCredentials(key, "HS256"), new Dictionary<string, object> { ["typ"] = "secevent+jwt" });
        Assert.Equal("invalid_request", Refused(token, Hs).Err);
    }

    /// <summary>The encoder's SET with its claims changed, signed again with <see cref="Hs"/>.</summary>
    private static string Resigned(Action<JsonObject> change)
    {
        var claims = Part(Encode(Hs), 1);
        change(claims);
        var key = new SymmetricSecurityKey(Hs.Secret) { KeyId = Hs.KeyId };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(claims.ToJsonString(),
            new SigningCredentials(key, "HS256"), new Dictionary<string, object> { ["typ"] = "secevent+jwt" });
    }

    private static void Events(JsonObject claims, string uri, string payload) =>
        claims["events"] = new JsonObject { [uri] = JsonNode.Parse(payload) };

    // What RFC 9967 requires of a SCIM event, beyond RFC 8417's SET: checked by the one validator, so a receiver
    // (the sync engine) never acts on a SET it would have to guess about.
    [Theory]
    [InlineData("no txn")]
    [InlineData("sub")]
    [InlineData("no sub_id")]
    [InlineData("sub_id of another format")]
    [InlineData("absolute sub_id uri")]
    [InlineData("sub_id uri without an id")]
    [InlineData("an unknown event URI")]
    [InlineData("an event URI of an old draft")]
    [InlineData("no events")]
    [InlineData("a notice with data")]
    [InlineData("a notice without attributes")]
    [InlineData("a full event without data")]
    [InlineData("a delete with data")]
    [InlineData("a payload that is not an object")]
    [InlineData("a version that is not a string")]
    [InlineData("an iat that is not a NumericDate")]
    [InlineData("a toe that is not a NumericDate")]
    public void A_SET_that_is_not_a_SCIM_event_is_invalid_request(string what)
    {
        var token = Resigned(claims =>
        {
            switch (what)
            {
                case "no txn": claims.Remove("txn"); break;
                case "sub": claims["sub"] = UserId; break;
                case "no sub_id": claims.Remove("sub_id"); break;
                case "sub_id of another format": claims["sub_id"]!["format"] = "opaque"; break;
                case "absolute sub_id uri": claims["sub_id"]!["uri"] = "https://scim.example.com/Users/" + UserId; break;
                case "sub_id uri without an id": claims["sub_id"]!["uri"] = "/Users/"; break;
                case "an unknown event URI": Events(claims, "urn:example:prov:delete", "{}"); break;
                case "an event URI of an old draft": Events(claims, EventUris.Prefix + "sig:authMethod", "{}"); break;
                case "no events": claims["events"] = new JsonObject(); break;
                case "a notice with data": Events(claims, EventUris.PutNotice, """{"attributes":["title"],"data":{}}"""); break;
                case "a notice without attributes": Events(claims, EventUris.PatchNotice, """{"version":"W/\"3\""}"""); break;
                case "a full event without data": Events(claims, EventUris.PutFull, """{"attributes":["title"]}"""); break;
                case "a delete with data": Events(claims, EventUris.Delete, """{"data":{}}"""); break;
                case "a payload that is not an object": Events(claims, EventUris.Delete, "true"); break;
                case "a version that is not a string": Events(claims, EventUris.PutNotice, """{"attributes":["title"],"version":3}"""); break;
                case "an iat that is not a NumericDate": claims["iat"] = "2016-03-20T20:17:24Z"; break;
                case "a toe that is not a NumericDate": claims["toe"] = "yesterday"; break;
            }
        });
        Assert.Equal("invalid_request", Refused(token, Hs).Err);
    }

    [Fact]
    public void NumericDates_may_have_a_fraction_and_toe_is_optional()
    {
        var token = Resigned(claims =>
        {
            claims["iat"] = 1458505044.25;
            claims["toe"] = 1458505043.5;
        });
        Assert.Equal(1458505044.25, SetEncoder.Validate(token, Hs, Issuer, Audience)["iat"]!.GetValue<double>());
    }

    [Fact]
    public void Errors_carry_a_description_for_the_push_response()
    {
        var error = Refused(Encode(Hs), Hs, issuer: "x");
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.DoesNotContain("PII", error.Message);
    }

    [Fact]
    public void The_RFC_9967_group_patch_notice_example_has_this_shape()
    {
        // RFC 9967's example: a notice that crmUsers' members changed. Only the version (our weak ETag)
        // and the extra sub_id "id" differ from the RFC text.
        var group = JsonNode.Parse(GroupData)!.AsObject();
        var entry = new JournalEntry(9, new JournalAppend("b7b953f11cc6489bbfb87834747cc4c1", "Group", "176f397ec4c44b94b2cfcb759780b8c2",
            JournalOperation.Patch, 17, ["members"], group.ToJsonString(), PatchOp("""{"op":"add","path":"members","value":[{"value":"u1"}]}"""), null, Time));
        var e = ScimEventBuilder.Build(entry, PayloadMode.Notice, FeedTransition.None, "/Groups");
        var token = Encode(Hs, e, "6164f3bbf6ff41a88dc94f18cb0620e8", ["https://scim.example.com/Feeds/98d52461fa5bbc879593b7754"]);
        AssertJson("""
            {"iss":"https://scim.example.com","iat":1458505044,"jti":"6164f3bbf6ff41a88dc94f18cb0620e8",
             "aud":["https://scim.example.com/Feeds/98d52461fa5bbc879593b7754"],"txn":"b7b953f11cc6489bbfb87834747cc4c1",
             "sub_id":{"format":"scim","uri":"/Groups/176f397ec4c44b94b2cfcb759780b8c2","id":"176f397ec4c44b94b2cfcb759780b8c2","externalId":"crmUsers"},
             "events":{"urn:ietf:params:scim:event:prov:patch:notice":{"attributes":["members"],"version":"W/\"17\""}}}
            """, SetEncoder.Validate(token, Hs, Issuer, "https://scim.example.com/Feeds/98d52461fa5bbc879593b7754"));
        Assert.True(e.Urgent);
    }

    [Fact]
    public void Encode_checks_its_arguments()
    {
        var encoder = new SetEncoder(Clock);
        Assert.Throws<ArgumentException>(() => encoder.Encode(Build(Put()), "", Issuer, [Audience], Hs));
        Assert.Throws<ArgumentException>(() => encoder.Encode(Build(Put()), "j", " ", [Audience], Hs));
        Assert.Throws<ArgumentException>(() => encoder.Encode(Build(Put()), "j", Issuer, [Audience], new SigningKey("HS512", "k", new byte[64], null)));
    }
}
