using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>Retries, backoff and Retry-After against a scripted loopback stub, on fake time.</summary>
public sealed class RetryTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static ScimClient Client(StubServer stub, TimeDriver time, Func<ScimClientOptions, ScimClientOptions>? configure = null)
    {
        var options = new ScimClientOptions { BaseUri = stub.ScimRoot, Auth = new ScimAuth.Bearer("t") };
        return time.Attach(new ScimClient(configure?.Invoke(options) ?? options, time: time.Time));
    }

    /// <summary>A stub answering each request to /Users/1 with the next scripted status, then 200.</summary>
    private static Task<StubServer> Scripted(params Func<HttpContext, Task>[] failures)
    {
        var n = 0;
        return StubServer.StartAsync((ctx, _) =>
        {
            var i = Interlocked.Increment(ref n) - 1;
            return i < failures.Length ? failures[i](ctx) : StubServer.Json(ctx, 200, StubServer.User("1", "ada"));
        });
    }

    private static Func<HttpContext, Task> Status(int status, string? retryAfter = null) => ctx =>
    {
        if (retryAfter is not null) ctx.Response.Headers.RetryAfter = retryAfter;
        return StubServer.Error(ctx, status, null, $"scripted {status}");
    };

    [Fact]
    public async Task Server_errors_are_retried_with_exponential_backoff_and_jitter()
    {
        await using var stub = await Scripted(Status(500), Status(502), Status(504), Status(503));
        var time = new TimeDriver();
        using var client = Client(stub, time, o => o with { BaseBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(6) });

        var user = await time.RunAsync(client.GetAsync("Users", "1", null, None));

        Assert.Equal("ada", user!["userName"]!.GetValue<string>());
        Assert.Equal(5, stub.Requests.Count);
        Assert.All(time.Waits, w => Assert.Equal("Backoff", w.Reason));
        // Steps of 1, 2, 4 and (capped) 6 seconds; each wait is between half the step and the step.
        double[] steps = [1, 2, 4, 6];
        Assert.Equal(4, time.Waits.Count);
        for (var i = 0; i < 4; i++)
            Assert.InRange(time.Waits[i].Delay.TotalSeconds, steps[i] / 2, steps[i]);
        Assert.Equal(4, client.Stats.Retries);
        Assert.Equal(1, client.Stats.Throttled); // the 503
        Assert.Equal(5, client.Stats.Requests);
    }

    [Fact]
    public async Task Retry_After_in_seconds_is_the_delay_waited()
    {
        await using var stub = await Scripted(Status(429, "7"), Status(503, "120"));
        var time = new TimeDriver();
        using var client = Client(stub, time);
        var start = time.Time.GetUtcNow();

        await time.RunAsync(client.GetAsync("Users", "1", null, None));

        Assert.Equal(new[] { (TimeSpan.FromSeconds(7), "RetryAfter"), (TimeSpan.FromSeconds(120), "RetryAfter") }, time.Waits);
        Assert.Equal(TimeSpan.FromSeconds(127), time.Time.GetUtcNow() - start);
        Assert.Equal(2, client.Stats.Throttled);
    }

    [Fact]
    public async Task Retry_After_as_an_HTTP_date_is_measured_on_the_client_clock_and_capped_at_five_minutes()
    {
        var time = new TimeDriver();
        var now = time.Time.GetUtcNow();
        await using var stub = await Scripted(
            Status(429, (now + TimeSpan.FromSeconds(90)).ToString("R")),
            Status(429, (now + TimeSpan.FromHours(2)).ToString("R")));
        using var client = Client(stub, time);

        await time.RunAsync(client.GetAsync("Users", "1", null, None));

        Assert.Equal(TimeSpan.FromSeconds(90), time.Waits[0].Delay);
        Assert.Equal(TimeSpan.FromMinutes(5), time.Waits[1].Delay);
    }

    [Fact]
    public async Task A_429_makes_every_call_hold_off_not_only_the_one_that_got_it()
    {
        var first = 0;
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.EndsWith("/1", StringComparison.Ordinal) && Interlocked.Increment(ref first) == 1)
                return Status(429, "30")(ctx);
            return StubServer.Json(ctx, 200, StubServer.User("x", "x"));
        });
        var time = new TimeDriver();
        using var client = Client(stub, time);

        var throttled = client.GetAsync("Users", "1", null, None);
        var waited = await WaitForAsync(time, "RetryAfter");
        // A second call started while the first is waiting holds off until the same instant.
        var other = client.GetAsync("Users", "2", null, None);
        var pause = await WaitForAsync(time, "Pause");

        Assert.Equal(TimeSpan.FromSeconds(30), waited);
        Assert.Equal(TimeSpan.FromSeconds(30), pause);
        time.Time.Advance(TimeSpan.FromSeconds(30));
        await Task.WhenAll(throttled, other);
        Assert.Equal(3, stub.Requests.Count);
    }

    [Fact]
    public async Task A_call_queued_for_the_only_slot_holds_off_when_the_call_ahead_of_it_is_throttled()
    {
        var first = 0;
        var release = new TaskCompletionSource();
        await using var stub = await StubServer.StartAsync(async (ctx, seen) =>
        {
            if (Interlocked.Increment(ref first) == 1)
            {
                await release.Task; // the second call queues for the slot meanwhile
                await Status(429, "30")(ctx);
                return;
            }
            await StubServer.Json(ctx, 200, StubServer.User("x", "x"));
        });
        var time = new TimeDriver();
        using var client = Client(stub, time, o => o with { Concurrency = 1 });

        var throttled = client.GetAsync("Users", "1", null, None);
        while (stub.Requests.Count == 0) await Task.Delay(10);
        var queued = client.GetAsync("Users", "2", null, None);
        await Task.Delay(100); // let it reach the slot's queue
        release.SetResult();

        // Whichever takes the slot first after the 429 waits for the pause; nothing else reaches the stub.
        var first30 = await time.NextWaitAsync();
        var second30 = await time.NextWaitAsync();
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)], new[] { first30.Delay, second30.Delay });
        Assert.Single(stub.Requests);
        time.Time.Advance(TimeSpan.FromSeconds(30));
        await Task.WhenAll(throttled, queued);
        Assert.Equal(3, stub.Requests.Count);
    }

    private static async Task<TimeSpan> WaitForAsync(TimeDriver time, string reason)
    {
        var wait = await time.NextWaitAsync();
        Assert.Equal(reason, wait.Reason);
        return wait.Delay;
    }

    [Fact]
    public async Task Client_errors_other_than_408_and_429_are_never_retried()
    {
        foreach (var status in new[] { 400, 401, 403, 409, 412, 501 })
        {
            await using var stub = await Scripted(ctx => StubServer.Error(ctx, status, status == 400 ? "invalidValue" : null, "no"));
            var time = new TimeDriver();
            using var client = Client(stub, time);

            var e = await Assert.ThrowsAsync<ScimClientException>(() => time.RunAsync(client.GetAsync("Users", "1", null, None)));

            Assert.Equal(status, e.Status);
            Assert.Equal("no", e.Detail);
            Assert.Single(stub.Requests);
            Assert.Equal(0, client.Stats.Retries);
        }
    }

    [Fact]
    public async Task A_408_is_retried()
    {
        await using var stub = await Scripted(Status(408));
        var time = new TimeDriver();
        using var client = Client(stub, time);

        Assert.NotNull(await time.RunAsync(client.GetAsync("Users", "1", null, None)));
        Assert.Equal(2, stub.Requests.Count);
    }

    [Fact]
    public async Task When_retries_run_out_the_last_error_is_thrown()
    {
        var always = Enumerable.Repeat(Status(503), 100).ToArray();
        await using var stub = await Scripted(always);
        var time = new TimeDriver();
        using var client = Client(stub, time, o => o with { MaxRetries = 3 });

        var e = await Assert.ThrowsAsync<ScimClientException>(() => time.RunAsync(client.GetAsync("Users", "1", null, None)));

        Assert.Equal(503, e.Status);
        Assert.Equal("scripted 503", e.Detail);
        Assert.Equal(4, stub.Requests.Count);
        Assert.Equal(3, client.Stats.Retries);
        Assert.Equal(4, client.Stats.Throttled);
        Assert.Equal(1, client.Stats.Failures);
    }

    [Fact]
    public async Task A_request_that_times_out_is_retried()
    {
        var hang = new TaskCompletionSource();
        var arrived = new TaskCompletionSource();
        var n = 0;
        await using var stub = await StubServer.StartAsync(async (ctx, _) =>
        {
            if (Interlocked.Increment(ref n) == 1)
            {
                arrived.SetResult();
                await hang.Task.WaitAsync(ctx.RequestAborted); // never answers; the client gives up
                return;
            }
            await StubServer.Json(ctx, 200, StubServer.User("1", "ada"));
        });
        var time = new TimeDriver();
        using var client = Client(stub, time, o => o with { RequestTimeout = TimeSpan.FromSeconds(10) });

        var call = client.GetAsync("Users", "1", null, None);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        time.Time.Advance(TimeSpan.FromSeconds(10));
        var user = await time.RunAsync(call);

        Assert.Equal("ada", user!["userName"]!.GetValue<string>());
        Assert.Equal(1, client.Stats.Retries);
        Assert.Equal("Backoff", Assert.Single(time.Waits).Reason);
    }

    [Fact]
    public async Task Connection_failures_are_retried_then_reported_with_status_0()
    {
        // A port that was just free: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var time = new TimeDriver();
        using var client = time.Attach(new ScimClient(new ScimClientOptions { BaseUri = new Uri($"http://127.0.0.1:{port}/scim/v2"), MaxRetries = 2 }, time: time.Time));

        var e = await Assert.ThrowsAsync<ScimClientException>(() => time.RunAsync(client.GetAsync("Users", "1", null, None)));

        Assert.Equal(0, e.Status);
        Assert.IsType<HttpRequestException>(e.InnerException);
        Assert.Equal(3, client.Stats.Requests);
        Assert.Equal(2, time.Waits.Count);
        Assert.Equal(1, client.Stats.Failures);
    }

    [Fact]
    public async Task Requests_carry_the_SCIM_media_types_and_the_base_path_without_trailing_slash_works()
    {
        await using var stub = await StubServer.StartAsync((ctx, _) => StubServer.Json(ctx, 201, StubServer.User("9", "ada")));
        var time = new TimeDriver();
        using var client = Client(stub, time, o => o with { BaseUri = new Uri(stub.Origin, "/scim/v2") });

        await client.CreateAsync("/Users/", new JsonObject { ["userName"] = "ada" }, None);

        var seen = Assert.Single(stub.Requests);
        Assert.Equal("/scim/v2/Users", seen.PathAndQuery);
        Assert.Equal("application/scim+json", seen.ContentType);
        Assert.Contains("application/scim+json", seen.Accept);
        Assert.Contains("application/json", seen.Accept);
        Assert.Equal("Bearer t", seen.Authorization);
        Assert.Equal("ada", JsonNode.Parse(seen.Body)!["userName"]!.GetValue<string>());
    }
}
