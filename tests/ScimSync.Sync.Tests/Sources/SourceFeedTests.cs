using System.Net;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using ScimSync.Client;
using ScimSync.Sync.Shadows;
using ScimSync.Sync.Sources;

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

    private static string Set(string jti, byte[] key, string audience = "scimsync-sync") =>
        new JsonWebTokenHandler().CreateToken(new JsonObject
        {
            ["jti"] = jti, ["iss"] = "https://hr.example", ["aud"] = audience, ["iat"] = 1_790_000_000, ["txn"] = "t-" + jti,
            ["sub_id"] = new JsonObject { ["format"] = "scim", ["uri"] = "/Users/u1", ["id"] = "u1" },
            ["events"] = new JsonObject { ["urn:ietf:params:scim:event:prov:deactivate"] = new JsonObject() },
        }.ToJsonString(), new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256), new Dictionary<string, object> { ["typ"] = "secevent+jwt" });

    private async Task<IReadOnlyList<SourceChange>> PollAsync(JsonObject sets, bool withKey = true)
    {
        using var state = ShadowStore.Open(_dir);
        state.Batch(w =>
        {
            w.SetCheckpoint("feed.subscription", "sub1");
            if (withKey) w.SetSecret("feed.secret", Convert.ToBase64String(Secret));
        });
        using var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, new PollAnswer(sets));
        return await new SourceFeed(client, state, "engine").PollAsync([], returnImmediately: true, CancellationToken.None);
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
        await Assert.ThrowsAsync<InvalidOperationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", other) }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", Secret, audience: "someone-else") }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => PollAsync(new JsonObject { ["j2"] = Set("j1", Secret) }));
    }

    [Fact]
    public async Task Without_a_key_nothing_is_accepted()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => PollAsync(new JsonObject { ["j1"] = Set("j1", Secret) }, withKey: false));
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
        using var state = ShadowStore.Open(_dir);
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
