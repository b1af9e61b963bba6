using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>A server of its own per test, so that one hostile receiver cannot disturb another test's.</summary>
public sealed class HostileFeedServer(Func<ScimServerOptions, ScimServerOptions>? configure) : ScimServerFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions options)
    {
        var feed = options with
        {
            PushAllowList = ["http://127.0.0.1:*"],
            PushBaseBackoff = TimeSpan.FromMilliseconds(100),
            PushTimeBudget = TimeSpan.FromSeconds(3),
            PushTimeout = TimeSpan.FromSeconds(2),
        };
        return configure?.Invoke(feed) ?? feed;
    }

    public static async Task<HostileFeedServer> StartAsync(Func<ScimServerOptions, ScimServerOptions>? configure = null)
    {
        var server = new HostileFeedServer(configure);
        await server.InitializeAsync();
        return server;
    }

    public async Task<string> SubscribeAsync(string url, JsonObject? extra = null)
    {
        var body = new JsonObject { ["name"] = Unique("push"), ["audience"] = "https://receiver.test", ["delivery"] = "push", ["pushUrl"] = url, ["resourceTypes"] = new JsonArray("User") };
        foreach (var (k, v) in extra ?? []) body[k] = v?.DeepClone();
        var r = await Client.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    public async Task<JsonObject> SubscriptionAsync(string sub) => (await Client.GetScimAsync($"/feeds/v1/subscriptions/{sub}")).Json;

    public async Task<long> StatAsync(string sub, string name) => (await SubscriptionAsync(sub))["stats"]![name]!.GetValue<long>();

    public async Task<JsonArray> DeadLettersAsync(string sub) => (await Client.GetScimAsync($"/feeds/v1/subscriptions/{sub}/dead-letters")).Json["deadLetters"]!.AsArray();

    public static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"not reached in {timeout.TotalSeconds:F0} s: {what}");
            await Task.Delay(50);
        }
    }
}

/// <summary>
/// Push receivers that attack the transmitter with their answers (issue 11, the event feed): whatever they
/// send, the server reads a bounded amount, records a delivery failure that follows the retry and
/// dead-letter path, and keeps delivering to everyone else.
/// </summary>
public sealed class HostileReceiverTests
{
    // What may pass through the loopback socket buffers and the pipes on both sides before the transmitter's
    // cap stops the reading: generous, and still far below the answers these receivers try to send.
    private const long Buffers = 32L * 1024 * 1024;

