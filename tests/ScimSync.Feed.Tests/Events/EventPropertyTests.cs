using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

/// <summary>Rules that hold for every journal entry, mode and transition, not just the examples.</summary>
public sealed class EventPropertyTests
{
    private static readonly string[] AllUris = typeof(EventUris).GetFields()
        .Where(f => f.Name != nameof(EventUris.Prefix)).Select(f => (string)f.GetValue(null)!).ToArray();

    // Building an event takes microseconds; enough cases to hit every operation × mode × transition × request.
    private const int Iterations = 3000;

    private static Gen<T> Pick<T>(params T[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);

    private static readonly Gen<string> Attribute = Pick("userName", "name.givenName", "active", "emails", "password",
        "members", "displayName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");

    private static readonly Gen<string?> Data = Pick<string?>(
        UserData, GroupData, WithActive(UserData, false), WithActive(UserData, null), null);

    private static readonly Gen<string?> Request = Pick<string?>(
        PatchOp("""{"op":"replace","path":"title","value":"x"}"""),
        PatchOp("""{"op":"replace","path":"password","value":"s3cret"}"""),
        PatchOp("""{"op":"replace","value":{"password":"s3cret","active":false}}"""),
        PatchOp("""{"op":"remove","path":"members[value eq \"u1\"]"}"""),
        null);

    private static readonly Gen<JournalEntry> Entries =
        Gen.Select(Gen.Enum<JournalOperation>(), Data, Request, Attribute.Array[0, 4], Pick("User", "Group"), Gen.Long[1, 1_000_000])
            .Select((op, data, request, attributes, type, version) => new JournalEntry(1, new JournalAppend(Txn, type, UserId, op, version,
                attributes.Distinct().ToArray(),
                op == JournalOperation.Delete ? null : op == JournalOperation.Patch ? data : data ?? UserData,
                op == JournalOperation.Patch ? request : null, null, Time)));

    private static readonly Gen<(JournalEntry Entry, PayloadMode Mode, FeedTransition Transition)> Cases =
        Gen.Select(Entries, Gen.Enum<PayloadMode>(), Gen.Enum<FeedTransition>());

    // Quotes, backslashes, non-ASCII and astral characters: what JSON escaping and base64url must survive.
    private static readonly Gen<string> Text = Gen.Char["abcXYZ019-_:/.\"\\ é中"].Array[1, 30].Select(c => new string(c) + "😀");

    [Fact]
    public void Every_payload_has_exactly_one_of_data_or_attributes_as_its_uri_says()
    {
        Cases.Sample(c =>
        {
            var e = Build(c.Entry, c.Mode, c.Transition);
            Assert.NotEmpty(e.Events);
            foreach (var (uri, payload) in e.Events)
            {
                Assert.Contains(uri, AllUris);
                var p = Assert.IsType<JsonObject>(payload);
                var hasData = p.ContainsKey("data");
                var hasAttributes = p.ContainsKey("attributes");
                Assert.False(hasData && hasAttributes, $"{uri} has both data and attributes");
                Assert.Equal(uri.EndsWith(":full", StringComparison.Ordinal), hasData);
                Assert.Equal(uri.EndsWith(":notice", StringComparison.Ordinal), hasAttributes);
                if (hasData || hasAttributes)
                    Assert.Equal($"W/\"{c.Entry.Change.Version}\"", p["version"]!.GetValue<string>());
                else
                    Assert.Empty(p);
            }
        }, iter: Iterations);
    }

    [Fact]
    public void Every_SET_describes_one_change_of_one_kind()
    {
        Cases.Sample(c =>
        {
            var uris = Uris(Build(c.Entry, c.Mode, c.Transition));
            // One create/put/patch/delete at most, and never both an entry into and a removal from the feed.
            Assert.True(uris.Count(u => u.StartsWith("prov:create", StringComparison.Ordinal) || u.StartsWith("prov:put", StringComparison.Ordinal)
                || u.StartsWith("prov:patch", StringComparison.Ordinal) || u == "prov:delete") <= 1);
            Assert.False(uris.Contains("feed:add") && uris.Contains("feed:remove"));
            Assert.False(uris.Contains("prov:activate") && uris.Contains("prov:deactivate"));
            if (c.Entry.Change.Operation == JournalOperation.Delete)
                Assert.Equal(["prov:delete"], uris);
            else if (c.Transition == FeedTransition.Left)
                Assert.Equal(["feed:remove"], uris);
            else if (c.Transition == FeedTransition.Entered)
                Assert.Equal("feed:add", uris[0]);
            if (c.Mode == PayloadMode.Notice)
                Assert.DoesNotContain(uris, u => u.EndsWith(":full", StringComparison.Ordinal));
        }, iter: Iterations);
    }

    [Fact]
    public void No_event_ever_carries_a_password_value()
    {
        Cases.Sample(c => Assert.DoesNotContain("s3cret", Build(c.Entry, c.Mode, c.Transition).Events.ToJsonString()), iter: Iterations);
    }

    [Fact]
    public void Every_SET_round_trips_through_encode_and_validate()
    {
        var key = SigningKey.Generate("HS256");
        var encoder = new SetEncoder(new FakeTimeProvider(Time));
        Gen.Select(Cases, Text, Text).Sample((c, jti, audience) =>
        {
            var e = Build(c.Entry, c.Mode, c.Transition);
            var claims = SetEncoder.Validate(encoder.Encode(e, jti, "https://scim.example.com", [audience], key), key, "https://scim.example.com", audience);
            Assert.Equal(jti, claims["jti"]!.GetValue<string>());
            Assert.Equal(Time.ToUnixTimeSeconds(), claims["iat"]!.GetValue<long>());
            Assert.True(JsonNode.DeepEquals(e.Events, claims["events"]));
            Assert.True(JsonNode.DeepEquals(e.SubId, claims["sub_id"]));
        }, iter: 200);
    }
}
