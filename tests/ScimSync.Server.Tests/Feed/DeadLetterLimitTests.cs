using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Feed;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// The dead-letter list of a subscription is bounded. Past the bound nothing is dropped: the events that do
/// not fit stay queued, the subscription is suspended with a reason, fan-out stops (the journal keeps what
/// comes next), and the operator replays or discards the dead letters and resumes it.
/// </summary>
public sealed class DeadLetterLimitTests
{
    private static Task<HostileFeedServer> StartAsync() => HostileFeedServer.StartAsync(o => o with { DeadLetterMaxCount = 3 });

    [Fact]
    public async Task A_push_subscription_whose_dead_letter_list_is_full_is_suspended_and_loses_nothing()
    {
        await using var server = await StartAsync();
        await using var receiver = await SetReceiver.StartAsync();
        var reject = true;
        receiver.Respond = _ => reject ? (400, null, """{"err":"invalid_request","description":"no"}""") : (202, null, null);
        // Answers wait until all five are queued: otherwise the list can fill (and fan-out stop) before the
        // fifth is fanned out, and it would wait in the journal instead of the queue.
        var allQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.Hold = () => allQueued.Task;
        var sub = await server.SubscribeAsync(receiver.Url);
        var users = new List<string>();
        for (var i = 0; i < 5; i++) users.Add(await server.Client.CreateUserAsync(Unique("rejected")));
        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "pending") + await server.StatAsync(sub, "inFlight") == 5,
            TimeSpan.FromSeconds(10), "all five are queued");
        allQueued.SetResult();

        await HostileFeedServer.WaitUntil(async () => (await server.SubscriptionAsync(sub))["state"]!.GetValue<string>() == "suspended",
            TimeSpan.FromSeconds(10), "the subscription is suspended");
        var view = await server.SubscriptionAsync(sub);
        Assert.Contains("dead-letter list is full", view["stateReason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(3, view["stats"]!["deadLetters"]!.GetValue<long>());
        // The two that did not fit are still queued, with the receiver's reason.
        Assert.Equal(2, view["stats"]!["pending"]!.GetValue<long>() + view["stats"]!["inFlight"]!.GetValue<long>());

        // A change while suspended waits in the journal (see the fan-out test below) and comes after resuming.
        users.Add(await server.Client.CreateUserAsync(Unique("later")));

        // The operator drops the dead letters (their decision), fixes the receiver and resumes.
        var discarded = await server.Client.SendAsync(HttpMethod.Delete, $"/feeds/v1/subscriptions/{sub}/dead-letters");
        Assert.Equal(3, discarded.Json["discarded"]!.GetValue<int>());
        reject = false;
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{sub}", new JsonObject { ["state"] = "active" })).Status);
        await receiver.WaitForAsync(3, TimeSpan.FromSeconds(10));
        var delivered = receiver.Received.Select(r => SetToken.Claims(r.Token)["sub_id"]!["id"]!.GetValue<string>()).ToHashSet();
        Assert.Equal(3, delivered.Count);
        Assert.Contains(users[^1], delivered);
        Assert.Null((await server.SubscriptionAsync(sub))["stateReason"]);
    }

    [Fact]
    public async Task A_poll_subscriber_whose_setErrs_overflow_the_list_gets_a_409_and_the_overflow_stays_queued()
    {
        await using var server = await StartAsync();
        var created = await server.Client.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions",
            new JsonObject { ["name"] = Unique("poll"), ["audience"] = "a", ["resourceTypes"] = new JsonArray("User") });
        var sub = created.Json["id"]!.GetValue<string>();
        for (var i = 0; i < 5; i++) await server.Client.CreateUserAsync(Unique("polled"));
        await HostileFeedServer.WaitUntil(async () => await server.StatAsync(sub, "pending") == 5, TimeSpan.FromSeconds(10), "five events queued");

        var polled = await server.Client.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", new JsonObject { ["returnImmediately"] = true });
        var errors = new JsonObject();
        foreach (var (jti, _) in polled.Json["sets"]!.AsObject()) errors[jti] = new JsonObject { ["err"] = "invalid_request", ["description"] = "no" };
        var answer = await server.Client.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll",
            new JsonObject { ["setErrs"] = errors, ["returnImmediately"] = true }, r => r.Content!.Headers.ContentLanguage.Add("en"));

        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        var view = await server.SubscriptionAsync(sub);
        Assert.Equal("suspended", view["state"]!.GetValue<string>());
        Assert.Equal(3, view["stats"]!["deadLetters"]!.GetValue<long>());
        Assert.Equal(2, view["stats"]!["pending"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_suspended_subscription_is_not_fanned_out_until_it_is_active_again()
    {
        await using var h = await FeedHarness.StartAsync(fanoutBatch: 100);
        var s = await h.SubscribeAsync(new() { Audience = "a", ResourceTypes = ["User"] });
        await h.Subscriptions.SuspendAsync(s, default);
        await h.BacklogAsync(3);

        Assert.Equal(0, await h.Worker.RunOnceAsync(await h.ReloadAsync(s), default));
        Assert.Equal(0, (await h.Store.Feed.StatsAsync(s.Id, default)).Pending);

        var suspended = await h.ReloadAsync(s);
        Assert.Equal(ScimSync.Feed.Subscriptions.SubscriptionState.Suspended, suspended.State);
        await h.Subscriptions.UpdateAsync(suspended, suspended.Config, ScimSync.Feed.Subscriptions.SubscriptionState.Active, default);
        await h.FanOutAllAsync(s);
        Assert.Equal(3, (await h.Store.Feed.StatsAsync(s.Id, default)).Pending);
    }

    [Fact]
    public async Task The_byte_limit_counts_SETs_and_reasons_and_the_first_dead_letter_always_fits()
    {
        await using var h = await FeedHarness.StartAsync(fanoutBatch: 100);
        var s = await h.SubscribeAsync(new() { Audience = "a", ResourceTypes = ["User"] });
        await h.BacklogAsync(4);
        await h.FanOutAllAsync(s);
        var claimed = await h.Store.Feed.ClaimAsync(s.Id, 10, h.Time.GetUtcNow(), TimeSpan.FromMinutes(1), default);
        Assert.Equal(4, claimed.Count);
        var oneSet = claimed.Max(d => d.Token.Length);

        // Room for about one SET and its reason: the first goes in (the first always does), the rest stay queued.
        var limit = new DeadLetterLimit(MaxCount: 100, MaxBytes: oneSet + 10);
        var result = await h.Store.Feed.DeadLetterAsync(s.Id, claimed.ToDictionary(d => d.Jti, _ => "rejected"), limit, default);

        Assert.Equal(new DeadLetterResult(DeadLettered: 1, Held: 3), result);
        var stats = await h.Store.Feed.StatsAsync(s.Id, default);
        Assert.Equal(1, stats.DeadLetters);
        Assert.Equal(3, stats.Pending);
        Assert.All(await h.ReceiveAsync(s), d => Assert.Equal("rejected", d.LastError));
    }
}
