using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

public sealed class FeedServerFixture : ScimServerFixture
{
    protected override ScimSync.Server.ScimServerOptions Configure(ScimSync.Server.ScimServerOptions options) =>
        options with
        {
            EventVisibilityTimeout = TimeSpan.FromSeconds(1),
            MaxPollWait = TimeSpan.FromSeconds(3),
            PushAllowList = ["http://127.0.0.1:*"],
            PushBaseBackoff = TimeSpan.FromMilliseconds(100),
            PushTimeBudget = TimeSpan.FromSeconds(3),
        };
}

/// <summary>RFC 8936 poll delivery of RFC 9967 SETs, end to end over HTTP.</summary>
public sealed class PollDeliveryTests(FeedServerFixture server) : IClassFixture<FeedServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private async Task<(string Id, string? Secret)> Subscribe(JsonObject config)
    {
        config["name"] ??= Unique("sub");
        config["audience"] ??= "https://receiver.test";
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", config);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return (r.Json["id"]!.GetValue<string>(), r.Json["secret"]?.GetValue<string>());
    }

    private async Task<JsonObject> Poll(string sub, JsonObject? body = null)
    {
        var r = await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", body ?? new JsonObject { ["returnImmediately"] = true });
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return r.Json;
    }

    /// <summary>Polls until at least <paramref name="count"/> SETs arrived (fan-out is asynchronous).</summary>
    private async Task<List<(string Jti, JsonObject Claims, string Token)>> Receive(string sub, int count, bool ack = true)
    {
        var got = new List<(string, JsonObject, string)>();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (got.Count < count && DateTime.UtcNow < deadline)
        {
            var r = await Poll(sub, new JsonObject { ["maxEvents"] = 100, ["returnImmediately"] = false });
            var acks = new JsonArray();
            foreach (var (jti, token) in r["sets"]!.AsObject())
            {
                got.Add((jti, SetToken.Claims(token!.GetValue<string>()), token.GetValue<string>()));
                acks.Add(jti);
            }
            if (ack && acks.Count > 0) await Poll(sub, new JsonObject { ["ack"] = acks, ["maxEvents"] = 0, ["returnImmediately"] = true });
        }
        return got;
    }


    private static bool VerifyHs256(string token, string secretBase64)
    {
        var parts = token.Split('.');
        var mac = HMACSHA256.HashData(Convert.FromBase64String(secretBase64), Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        var expected = Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(parts[2]));
    }

    [Fact]
    public async Task A_create_arrives_as_a_signed_notice_and_is_gone_once_acknowledged()
    {
        var (sub, secret) = await Subscribe(new JsonObject { ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User") });
        var name = Unique("feeduser");
        var id = await _c.CreateUserAsync(name, u => u["externalId"] = "ext-" + name);
        var sets = await Receive(sub, 1);
        var (_, claims, token) = Assert.Single(sets);
        Assert.True(VerifyHs256(token, secret!));
        Assert.Equal("https://scimsync.test", claims["iss"]!.GetValue<string>());
        Assert.Equal("https://receiver.test", claims["aud"]![0]!.GetValue<string>());
        Assert.Null(claims["sub"]);
        Assert.Equal("scim", claims["sub_id"]!["format"]!.GetValue<string>());
        Assert.Equal($"/Users/{id}", claims["sub_id"]!["uri"]!.GetValue<string>());
        var notice = claims["events"]!["urn:ietf:params:scim:event:prov:create:notice"]!;
        Assert.Contains("userName", notice["attributes"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Empty((await Poll(sub))["sets"]!.AsObject());
    }

    [Fact]
    public async Task Unacknowledged_sets_are_redelivered_with_the_same_jti()
    {
        var (sub, _) = await Subscribe(new JsonObject { ["payload"] = "full" });
        await _c.CreateUserAsync(Unique("redeliver"));
        var first = await Receive(sub, 1, ack: false);
        Assert.Empty((await Poll(sub))["sets"]!.AsObject()); // invisible while in flight
        await Task.Delay(1500); // visibility timeout is 1 s in this fixture
        var again = await Receive(sub, 1);
        Assert.Equal(first[0].Jti, again[0].Jti);
        Assert.NotNull(again[0].Claims["events"]!["urn:ietf:params:scim:event:prov:create:full"]!["data"]!["id"]);
    }

    [Fact]
    public async Task Changes_confined_to_ignored_attributes_produce_no_event()
    {
        var id = await _c.CreateUserAsync(Unique("noise"));
        var (sub, _) = await Subscribe(new JsonObject { ["ignoredAttributes"] = new JsonArray("title", "name") });
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "logged in at 10:00")));
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "name.givenName", "G")));
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "11:00"), Op("replace", "nickName", "real change")));
        var sets = await Receive(sub, 1);
        await Task.Delay(300);
        sets.AddRange(await Receive(sub, 0));
        var only = Assert.Single(sets);
        Assert.Contains("nickName", only.Claims["events"]!["urn:ietf:params:scim:event:prov:patch:notice"]!["attributes"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [Fact]
    public async Task Deactivation_overtakes_queued_routine_changes()
    {
        var ids = new List<string>();
        for (var i = 0; i < 20; i++) ids.Add(await _c.CreateUserAsync(Unique("routine")));
        var victim = await _c.CreateUserAsync(Unique("leaver"), u => u["active"] = true);
        var (sub, _) = await Subscribe(new JsonObject { ["resourceTypes"] = new JsonArray("User") });
        foreach (var id in ids) await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "routine edit")));
        await _c.PatchAsync($"Users/{victim}", Patch(Op("replace", "active", false)));
        // Wait for fan-out to queue all 21 events, then take one.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}")).Json["stats"]!["pending"]!.GetValue<long>() < 21 && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        var first = await Poll(sub, new JsonObject { ["maxEvents"] = 1, ["returnImmediately"] = true });
        var (_, token) = Assert.Single(first["sets"]!.AsObject());
        var claims = SetToken.Claims(token!.GetValue<string>());
        Assert.Equal($"/Users/{victim}", claims["sub_id"]!["uri"]!.GetValue<string>());
        Assert.NotNull(claims["events"]!["urn:ietf:params:scim:event:prov:deactivate"]);
        Assert.True(first["moreAvailable"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Resources_entering_and_leaving_the_filter_yield_feed_add_and_remove()
    {
        var tag = Unique("dept");
        var (sub, _) = await Subscribe(new JsonObject { ["filter"] = $"title eq \"{tag}\"", ["resourceTypes"] = new JsonArray("User") });
        var inside = await _c.CreateUserAsync(Unique("in"), u => u["title"] = tag);
        await _c.CreateUserAsync(Unique("out"), u => u["title"] = "elsewhere");
        await _c.PatchAsync($"Users/{inside}", Patch(Op("replace", "title", "moved")));
        await _c.PatchAsync($"Users/{inside}", Patch(Op("replace", "title", tag)));
        var sets = await Receive(sub, 3);
        Assert.Equal(3, sets.Count);
        Assert.All(sets, s => Assert.Equal($"/Users/{inside}", s.Claims["sub_id"]!["uri"]!.GetValue<string>()));
        Assert.NotNull(sets[0].Claims["events"]!["urn:ietf:params:scim:event:prov:create:notice"]);
        Assert.NotNull(sets[1].Claims["events"]!["urn:ietf:params:scim:event:feed:remove"]);
        Assert.NotNull(sets[2].Claims["events"]!["urn:ietf:params:scim:event:feed:add"]);
    }

    [Fact]
    public async Task A_lagging_coalescing_subscriber_gets_the_latest_state_in_one_SET()
    {
        AssertError(await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("c"), ["audience"] = "a", ["coalesce"] = true }), HttpStatusCode.BadRequest, "invalidValue");
        var (sub, _) = await Subscribe(new JsonObject { ["payload"] = "full", ["coalesce"] = true, ["resourceTypes"] = new JsonArray("User") });
        var id = await _c.CreateUserAsync(Unique("coalesced"));
        for (var i = 1; i <= 5; i++) await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", $"step {i}")));
        var head = long.Parse((await _c.GetScimAsync("Users?count=0")).Headers.GetValues("ScimSync-Journal-Position").Single(), System.Globalization.CultureInfo.InvariantCulture);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}")).Json["fanoutPosition"]!.GetValue<long>() < head && DateTime.UtcNow < deadline)
            await Task.Delay(50);

        var sets = (await Poll(sub, new JsonObject { ["maxEvents"] = 100, ["returnImmediately"] = true }))["sets"]!.AsObject();
        var (_, token) = Assert.Single(sets);
        var create = SetToken.Claims(token!.GetValue<string>())["events"]!["urn:ietf:params:scim:event:prov:create:full"]!;
        Assert.Equal("step 5", create["data"]!["title"]!.GetValue<string>());
        Assert.Equal("W/\"6\"", create["version"]!.GetValue<string>());
    }

    [Fact]
    public async Task Subscription_management_needs_admin_and_validates_input()
    {
        var tokens = (ScimSync.Server.Security.TokenService)server.Services.GetService(typeof(ScimSync.Server.Security.TokenService))!;
        var (secret, _) = await tokens.CreateAsync(Unique("reader"), [ScimSync.Server.Security.Scopes.Read], null, null, default);
        using var reader = server.CreateClient(secret);
        AssertError(await reader.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = "x", ["audience"] = "a" }), HttpStatusCode.Forbidden, null);
        AssertError(await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = "x", ["audience"] = "a", ["filter"] = "title regex \"x\"" }), HttpStatusCode.BadRequest, "invalidFilter");
        AssertError(await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = "x", ["audience"] = "a", ["delivery"] = "push" }), HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = "x", ["audience"] = "a", ["signing"] = "HS1" }), HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions/nope/poll", new JsonObject()), HttpStatusCode.NotFound, null);

        // Polling takes the subscription's own token: another subscription's token or a plain reader cannot.
        var first = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("own"), ["audience"] = "a" });
        var second = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("other"), ["audience"] = "b" });
        var sub = first.Json["id"]!.GetValue<string>();
        using var own = server.CreateClient(first.Json["pollToken"]!.GetValue<string>());
        using var foreign = server.CreateClient(second.Json["pollToken"]!.GetValue<string>());
        var poll = new JsonObject { ["returnImmediately"] = true };
        Assert.Equal(HttpStatusCode.OK, (await own.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", poll)).Status);
        AssertError(await foreign.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", poll), HttpStatusCode.Forbidden, null);
        AssertError(await reader.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", poll), HttpStatusCode.Forbidden, null);
        AssertError(await own.GetScimAsync("Users"), HttpStatusCode.Forbidden, null);
        using var anonymous = server.CreateClient(null);
        AssertError(await anonymous.SendAsync(HttpMethod.Get, "/feeds/v1/subscriptions"), HttpStatusCode.Unauthorized, null);
    }
}
