using System.Net;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using ScimSync.Client;
using ScimSync.Events;
using ScimSync.Sync.Intake;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.Sources;

/// <summary>The engine's own feed subscription: what it accepts from a poll, and what it refuses.</summary>
public sealed class SourceFeedTests : IDisposable
{
    private static readonly byte[] Secret = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-feed-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Answers every poll with the given SETs, keyed as given.</summary>
    private sealed class PollAnswer(JsonObject sets) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent(new JsonObject { ["sets"] = sets.DeepClone() }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
            });
    }

    private static string Set(string jti, byte[] key, string audience = "scimsync-sync", Action<JsonObject>? change = null, string typ = "secevent+jwt")
    {
        var claims = new JsonObject
        {
            ["jti"] = jti, ["iss"] = "https://hr.example", ["aud"] = audience, ["iat"] = 1_790_000_000, ["txn"] = "t-" + jti,
            ["sub_id"] = new JsonObject { ["format"] = "scim", ["uri"] = "/Users/u1", ["id"] = "u1" },
            ["events"] = new JsonObject { ["urn:ietf:params:scim:event:prov:deactivate"] = new JsonObject() },
        };
        change?.Invoke(claims);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(claims.ToJsonString(),
            new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256), new Dictionary<string, object> { ["typ"] = typ });
    }

    /// <summary>The changes of one poll; a SET the engine refuses throws, as it is reported (<see cref="PollRefusedAsync"/>).</summary>
    private async Task<IReadOnlyList<SourceChange>> PollAsync(JsonObject sets, bool withKey = true)
    {
        var poll = await PollRefusedAsync(sets, withKey);
        if (poll.Refused.Count > 0) throw new SetValidationException(poll.Refused[0].Err, poll.Refused[0].Description);
        return poll.Changes;
    }

    private async Task<FeedPoll> PollRefusedAsync(JsonObject sets, bool withKey = true)
    {
        using var state = SqliteSyncState.Open(_dir);
        state.Batch(w =>
        {
            w.SetCheckpoint("feed.subscription", "sub1");
            if (withKey) w.SetSecret("feed.secret", Convert.ToBase64String(Secret));
        });
        using var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, new PollAnswer(sets));
        return await new SourceFeed(client, state, "engine").PollAsync([], new Dictionary<string, string>(), returnImmediately: true, CancellationToken.None);
    }

    [Fact]
    public async Task A_signed_SET_becomes_a_change()
    {
        var change = Assert.Single(await PollAsync(new JsonObject { ["j1"] = Set("j1", Secret) }));
        Assert.Equal(("j1", "User", "u1", true, "t-j1"), (change.Jti, change.ResourceType, change.Id, change.Urgent, change.Txn));
    }

    [Fact]
    public async Task SETs_that_are_forged_misaddressed_or_filed_under_another_jti_are_refused()
    {
        var other = Secret.Select(b => (byte)(b ^ 0xFF)).ToArray();
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", other) }));
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", Secret, audience: "someone-else") }));
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j2"] = Set("j1", Secret) }));
    }

    [Fact]
    public async Task A_refused_SET_is_returned_apart_and_the_rest_of_the_poll_goes_on()
    {
        var poll = await PollRefusedAsync(new JsonObject { ["j1"] = Set("j1", Secret, audience: "someone-else"), ["j2"] = Set("j2", Secret) });
        Assert.Equal("j2", Assert.Single(poll.Changes).Jti);
        var refused = Assert.Single(poll.Refused);
        Assert.Equal(("j1", "invalid_audience"), (refused.Jti, refused.Err));
    }

    [Fact]
    public async Task Without_a_key_the_whole_poll_fails_rather_than_every_SET_being_refused()
    {
        // A lost key is the engine's state, not the SETs: refusing them would dead-letter the whole feed.
        await Assert.ThrowsAsync<SetValidationException>(() => PollRefusedAsync(new JsonObject { ["j1"] = Set("j1", Secret) }, withKey: false));
    }

    [Fact]
    public async Task Without_a_key_nothing_is_accepted()
    {
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", Secret) }, withKey: false));
    }

    /// <summary>SETs the server's validator refuses and the engine, before it ran that validator, accepted.</summary>
    public static TheoryData<string> Refused => new()
    {
        "no txn", "no iat", "an iat that is not a NumericDate", "no events", "a look-alike event URI", "sub instead of sub_id",
        "an audience with a trailing slash", "a notice with data",
    };

    private static void Change(JsonObject claims, string what)
    {
        switch (what)
        {
            case "no txn": claims.Remove("txn"); break;
            case "no iat": claims.Remove("iat"); break;
            case "an iat that is not a NumericDate": claims["iat"] = "yesterday"; break;
            case "no events": claims.Remove("events"); break;
            // Matched by its ending, this read as a deletion.
            case "a look-alike event URI": claims["events"] = new JsonObject { ["urn:example:prov:delete"] = new JsonObject() }; break;
            case "sub instead of sub_id":
                claims.Remove("sub_id");
                claims["sub"] = "u1";
                break;
            case "an audience with a trailing slash": claims["aud"] = "scimsync-sync/"; break;
            case "a notice with data":
                claims["events"] = new JsonObject { ["urn:ietf:params:scim:event:prov:put:notice"] = new JsonObject { ["attributes"] = new JsonArray("title"), ["data"] = new JsonObject() } };
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task The_engine_refuses_what_the_servers_validator_refuses(string what)
    {
        var token = Set("j1", Secret, change: c => Change(c, what));
        var key = new SigningKey(SigningKey.HS256, "", Secret, null);
        Assert.Throws<SetValidationException>(() => SetEncoder.Validate(token, key, "https://hr.example", "scimsync-sync"));
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j1"] = token }));
    }

    [Fact]
    public async Task A_typ_with_its_media_type_prefix_is_a_SET_and_a_subject_neither_user_nor_group_is_refused()
    {
        Assert.Single(await PollAsync(new JsonObject { ["j1"] = Set("j1", Secret, typ: "application/secevent+jwt") }));
        var device = Set("j1", Secret, change: c => c["sub_id"]!["uri"] = "/Devices/d1");
        await Assert.ThrowsAsync<SetValidationException>(() => PollAsync(new JsonObject { ["j1"] = device }));
    }

    [Fact]
    public async Task Urgency_is_the_servers_rule_a_group_rename_is_routine_a_membership_change_is_not()
    {
        JsonObject PatchFull(string path, JsonNode value) => new()
        {
            ["urn:ietf:params:scim:event:prov:patch:full"] = new JsonObject
            {
                ["data"] = new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                    ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = path, ["value"] = value }),
                },
                ["version"] = "W/\"4\"",
            },
        };
        void Group(JsonObject c, JsonObject events)
        {
            c["sub_id"] = new JsonObject { ["format"] = "scim", ["uri"] = "/Groups/g1", ["id"] = "g1" };
            c["events"] = events;
        }
        var changes = await PollAsync(new JsonObject
        {
            ["j1"] = Set("j1", Secret, change: c => Group(c, PatchFull("displayName", "Travel"))),
            ["j2"] = Set("j2", Secret, change: c => Group(c, PatchFull("urn:ietf:params:scim:schemas:core:2.0:Group:members", new JsonArray(new JsonObject { ["value"] = "u1" })))),
        });
        Assert.Equal([("Group", false, 4L), ("Group", true, 4L)], changes.Select(c => (c.ResourceType, c.Urgent, c.Version!.Value)));
    }

    /// <summary>A source whose engine subscription an earlier build created: it answers GET with that, and records the rest.</summary>
    private sealed class EarlierSubscription : HttpMessageHandler
    {
        public List<(HttpMethod Method, string Path, JsonObject? Body)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken)) as JsonObject;
            lock (Requests) Requests.Add((request.Method, request.RequestUri!.AbsolutePath, body));
            var answer = new JsonObject { ["id"] = "sub1", ["name"] = "scimsync-sync-engine", ["delivery"] = "poll", ["journalPosition"] = true };
            if (request.Method == HttpMethod.Patch) answer["writer"] = true;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(answer.ToJsonString(), System.Text.Encoding.UTF8, "application/json") };
        }
    }

    [Fact]
    public async Task A_subscription_an_earlier_build_made_is_asked_to_name_writers_from_now_on()
    {
        using var state = SqliteSyncState.Open(_dir);
        state.Batch(w => w.SetCheckpoint("feed.subscription", "sub1"));
        var source = new EarlierSubscription();
        using var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, source);
        await new SourceFeed(client, state, "engine").EnsureAsync(0, CancellationToken.None);
        var patch = Assert.Single(source.Requests, r => r.Method == HttpMethod.Patch);
        Assert.Equal("/feeds/v1/subscriptions/sub1", patch.Path);
        Assert.True(patch.Body!["writer"]!.GetValue<bool>());
        Assert.DoesNotContain(source.Requests, r => r.Method == HttpMethod.Post);
        Assert.Equal("sub1", state.GetCheckpoint("feed.subscription"));
    }

    [Fact]
    public async Task The_writer_and_time_of_a_change_come_from_its_SET()
    {
        var token = new JsonWebTokenHandler().CreateToken(new JsonObject
        {
            ["jti"] = "j1", ["iss"] = "https://hr.example", ["aud"] = "scimsync-sync", ["iat"] = 1_790_000_000, ["txn"] = "t-j1",
            ["toe"] = 1_790_000_000.25m, ["urn:scimsync:params:event:journalPosition"] = 42, ["urn:scimsync:params:event:writer"] = "hr-portal",
            ["sub_id"] = new JsonObject { ["format"] = "scim", ["uri"] = "/Users/u1", ["id"] = "u1" },
            ["events"] = new JsonObject { ["urn:ietf:params:scim:event:prov:deactivate"] = new JsonObject() },
        }.ToJsonString(), new SigningCredentials(new SymmetricSecurityKey(Secret), SecurityAlgorithms.HmacSha256), new Dictionary<string, object> { ["typ"] = "secevent+jwt" });
        var change = Assert.Single(await PollAsync(new JsonObject { ["j1"] = token }));
        Assert.Equal((42L, "hr-portal", DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_250)), (change.JournalPosition!.Value, change.Writer!, change.EventTime!.Value));
    }

    public void Dispose()
    {
        try
        {
            File.Delete(ScimSync.Secrets.KeyRing.DefaultPathFor(_dir));
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
