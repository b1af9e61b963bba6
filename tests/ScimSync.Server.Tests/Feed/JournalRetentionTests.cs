using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Feed.Delivery;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

public sealed class NoRetentionFixture : ScimServerFixture
{
    protected override ScimSync.Server.ScimServerOptions Configure(ScimSync.Server.ScimServerOptions o) => o with { JournalRetention = TimeSpan.Zero };
}

public sealed class MaxAgeFixture : ScimServerFixture
{
    protected override ScimSync.Server.ScimServerOptions Configure(ScimSync.Server.ScimServerOptions o) => o with { JournalRetention = TimeSpan.Zero, JournalMaxAge = TimeSpan.Zero };
}

internal static class FeedTestSteps
{
    public static async Task<string> PollSubscription(HttpClient c)
    {
        var r = await c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("ret"), ["audience"] = "a", ["resourceTypes"] = new JsonArray("User") });
        Assert.Equal(HttpStatusCode.Created, r.Status);
        return r.Json["id"]!.GetValue<string>();
    }

    public static Task<Scim.Response> SetState(HttpClient c, string sub, string state) =>
        c.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{sub}", new JsonObject { ["state"] = state });

    public static async Task<int> Drain(HttpClient c, string sub, int expected)
    {
        var got = 0;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (got < expected && DateTime.UtcNow < deadline)
        {
            var r = await c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", new JsonObject { ["maxEvents"] = 100, ["returnImmediately"] = true });
            var sets = r.Json["sets"]!.AsObject();
            got += sets.Count;
            if (sets.Count > 0)
                await c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", new JsonObject { ["ack"] = new JsonArray(sets.Select(kv => (JsonNode)kv.Key).ToArray()), ["maxEvents"] = 0, ["returnImmediately"] = true });
            else await Task.Delay(50);
        }
        return got;
    }
}

/// <summary>Compaction never drops what a subscription still needs, unless a maximum age says so.</summary>
public sealed class JournalRetentionTests(NoRetentionFixture server) : IClassFixture<NoRetentionFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Entries_a_lagging_subscription_needs_are_kept_and_delivered_later()
    {
        var store = server.Services.GetRequiredService<IResourceStore>();
        var compactor = server.Services.GetRequiredService<JournalCompactor>();
        var sub = await FeedTestSteps.PollSubscription(_c);
        Assert.Equal(HttpStatusCode.OK, (await FeedTestSteps.SetState(_c, sub, "disabled")).Status);
        for (var i = 0; i < 5; i++) await _c.CreateUserAsync(Unique("kept"));
        await compactor.RunOnceAsync(default);
        Assert.True((await store.ReadJournalAsync(0, 100, default)).Count >= 5);
        Assert.Equal(HttpStatusCode.OK, (await FeedTestSteps.SetState(_c, sub, "active")).Status);
        Assert.Equal(5, await FeedTestSteps.Drain(_c, sub, 5));

        // Once delivered (fanned out) and older than the retention (zero here), they go.
        var floor = await compactor.RunOnceAsync(default);
        Assert.Empty(await store.ReadJournalAsync(0, 100, default));
        Assert.True(floor >= 5);
        var rewind = await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/rewind", new JsonObject { ["position"] = 0 });
        AssertError(rewind, HttpStatusCode.BadRequest, "invalidValue");
    }
}

public sealed class JournalMaxAgeTests(MaxAgeFixture server) : IClassFixture<MaxAgeFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task A_subscription_behind_the_maximum_age_is_told_to_resnapshot()
    {
        var compactor = server.Services.GetRequiredService<JournalCompactor>();
        var sub = await FeedTestSteps.PollSubscription(_c);
        await FeedTestSteps.SetState(_c, sub, "disabled");
        for (var i = 0; i < 3; i++) await _c.CreateUserAsync(Unique("lost"));
        var floor = await compactor.RunOnceAsync(default);
        await _c.CreateUserAsync(Unique("after"));
        await FeedTestSteps.SetState(_c, sub, "active");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string state;
        do
        {
            state = (await _c.SendAsync(HttpMethod.Get, $"/feeds/v1/subscriptions/{sub}")).Json["state"]!.GetValue<string>();
            if (state == "resnapshot") break;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);
        Assert.Equal("resnapshot", state);
        AssertError(await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/poll", new JsonObject { ["returnImmediately"] = true }), HttpStatusCode.Conflict, null);

        // A new snapshot's position gets it going again.
        var position = long.Parse((await _c.GetScimAsync("Users?count=0")).Headers.GetValues("ScimSync-Journal-Position").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(position >= floor);
        var rewound = await _c.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{sub}/rewind", new JsonObject { ["position"] = position });
        Assert.Equal("active", rewound.Json["state"]!.GetValue<string>());
        await _c.CreateUserAsync(Unique("fresh"));
        Assert.Equal(1, await FeedTestSteps.Drain(_c, sub, 1));
    }
}
