using System.Text.Json.Nodes;
using ScimSync.Feed.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Errors;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using static ScimSync.Server.Tests.Feed.FeedHarness;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// Coalescing: a lagging full-mode subscriber with "coalesce" gets a User's latest state instead of every
/// step, while urgent changes, feed transitions and activations still arrive as themselves, in order.
/// </summary>
public sealed class CoalescingTests
{
    private static SubscriptionConfig Config(bool coalesce = true, string? filter = null) => new()
    {
        Audience = "https://receiver.test", ResourceTypes = ["User", "Group"], Payload = PayloadMode.Full, Coalesce = coalesce, Filter = filter,
    };

    /// <summary>A create of "id" and five PATCHes of its title; with <paramref name="fanOutEach"/>, fan-out runs after each write.</summary>
    private static async Task<long[]> CreateAndPatchFive(FeedHarness h, Subscription sub, string id, bool fanOutEach)
    {
        var positions = new List<long>();
        positions.AddRange(await h.AppendAsync(Change(id, JournalOperation.Create, 1, UserDoc(id, title: "t0"), "userName", "active", "title")));
        if (fanOutEach) await h.FanOutAllAsync(sub);
        for (var v = 2; v <= 6; v++)
        {
            positions.AddRange(await h.AppendAsync(Change(id, JournalOperation.Patch, v, UserDoc(id, title: "t" + (v - 1)), "title") with
            {
                Request = $$"""{"Operations":[{"op":"replace","path":"title","value":"t{{v - 1}}"}]}""",
            }));
            if (fanOutEach) await h.FanOutAllAsync(sub);
        }
        return [.. positions];
    }

    private static JsonObject Data(DeliveryRecord d, string eventName) =>
        SetToken.Claims(d.Token)["events"]!["urn:ietf:params:scim:event:" + eventName]!["data"]!.AsObject();

