using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>RFC 8935 push delivery to a real receiver on loopback.</summary>
public sealed class PushDeliveryTests(FeedServerFixture server) : IClassFixture<FeedServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private async Task<string> Subscribe(string url, JsonObject? extra = null)
    {
        var body = new JsonObject { ["name"] = Unique("push"), ["audience"] = "https://receiver.test", ["delivery"] = "push", ["pushUrl"] = url, ["resourceTypes"] = new JsonArray("User") };
        foreach (var (k, v) in extra ?? []) body[k] = v?.DeepClone();
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    private async Task<JsonNode> Stats(string sub) => (await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}")).Json["stats"]!;

    [Fact]
    public async Task Events_are_pushed_as_secevent_jwt_in_per_resource_order()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var sub = await Subscribe(receiver.Url);
        var id = await _c.CreateUserAsync(Unique("pushed"));
        for (var i = 0; i < 5; i++) await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", $"t{i}")));
        await receiver.WaitForAsync(6, TimeSpan.FromSeconds(10));
        Assert.Equal(6, receiver.Received.Count);
        Assert.All(receiver.Received, r => Assert.StartsWith("application/secevent+jwt", r.ContentType));
        var versions = receiver.Received.Select(r => SetToken.Claims(r.Token)["events"]!.AsObject().First().Value!["version"]?.GetValue<string>() ?? "").ToArray();
        Assert.Equal(["W/\"1\"", "W/\"2\"", "W/\"3\"", "W/\"4\"", "W/\"5\"", "W/\"6\""], versions);
        await WaitUntil(async () => (await Stats(sub))["pending"]!.GetValue<long>() == 0 && (await Stats(sub))["inFlight"]!.GetValue<long>() == 0);
        using var plain = new HttpClient();
        var metrics = await plain.GetStringAsync(new Uri(server.BaseAddress, "/metrics"));
        Assert.Contains("scimsync_feed_delivered", metrics);
        Assert.Contains("scimsync_feed_latency", metrics);
    }

    [Fact]
    public async Task Retry_After_is_honoured_on_429()
    {
        await using var receiver = await SetReceiver.StartAsync();
        receiver.Respond = n => n == 1 ? (429, 1, null) : (202, null, null);
        await Subscribe(receiver.Url);
        var sent = DateTimeOffset.UtcNow;
        await _c.CreateUserAsync(Unique("ratelimited"));
        await receiver.WaitForAsync(1, TimeSpan.FromSeconds(10));
        var (at, _, _) = Assert.Single(receiver.Received);
        Assert.True(at - sent >= TimeSpan.FromSeconds(0.9), $"redelivered after {(at - sent).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task A_400_from_the_receiver_is_recorded_as_a_dead_letter_and_can_be_replayed()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var reject = true;
        receiver.Respond = _ => reject ? (400, null, """{"err":"invalid_audience","description":"not for us"}""") : (202, null, null);
        var sub = await Subscribe(receiver.Url);
        await _c.CreateUserAsync(Unique("rejected"));
        await WaitUntil(async () => (await Stats(sub))["deadLetters"]!.GetValue<long>() == 1);
        var dead = (await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}/dead-letters")).Json["deadLetters"]![0]!;
        Assert.Contains("invalid_audience", dead["error"]!.GetValue<string>());
        reject = false;
        Assert.Equal(1, (await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/dead-letters/replay", "{}")).Json["replayed"]!.GetValue<int>());
        await receiver.WaitForAsync(1, TimeSpan.FromSeconds(10));
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task A_receiver_that_stays_down_past_the_budget_gets_dead_letters_and_others_are_unaffected()
    {
        await using var down = await SetReceiver.StartAsync();
        down.Respond = _ => (500, null, null);
        await using var healthy = await SetReceiver.StartAsync();
        var downSub = await Subscribe(down.Url);
        await Subscribe(healthy.Url);
        await _c.CreateUserAsync(Unique("budget"));
        await healthy.WaitForAsync(1, TimeSpan.FromSeconds(5));
        Assert.Single(healthy.Received);
        await WaitUntil(async () => (await Stats(downSub))["deadLetters"]!.GetValue<long>() == 1, TimeSpan.FromSeconds(15));
        var dead = (await _c.GetScimAsync($"/feeds/v1/subscriptions/{downSub}/dead-letters")).Json["deadLetters"]![0]!;
        Assert.Contains("500", dead["error"]!.GetValue<string>());
        Assert.True(dead["attempts"]!.GetValue<int>() >= 2);
    }

    [Fact]
    public async Task Destinations_outside_the_allow_list_are_refused()
    {
        foreach (var url in new[] { "http://10.0.0.1/hook", "http://127.0.0.1:80@evil.example/x", "ftp://127.0.0.1/x", "http://localhost:8080/x" })
        {
            var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("ssrf"), ["audience"] = "a", ["delivery"] = "push", ["pushUrl"] = url });
            AssertError(r, HttpStatusCode.BadRequest, "invalidValue");
        }
    }


    private static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("condition not reached in time");
            await Task.Delay(50);
        }
    }
}