    [Fact]
    public async Task A_400_with_a_400_MB_body_is_read_only_up_to_the_cap_and_dead_lettered_with_a_short_reason()
    {
        await using var server = await HostileFeedServer.StartAsync();
        await using var receiver = HostileReceiver.Huge(400, 400L * 1024 * 1024);
        var sub = await server.SubscribeAsync(receiver.Url);
        await server.Client.CreateUserAsync(Unique("huge"));

        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "deadLetters") == 1, TimeSpan.FromSeconds(30), "the event is dead-lettered");
        Assert.True(receiver.LargestAnswerSent < Buffers, $"the server took {receiver.LargestAnswerSent:N0} bytes of one answer");
        var reason = (await server.DeadLettersAsync(sub))[0]!["error"]!.GetValue<string>();
        Assert.StartsWith("400", reason);
        Assert.InRange(reason.Length, 1, 600);
    }

    [Fact]
    public async Task An_endless_answer_to_a_batch_is_cut_at_the_cap_and_the_batch_is_retried_not_accepted()
    {
        await using var server = await HostileFeedServer.StartAsync();
        await using var receiver = HostileReceiver.Endless(200);
        var sub = await server.SubscribeAsync(receiver.Url, new JsonObject { ["pushBatch"] = 10 });
        for (var i = 0; i < 3; i++) await server.Client.CreateUserAsync(Unique("endless"));

        // The answer's setErrs could not be read, so nothing counts as accepted: each SET is retried until its
        // time budget (3 s here) is spent, then dead-lettered with the reason.
        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "deadLetters") == 3, TimeSpan.FromSeconds(60), "the batch is dead-lettered after retries");
        Assert.True(receiver.Requests >= 2, $"{receiver.Requests} requests: the batch was not retried");
        Assert.True(receiver.LargestAnswerSent < Buffers, $"the server took {receiver.LargestAnswerSent:N0} bytes of one answer");
        var dead = await server.DeadLettersAsync(sub);
        Assert.All(dead, d => Assert.InRange(d!["error"]!.GetValue<string>().Length, 1, 600));
    }

    [Fact]
    public async Task A_gzip_bomb_is_never_inflated_and_the_event_is_dead_lettered()
    {
        await using var server = await HostileFeedServer.StartAsync();
        await using var receiver = HostileReceiver.GzipBomb(256L * 1024 * 1024);
        var sub = await server.SubscribeAsync(receiver.Url);
        await server.Client.CreateUserAsync(Unique("bomb"));

        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "deadLetters") == 1, TimeSpan.FromSeconds(30), "the event is dead-lettered");
        var reason = (await server.DeadLettersAsync(sub))[0]!["error"]!.GetValue<string>();
        Assert.Contains("gzip", reason, StringComparison.Ordinal);
        Assert.InRange(reason.Length, 1, 600);
    }

    private static readonly Dictionary<string, string> Malformed = new()
    {
        ["err is a number"] = """{"err":1}""",
        ["description is an object"] = """{"err":"invalid_request","description":{"nested":true}}""",
        ["err is an array"] = """{"err":["a"],"description":7}""",
        ["an array"] = "[1,2,3]",
        ["a JSON string"] = "\"just a string\"",
        ["null"] = "null",
        ["not JSON"] = "not json at all <html>",
        ["empty"] = "",
        ["a 60 KB description"] = "{\"err\":\"invalid_request\",\"description\":\"" + new string('x', 60_000) + "\"}",
        ["a 60 KB err"] = "{\"err\":\"" + new string('e', 60_000) + "\"}",
        ["terminal escapes"] = """{"err":"invalid_request","description":"\u001b[2J\u001b[31mfake terminal output\u0007"}""",
    };

    public static TheoryData<string> MalformedErrorBodies() => new(Malformed.Keys);

    [Theory]
    [MemberData(nameof(MalformedErrorBodies))]
    public async Task A_400_whose_body_is_not_an_RFC_8935_error_is_a_recorded_dead_letter_not_an_event_left_in_flight(string answer)
    {
        await using var server = await HostileFeedServer.StartAsync();
        await using var receiver = HostileReceiver.Answering(400, Malformed[answer]);
        var sub = await server.SubscribeAsync(receiver.Url);
        await server.Client.CreateUserAsync(Unique("malformed"));

        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "deadLetters") == 1, TimeSpan.FromSeconds(10), "the event is dead-lettered");
        Assert.Equal(0, await server.StatAsync(sub, "inFlight"));
        Assert.Equal(0, await server.StatAsync(sub, "pending"));
        var reason = (await server.DeadLettersAsync(sub))[0]!["error"]!.GetValue<string>();
        Assert.StartsWith("400", reason);
        Assert.InRange(reason.Length, 1, 600);
        Assert.DoesNotContain(reason, char.IsControl);
    }

    public static TheoryData<string> Stallers() => new() { "drip", "silent" };

    [Theory]
    [MemberData(nameof(Stallers))]
    public async Task A_receiver_that_stalls_does_not_delay_another_subscription(string how)
    {
        // A dispatcher serving subscriptions one after the other would hold the healthy one back for the push
        // timeout, past the 3 s allowed below.
        await using var server = await HostileFeedServer.StartAsync(o => o with { PushTimeout = TimeSpan.FromSeconds(5) });
        await using var hostile = how == "drip" ? HostileReceiver.Drip(202, TimeSpan.FromMilliseconds(200)) : HostileReceiver.Silent();
        await using var healthy = await SetReceiver.StartAsync();
        // Created first, so that a dispatcher taking subscriptions one after the other serves it first.
        var stalled = await server.SubscribeAsync(hostile.Url);
        await server.SubscribeAsync(healthy.Url);
        for (var i = 0; i < 5; i++) await server.Client.CreateUserAsync(Unique("bystander"));

        await healthy.WaitForAsync(5, TimeSpan.FromSeconds(3));
        Assert.Equal(5, healthy.Received.Count);
        // The stalled requests end at the push timeout; their 3 s budget is spent by then, so they are dead letters.
        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(stalled, "deadLetters") == 5, TimeSpan.FromSeconds(60), "the stalled events are dead-lettered");
        var reason = (await server.DeadLettersAsync(stalled))[0]!["error"]!.GetValue<string>();
        Assert.Contains("timeout", reason, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Requests_to_one_destination_stay_within_its_concurrency_whatever_the_number_of_subscriptions()
    {
        await using var server = await HostileFeedServer.StartAsync();
        await using var silent = HostileReceiver.Silent();
        var first = await server.SubscribeAsync(silent.Url);
        var second = await server.SubscribeAsync(silent.Url);
        for (var i = 0; i < 40; i++) await server.Client.CreateUserAsync(Unique("crowd"));

        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(first, "deadLetters") + await server.StatAsync(second, "deadLetters") == 80,
            TimeSpan.FromSeconds(60), "every event is dead-lettered after timeouts");
        // PushConcurrency (16) is per destination: two subscriptions to one receiver share it. Every request waits out
        // its timeout (2 s, or the rest of the 3-s budget: at least about 0.8 s), so the requests that arrived within
        // any half second were all in flight together. (Counting open requests as the receiver sees them once found
        // 17: a slot's next request had arrived before the receiver noticed its timed-out one hang up.)
        Assert.InRange(silent.MostStartedWithin(TimeSpan.FromMilliseconds(500)), 2, 16);
    }

    [Fact]
    public async Task An_allowed_name_that_resolves_to_loopback_is_refused_at_connect_unless_the_address_is_allowed()
    {
        await using var receiver = await SetReceiver.StartAsync();
        var byName = receiver.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);

        // Only the name is allowed: localhost resolves to a loopback address, which is not.
        await using (var server = await HostileFeedServer.StartAsync(o => o with { PushAllowList = ["http://localhost:*"] }))
        {
            var sub = await server.SubscribeAsync(byName);
            await server.Client.CreateUserAsync(Unique("rebound"));
            await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "deadLetters") == 1, TimeSpan.FromSeconds(10), "the event is refused");
            var reason = (await server.DeadLettersAsync(sub))[0]!["error"]!.GetValue<string>();
            Assert.Contains("127.0.0.1", reason, StringComparison.Ordinal);
            Assert.Empty(receiver.Received);
        }

        // The operator allows the loopback address too: the same name now reaches the receiver.
        await using (var server = await HostileFeedServer.StartAsync(o => o with { PushAllowList = ["http://localhost:*", "http://127.0.0.1:*"] }))
        {
            await server.SubscribeAsync(byName);
            await server.Client.CreateUserAsync(Unique("allowed"));
            await receiver.WaitForAsync(1, TimeSpan.FromSeconds(10));
            Assert.Single(receiver.Received);
        }
    }
}
