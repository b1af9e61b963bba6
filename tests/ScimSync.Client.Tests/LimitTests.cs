using System.Text.Json.Nodes;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>The client's own limits: a token bucket and a concurrency cap shared by every call.</summary>
public sealed class LimitTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task The_token_bucket_spaces_requests_at_the_configured_rate_after_a_small_burst()
    {
        await using var stub = await StubServer.StartAsync((ctx, _) => StubServer.Json(ctx, 200, StubServer.User("1", "ada")));
        var time = new TimeDriver();
        using var client = time.Attach(new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot, MaxRequestsPerSecond = 2 }, time: time.Time));

        for (var i = 0; i < 6; i++)
            await time.RunAsync(client.GetAsync("Users", "1", null, None));

        // A burst of two, then one request every half second.
        Assert.Equal(Enumerable.Repeat((TimeSpan.FromMilliseconds(500), "RateLimit"), 4), time.Waits);
        Assert.Equal(6, stub.Requests.Count);
    }

    [Fact]
    public async Task Retries_pass_through_the_token_bucket_too()
    {
        var n = 0;
        await using var stub = await StubServer.StartAsync((ctx, _) => Interlocked.Increment(ref n) <= 2
            ? StubServer.Error(ctx, 500, null, "boom")
            : StubServer.Json(ctx, 200, StubServer.User("1", "ada")));
        var time = new TimeDriver();
        using var client = time.Attach(new ScimClient(new ScimClientOptions
        {
            BaseUri = stub.ScimRoot, MaxRequestsPerSecond = 1, BaseBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromMilliseconds(100),
        }, time: time.Time));

        await time.RunAsync(client.GetAsync("Users", "1", null, None));

        // Bucket of one: each retry waits its backoff (50–100 ms) and then the rest of the second.
        Assert.Equal(["Backoff", "RateLimit", "Backoff", "RateLimit"], time.Waits.Select(w => w.Reason).ToArray());
        var total = time.Waits.Aggregate(TimeSpan.Zero, (sum, w) => sum + w.Delay);
        // Waits are whole ticks: random backoff and the bucket's remainder may each lose one in rounding.
        Assert.InRange(total, TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task No_more_than_Concurrency_requests_are_in_flight()
    {
        var inFlight = 0;
        var most = 0;
        var arrivals = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var stub = await StubServer.StartAsync(async (ctx, _) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            Interlocked.Increment(ref arrivals);
            await release.Task;
            Interlocked.Decrement(ref inFlight);
            await StubServer.Json(ctx, 200, StubServer.User("1", "ada"));
        });
        using var client = new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot, Concurrency = 3 });

        var calls = Enumerable.Range(0, 12).Select(_ => client.GetAsync("Users", "1", null, None)).ToArray();
        // Three requests arrive and are held; the other nine must queue in the client.
        while (Volatile.Read(ref arrivals) < 3) await Task.Yield();
        await Task.WhenAny(Task.WhenAll(calls), Task.Delay(200)); // room for a fourth to (wrongly) arrive
        Assert.Equal(3, Volatile.Read(ref arrivals));
        release.SetResult();
        await Task.WhenAll(calls);

        Assert.Equal(3, most);
        Assert.Equal(12, stub.Requests.Count);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen) return;
            seen = previous;
        }
    }

    [Fact]
    public void Invalid_options_are_refused_at_construction()
    {
        var root = new Uri("http://127.0.0.1:1/scim/v2/");
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScimClient(new ScimClientOptions { BaseUri = root, Concurrency = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScimClient(new ScimClientOptions { BaseUri = root, MaxRequestsPerSecond = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScimClient(new ScimClientOptions { BaseUri = root, MaxPageSize = 0 }));
        Assert.Throws<ArgumentException>(() => new ScimClient(new ScimClientOptions { BaseUri = new Uri("/scim/v2", UriKind.Relative) }));
    }
}

public sealed class CapabilitiesTests
{
    [Fact]
    public void A_ServiceProviderConfig_is_read_leniently()
    {
        var spc = JsonNode.Parse("""
            {
              "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
              "patch": {"supported": "true"},
              "bulk": {"supported": true, "maxOperations": "50", "maxPayloadSize": 1048576},
              "Filter": {"supported": true, "maxResults": 200},
              "etag": {"supported": false},
              "sort": {},
              "pagination": {"cursor": true, "index": true, "maxPageSize": 100, "defaultPageSize": 25}
            }
            """)!.AsObject();

        Assert.Equal(new ScimCapabilities(Patch: true, Bulk: true, BulkMaxOperations: 50, BulkMaxPayloadSize: 1048576, Filter: true, FilterMaxResults: 200,
            ETag: false, Sort: false, ChangePassword: false, Cursor: true, Index: true, MaxPageSize: 100, DefaultPageSize: 25), ScimCapabilities.Parse(spc));
    }

    [Fact]
    public void Before_RFC_9865_filter_maxResults_is_the_page_cap_and_index_paging_is_assumed()
    {
        var spc = JsonNode.Parse("""{"patch":{"supported":false},"filter":{"supported":true,"maxResults":150}}""")!.AsObject();

        var caps = ScimCapabilities.Parse(spc);

        Assert.Equal(150, caps.MaxPageSize);
        Assert.False(caps.Cursor);
        Assert.True(caps.Index);
        Assert.False(caps.Patch);
        Assert.Null(caps.DefaultPageSize);
    }

    [Fact]
    public async Task Dialect_switches_narrow_what_the_target_advertises_and_the_document_is_read_once()
    {
        await using var stub = await StubServer.StartAsync((ctx, _) => StubServer.Json(ctx, 200, JsonNode.Parse("""
            {"patch":{"supported":true},"bulk":{"supported":true,"maxOperations":10,"maxPayloadSize":1000},
             "pagination":{"cursor":true,"index":true}}
            """)!));
        using var client = new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot, UsePutForUpdates = true, DisableBulk = true, DisableCursor = true });

        var caps = await client.GetCapabilitiesAsync(CancellationToken.None);
        await client.GetCapabilitiesAsync(CancellationToken.None);

        Assert.False(caps.Patch);
        Assert.False(caps.Bulk);
        Assert.False(caps.Cursor);
        Assert.Equal(10, caps.BulkMaxOperations);
        Assert.Single(stub.Requests);
    }
}
