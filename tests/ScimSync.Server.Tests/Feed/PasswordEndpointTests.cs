using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>The passwords endpoint of a subscription, over HTTP: who may register a key, who may take passwords, what bad input gets.</summary>
public sealed class PasswordEndpointTests(FeedServerFixture server) : IClassFixture<FeedServerFixture>
{
    private static readonly RSA Key = RSA.Create(2048);
    private readonly HttpClient _c = server.Client;

    private async Task<string> SubscribeAsync(JsonObject? key)
    {
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("pw"), ["audience"] = "a", ["passwordKey"] = key });
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task A_key_that_is_not_an_RSA_public_key_is_refused_with_invalidValue()
    {
        var withPrivate = PasswordEnvelope.PublicJwk(Key);
        withPrivate["d"] = "AAAA";
        foreach (var bad in new JsonNode[] { withPrivate, new JsonObject { ["kty"] = "oct", ["k"] = "AAAA" }, JsonValue.Create("not a key") })
        {
            var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("bad"), ["audience"] = "a", ["passwordKey"] = bad.DeepClone() });
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Equal("invalidValue", r.Json["scimType"]?.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_waiting_poll_returns_the_sealed_password_as_soon_as_it_is_set()
    {
        var sub = await SubscribeAsync(PasswordEnvelope.PublicJwk(Key));
        var id = await _c.CreateUserAsync(Unique("waiter"));
        var waiting = _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/passwords", new JsonObject());
        var sw = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "password", "Waited-For-1")))).Status);
        var r = await waiting;
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2.5), $"the poll waited {sw.Elapsed} (its bound is 3 s)");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("no-store", r.Headers.CacheControl?.ToString());
        var item = Assert.Single((JsonArray)r.Json["passwords"]!)!;
        Assert.Equal("Waited-For-1", PasswordEnvelope.Open(Key, item["jwe"]!.GetValue<string>()).Password);
        // Acknowledged: not handed out again.
        r = await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/passwords", new JsonObject { ["ack"] = new JsonArray(item["id"]!.GetValue<string>()), ["returnImmediately"] = true });
        Assert.Empty((JsonArray)r.Json["passwords"]!);
    }

    [Fact]
    public async Task Bad_requests_get_a_clear_error()
    {
        var sub = await SubscribeAsync(PasswordEnvelope.PublicJwk(Key));
        foreach (var ack in new JsonNode[] { JsonValue.Create("x"), new JsonArray(1, 2), new JsonArray(new string('a', 65)), new JsonArray(Enumerable.Range(0, 1001).Select(i => (JsonNode)JsonValue.Create("i" + i)).ToArray()) })
        {
            var r = await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/passwords", new JsonObject { ["ack"] = ack.DeepClone(), ["returnImmediately"] = true });
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions/nosuch/passwords", new JsonObject())).Status);
        var plain = await SubscribeAsync(null);
        Assert.Equal(HttpStatusCode.Forbidden, (await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{plain}/passwords", new JsonObject { ["returnImmediately"] = true })).Status);
    }

    [Fact]
    public async Task The_right_can_be_withdrawn_and_then_nothing_more_is_sealed_for_it()
    {
        var sub = await SubscribeAsync(PasswordEnvelope.PublicJwk(Key));
        var r = await _c.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{sub}", new JsonObject { ["passwordKey"] = null });
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Null(r.Json["passwordKey"]);
        await _c.CreateUserAsync(Unique("after"), u => u["password"] = "Not-For-You-1");
        Assert.Equal(HttpStatusCode.Forbidden, (await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/passwords", new JsonObject { ["returnImmediately"] = true })).Status);
    }
}