    private static string Version(DeliveryRecord d) =>
        SetToken.Claims(d.Token)["events"]!.AsObject().Select(kv => kv.Value?["version"]?.GetValue<string>()).FirstOrDefault(v => v is not null) ?? "";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_lagging_subscriber_gets_one_SET_with_the_final_state(bool fanOutEach)
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config());
        var positions = await CreateAndPatchFive(h, sub, "u1", fanOutEach);
        await h.FanOutAllAsync(sub);

        var got = Assert.Single(await h.ReceiveAsync(sub));
        Assert.Equal(["prov:create:full"], FeedHarness.Events(got));
        Assert.Equal("t5", Data(got, "prov:create:full")["title"]!.GetValue<string>());
        Assert.Equal("u1", Data(got, "prov:create:full")["id"]!.GetValue<string>());
        Assert.Equal("W/\"6\"", Version(got));
        Assert.Equal(positions[^1], got.Position);
    }

    [Fact]
    public async Task After_the_creation_was_delivered_the_merged_event_is_a_put_with_the_whole_state()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config());
        await h.AppendAsync(Change("u1", JournalOperation.Create, 1, UserDoc("u1", title: "t0"), "userName", "active", "title"));
        await h.FanOutAllAsync(sub);
        Assert.Equal(["prov:create:full"], FeedHarness.Events(Assert.Single(await h.ReceiveAsync(sub))));
        for (var v = 2; v <= 4; v++)
        {
            await h.AppendAsync(Change("u1", JournalOperation.Patch, v, UserDoc("u1", title: "t" + v), "title"));
            await h.FanOutAllAsync(sub);
        }
        var got = Assert.Single(await h.ReceiveAsync(sub));
        Assert.Equal(["prov:put:full"], FeedHarness.Events(got));
        Assert.Equal("t4", Data(got, "prov:put:full")["title"]!.GetValue<string>());
        Assert.True(Data(got, "prov:put:full")["active"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_subscription_without_coalesce_gets_every_step()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config(coalesce: false));
        var positions = await CreateAndPatchFive(h, sub, "u1", fanOutEach: true);
        var got = await h.ReceiveAsync(sub);
        Assert.Equal(positions, got.Select(d => d.Position));
        Assert.Equal(["prov:create:full"], FeedHarness.Events(got[0]));
        Assert.All(got.Skip(1), d => Assert.Equal(["prov:patch:full"], FeedHarness.Events(d)));
    }

    [Fact]
    public async Task Urgent_changes_and_activations_are_never_merged_and_order_holds()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config());
        var writes = new (JournalAppend Change, bool FanOut)[]
        {
            (Change("u1", JournalOperation.Create, 1, UserDoc("u1", title: "a"), "userName", "active", "title"), true),
            (Change("u2", JournalOperation.Create, 1, UserDoc("u2", title: "a"), "userName", "active", "title"), false),
            (Change("u1", JournalOperation.Patch, 2, UserDoc("u1", title: "b"), "title"), true),
            (Change("u1", JournalOperation.Patch, 3, UserDoc("u1", active: false, title: "b"), "active"), true),   // deactivation: urgent
            (Change("u2", JournalOperation.Patch, 2, UserDoc("u2", title: "b"), "title"), false),
            (Change("u1", JournalOperation.Patch, 4, UserDoc("u1", active: false, title: "c"), "title"), true),
            (Change("u1", JournalOperation.Patch, 5, UserDoc("u1", active: false, title: "d"), "title"), true),
            (Change("u1", JournalOperation.Patch, 6, UserDoc("u1", active: true, title: "d"), "active"), true),   // activation
            (Change("u1", JournalOperation.Patch, 7, UserDoc("u1", active: true, title: "e"), "title"), true),
            (Change("u1", JournalOperation.Patch, 8, UserDoc("u1", active: true, title: "e"), "password"), true), // urgent
            (Change("u1", JournalOperation.Patch, 9, UserDoc("u1", active: true, title: "f"), "title"), true),
            (Change("u1", JournalOperation.Delete, 10, null), true),
        };
        foreach (var (change, fanOut) in writes)
        {
            await h.AppendAsync(change);
            if (fanOut) await h.FanOutAllAsync(sub);
        }
        await h.FanOutAllAsync(sub);
        var got = await h.ReceiveAsync(sub);

        var u1 = got.Where(d => d.ResourceId == "u1").Select(d => (FeedHarness.Events(d), Version(d))).ToArray();
        Assert.Equal(
        [
            (["prov:create:full"], "W/\"2\""),                        // create + title b
            (["prov:patch:full", "prov:deactivate"], "W/\"3\""),
            (["prov:put:full"], "W/\"5\""),                           // titles c and d
            (["prov:patch:full", "prov:activate"], "W/\"6\""),
            (["prov:patch:full"], "W/\"7\""),                         // alone: after an activation, before a password change
            (["prov:patch:full"], "W/\"8\""),                         // the password change (redacted)
            (["prov:patch:full"], "W/\"9\""),                         // alone: after an urgent change
            (["prov:delete"], ""),
        ], u1.Select(x => (x.Item1, x.Item2)));
        Assert.Equal(got.Where(d => d.ResourceId == "u1").Select(d => d.Position).Order(), got.Where(d => d.ResourceId == "u1").Select(d => d.Position));
        var u2 = Assert.Single(got, d => d.ResourceId == "u2");
        Assert.Equal(["prov:create:full"], FeedHarness.Events(u2));
        Assert.Equal("b", Data(u2, "prov:create:full")["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_event_already_claimed_is_not_replaced()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config());
        await h.AppendAsync(Change("u1", JournalOperation.Create, 1, UserDoc("u1", title: "a"), "userName", "active", "title"));
        await h.FanOutAllAsync(sub);
        var inFlight = Assert.Single(await h.Store.Feed.ClaimAsync(sub.Id, 10, h.Time.GetUtcNow(), TimeSpan.FromMinutes(1), default));
        await h.AppendAsync(Change("u1", JournalOperation.Patch, 2, UserDoc("u1", title: "b"), "title"));
        await h.FanOutAllAsync(sub);
        await h.AppendAsync(Change("u1", JournalOperation.Patch, 3, UserDoc("u1", title: "c"), "title"));
        await h.FanOutAllAsync(sub);
        await h.Store.Feed.AckAsync(sub.Id, [inFlight.Jti], default);

        var got = Assert.Single(await h.ReceiveAsync(sub));
        Assert.Equal(["prov:put:full"], FeedHarness.Events(got));
        Assert.Equal("c", Data(got, "prov:put:full")["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_fan_out_step_whose_replaced_event_was_claimed_meanwhile_writes_nothing()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config());
        await h.AppendAsync(Change("u1", JournalOperation.Create, 1, UserDoc("u1"), "userName", "active"));
        await h.FanOutAllAsync(sub);
        var s = await h.ReloadAsync(sub);
        var queued = (await h.Store.Feed.CoalescibleAsync(s.Id, ["u1"], default))["u1"];
        Assert.Equal(Coalescible.Create, queued.Coalescible);
        // Claimed between fan-out's read and its commit.
        Assert.Single(await h.Store.Feed.ClaimAsync(s.Id, 10, h.Time.GetUtcNow(), TimeSpan.FromMinutes(1), default));
        var replacement = new DeliveryRecord(s.Id, "replacement", queued.Position + 1, "u1", false, "token", 0, null) { Created = h.Time.GetUtcNow(), Coalescible = Coalescible.Create };
        var commit = new FanoutCommit(s.FanoutPosition, s.FanoutPosition + 1, s.AheadPosition, s.AheadPosition, [replacement]) { Superseded = [queued.Jti] };
        Assert.False(await h.Store.Feed.CommitFanoutAsync(s.Id, commit, default));
        Assert.Equal(s.FanoutPosition, (await h.ReloadAsync(sub)).FanoutPosition);
        var stats = await h.Store.Feed.StatsAsync(s.Id, default);
        Assert.Equal((0L, 1L), (stats.Pending, stats.InFlight));
    }

    [Fact]
    public async Task Groups_and_feed_transitions_are_not_merged()
    {
        await using var h = await StartAsync(100);
        var sub = await h.SubscribeAsync(Config(filter: "title eq \"in\" or displayName pr"));
        await h.AppendAsync(new JournalAppend("t", "Group", "g1", JournalOperation.Create, 1, ["displayName"],
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}""", null, "a", DateTimeOffset.UnixEpoch));
        await h.AppendAsync(new JournalAppend("t", "Group", "g1", JournalOperation.Patch, 2, ["displayName"],
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"h"}""", null, "a", DateTimeOffset.UnixEpoch));
        await h.AppendAsync(Change("u1", JournalOperation.Create, 1, UserDoc("u1", title: "out"), "userName", "active", "title"));
        await h.AppendAsync(Change("u1", JournalOperation.Patch, 2, UserDoc("u1", title: "in"), "title"));        // feed:add
        var nick = UserDoc("u1", title: "in");
        nick["nickName"] = "n";
        await h.AppendAsync(Change("u1", JournalOperation.Patch, 3, nick, "nickName"));
        await h.FanOutAllAsync(sub);
        var got = await h.ReceiveAsync(sub);
        Assert.Equal(2, got.Count(x => x.ResourceId == "g1"));
        Assert.Equal([["feed:add", "prov:put:full"], ["prov:patch:full"]], got.Where(x => x.ResourceId == "u1").Select(FeedHarness.Events));
    }

    [Fact]
    public async Task Coalesce_needs_a_full_payload()
    {
        await using var h = await StartAsync(100);
        var e = await Assert.ThrowsAsync<ScimException>(() => h.SubscribeAsync(Config() with { Payload = PayloadMode.Notice }));
        Assert.Equal(400, e.Status);
        Assert.Equal("invalidValue", e.ScimType);
    }
}
