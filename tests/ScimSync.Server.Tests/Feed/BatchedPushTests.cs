using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// Batched push (our extension, pushBatch &gt; 1): several SETs per POST as {"sets": {jti: SET}}, the receiver
/// accepting all or naming rejected ones in setErrs; a real receiver on loopback.
/// </summary>
public sealed class BatchedPushTests(FeedServerFixture server) : IClassFixture<FeedServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private async Task<string> Subscribe(string url, int pushBatch)
    {
        var body = new JsonObject
        {
            ["name"] = Unique("batch"), ["audience"] = "https://receiver.test", ["delivery"] = "push", ["pushUrl"] = url,
            ["resourceTypes"] = new JsonArray("User"), ["pushBatch"] = pushBatch,
        };
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        Assert.Equal(pushBatch, r.Json["pushBatch"]!.GetValue<int>());
        return r.Json["id"]!.GetValue<string>();
    }

    private async Task<JsonNode> Stats(string sub) => (await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}")).Json["stats"]!;

    private Task<Response> SetState(string sub, string state) =>
        _c.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{sub}", new JsonObject { ["state"] = state });

    /// <summary>Queues changes while the subscription is paused (fan-out goes on, delivery waits), then resumes it.</summary>
    private async Task QueueWhilePaused(string sub, int expected, Func<Task> writes)
    {
        Assert.Equal(HttpStatusCode.OK, (await SetState(sub, "paused")).Status);
        await writes();
        await WaitUntil(async () => (await Stats(sub))["pending"]!.GetValue<long>() == expected);
        Assert.Equal(HttpStatusCode.OK, (await SetState(sub, "active")).Status);
    }

    private static JsonObject Sets(string body) => JsonNode.Parse(body)!["sets"]!.AsObject();

    [Fact]
    public async Task Queued_events_go_in_batches_of_at_most_pushBatch_never_two_of_one_resource_in_one_request()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var sub = await Subscribe(receiver.Url, 10);
        var busy = "";
        await QueueWhilePaused(sub, 25, async () =>
        {
            busy = await _c.CreateUserAsync(Unique("busy"));
            for (var i = 0; i < 4; i++) await _c.PatchAsync($"Users/{busy}", Patch(Op("replace", "title", $"t{i}")));
            for (var i = 0; i < 20; i++) await _c.CreateUserAsync(Unique("batched"));
        });
        await WaitUntil(async () => (await Stats(sub))["pending"]!.GetValue<long>() == 0 && (await Stats(sub))["inFlight"]!.GetValue<long>() == 0);

        var requests = receiver.Received.ToArray();
        Assert.All(requests, r => Assert.StartsWith("application/json", r.ContentType));
        var batches = requests.Select(r => Sets(r.Token).Select(kv => (Jti: kv.Key, Claims: SetToken.Claims(kv.Value!.GetValue<string>()))).ToArray()).ToArray();
        Assert.All(batches, b => Assert.InRange(b.Length, 1, 10));
        Assert.Contains(batches, b => b.Length == 10);
        var all = batches.SelectMany(b => b).ToArray();
        Assert.Equal(25, all.Length);
        Assert.Equal(25, all.Select(x => x.Jti).Distinct().Count());
        Assert.All(all, x => Assert.Equal(x.Jti, x.Claims["jti"]!.GetValue<string>()));
        Assert.All(batches, b => Assert.Equal(b.Length, b.Select(x => x.Claims["sub_id"]!["id"]!.GetValue<string>()).Distinct().Count()));
        var busyVersions = all.Where(x => x.Claims["sub_id"]!["id"]!.GetValue<string>() == busy)
            .Select(x => x.Claims["events"]!.AsObject().First().Value!["version"]!.GetValue<string>());
        Assert.Equal(["W/\"1\"", "W/\"2\"", "W/\"3\"", "W/\"4\"", "W/\"5\""], busyVersions);
    }

    [Fact]
    public async Task SETs_named_in_setErrs_are_dead_lettered_with_the_reason_and_the_rest_acknowledged()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var rejected = new ConcurrentBag<string>();
        receiver.RespondTo = (_, body) =>
        {
            var jti = Sets(body).First().Key;
            rejected.Add(jti);
            return (200, null, new JsonObject { ["setErrs"] = new JsonObject { [jti] = new JsonObject { ["err"] = "invalid_key", ["description"] = "unknown key" } } }.ToJsonString());
        };
        var sub = await Subscribe(receiver.Url, 5);
        await QueueWhilePaused(sub, 10, async () =>
        {
            for (var i = 0; i < 10; i++) await _c.CreateUserAsync(Unique("errs"));
        });
        await WaitUntil(async () => (await Stats(sub))["pending"]!.GetValue<long>() == 0 && (await Stats(sub))["inFlight"]!.GetValue<long>() == 0);

        var dead = (await _c.GetScimAsync($"/feeds/v1/subscriptions/{sub}/dead-letters")).Json["deadLetters"]!.AsArray();
        Assert.Equal(rejected.Order(), dead.Select(d => d!["jti"]!.GetValue<string>()).Order());
        Assert.All(dead, d => Assert.Contains("invalid_key: unknown key", d!["error"]!.GetValue<string>()));
        Assert.Equal(receiver.Received.Count, rejected.Count);
        Assert.Equal(10, receiver.Received.Sum(r => Sets(r.Token).Count));
    }

    [Fact]
    public async Task A_503_retries_the_whole_batch_after_Retry_After()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var attempts = new ConcurrentQueue<(DateTimeOffset At, string[] Jtis)>();
        receiver.RespondTo = (n, body) =>
        {
            attempts.Enqueue((DateTimeOffset.UtcNow, Sets(body).Select(kv => kv.Key).Order().ToArray()));
            return n == 1 ? (503, 1, null) : (202, null, null);
        };
        var sub = await Subscribe(receiver.Url, 50);
        await QueueWhilePaused(sub, 6, async () =>
        {
            for (var i = 0; i < 6; i++) await _c.CreateUserAsync(Unique("retry"));
        });
        await receiver.WaitForAsync(1, TimeSpan.FromSeconds(10));
        var tries = attempts.ToArray();
        Assert.Equal(2, tries.Length);
        Assert.Equal(6, tries[0].Jtis.Length);
        Assert.Equal(tries[0].Jtis, tries[1].Jtis);
        Assert.True(tries[1].At - tries[0].At >= TimeSpan.FromSeconds(0.9), $"retried after {(tries[1].At - tries[0].At).TotalMilliseconds} ms");
        await WaitUntil(async () => (await Stats(sub))["inFlight"]!.GetValue<long>() == 0);
        Assert.Equal(0, (await Stats(sub))["deadLetters"]!.GetValue<long>());
    }

    [Fact]
    public async Task pushBatch_must_be_between_1_and_1000()
    {
        await using var receiver = await SetReceiver.StartAsync();
        foreach (var bad in new JsonNode[] { 0, 1001, -5, "ten", 2.5 })
        {
            var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject
            {
                ["name"] = Unique("bad"), ["audience"] = "a", ["delivery"] = "push", ["pushUrl"] = receiver.Url, ["pushBatch"] = bad.DeepClone(),
            });
            AssertError(r, HttpStatusCode.BadRequest, "invalidValue");
        }
        var sub = await Subscribe(receiver.Url, 1000);
        AssertError(await _c.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{sub}", new JsonObject { ["pushBatch"] = 0 }), HttpStatusCode.BadRequest, "invalidValue");
        var plain = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("plain"), ["audience"] = "a", ["delivery"] = "push", ["pushUrl"] = receiver.Url });
        Assert.Equal(1, plain.Json["pushBatch"]!.GetValue<int>());
    }

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("condition not reached in time");
            await Task.Delay(50);
        }
    }
}
