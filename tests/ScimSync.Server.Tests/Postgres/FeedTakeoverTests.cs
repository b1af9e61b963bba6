using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Feed.Delivery;
using ScimSync.Server.Tests.Infrastructure;
using Xunit.Abstractions;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// Feed work without a single point of failure: three real server processes on one PostgreSQL database. The
/// first holds the fan-out, push and compaction leases; it is killed with SIGKILL while all three take writes.
/// A survivor takes each lease over within 5 seconds; every acknowledged write reaches the poll subscriber and
/// the push receiver; SETs the dead instance had handed out unacknowledged come again with the same jti; and
/// polls are answered by whichever instance is asked.
/// Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class FeedTakeoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string[] Leases = [FeedBackgroundService.Lease, PushDispatcher.Lease, JournalCompactor.Lease];
    private static readonly TimeSpan TakeoverLimit = TimeSpan.FromSeconds(5);

    private PostgresInstances _pg = null!;

    public async Task InitializeAsync() => _pg = await PostgresInstances.CreateAsync();

    public async Task DisposeAsync() => await _pg.DisposeAsync();

    private async Task<string?> WaitForHolderAsync(string lease, Func<string?, bool> until, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            var holder = await _pg.LeaseHolderAsync(lease);
            if (until(holder)) return holder;
            await Task.Delay(20);
        }
        return await _pg.LeaseHolderAsync(lease);
    }

    /// <summary>The instances whose own log says they took <paramref name="lease"/> (LeasedWork's event 2300).</summary>
    private List<int> TookLease(string lease, params int[] instances) =>
        [.. instances.Where(i => _pg.Output(i).Any(line => line.Contains($"holds the lease {lease} ", StringComparison.Ordinal)))];

    private static JsonObject PollBody(JsonArray ack, int max) => new() { ["ack"] = ack, ["maxEvents"] = max, ["returnImmediately"] = true };

    private static string ResourceId(string token) => SetToken.Claims(token)["sub_id"]!["uri"]!.GetValue<string>().Split('/')[^1];

    [SkippableFact]
    public async Task Killing_the_lease_holder_under_writes_hands_feed_work_to_a_survivor_within_five_seconds_and_loses_nothing()
    {
        string[] options = ["--visibility-timeout", "2", "--push-allow", "http://127.0.0.1:*"];
        var (a, leader) = await _pg.StartProcessAsync(options);
        foreach (var lease in Leases)
            Assert.Equal(_pg.InstanceName(a), await WaitForHolderAsync(lease, h => h is not null, TimeSpan.FromSeconds(10)));
        var (b, _) = await _pg.StartProcessAsync(options);
        var (c, _) = await _pg.StartProcessAsync(options);
        // The others wait: each piece of feed work runs on one instance, and their logs agree with the database.
        await Task.Delay(PostgresLeasesRetry * 2);
        foreach (var lease in Leases)
        {
            Assert.Equal(_pg.InstanceName(a), await _pg.LeaseHolderAsync(lease));
            Assert.Equal([a], TookLease(lease, a, b, c));
        }

        await using var receiver = await SetReceiver.StartAsync();
        await _pg.PostFeedAsync(c, "", new JsonObject
        {
            ["name"] = "pushed", ["audience"] = "test", ["delivery"] = "push", ["pushUrl"] = receiver.Url,
            ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User"), ["signing"] = "none",
        });
        var sub = (await _pg.PostFeedAsync(b, "", new JsonObject
        {
            ["name"] = "polled", ["audience"] = "test", ["delivery"] = "poll", ["payload"] = "notice",
            ["resourceTypes"] = new JsonArray("User"), ["signing"] = "none",
        }))["id"]!.GetValue<string>();

        // Writers on every instance until told to stop; an id counts once the server acknowledged it (201).
        var acknowledged = new ConcurrentDictionary<string, int>();
        using var stopWriting = new CancellationTokenSource();
        async Task WriteAsync(int instance)
        {
            for (var n = 0; !stopWriting.IsCancellationRequested; n++)
            {
                try
                {
                    acknowledged[await _pg.Clients[instance].CreateUserAsync($"w{instance}-{n}-{Guid.NewGuid():N}")] = instance;
                }
                catch (Exception e) when (instance == a && e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
                {
                    // The killed instance: a write it did not answer was never acknowledged, so nothing is owed for it.
                    return;
                }
            }
        }
        var writers = new[] { a, b, c }.Select(i => Task.Run(() => WriteAsync(i))).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1));

        // Polls through the leader and through another instance hand out SETs that are never acknowledged.
        var unacknowledged = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        foreach (var via in new[] { a, b })
        {
            var before = unacknowledged.Count;
            while (unacknowledged.Count == before && DateTime.UtcNow < deadline)
                foreach (var (jti, _) in (await _pg.PostFeedAsync(via, $"/{sub}/poll", PollBody([], 3)))["sets"]!.AsObject())
                    unacknowledged.Add(jti);
            Assert.True(unacknowledged.Count > before, $"no SET handed out through instance {via}");
        }

        var acknowledgedBeforeKill = acknowledged.Count;
        var killedAt = Stopwatch.StartNew();
        leader.Kill(); // SIGKILL: no shutdown code runs, the lease sessions end only because the socket closes
        var takeover = new Dictionary<string, TimeSpan>();
        foreach (var lease in Leases)
        {
            var holder = await WaitForHolderAsync(lease, h => h is not null && h != _pg.InstanceName(a), TakeoverLimit * 2);
            takeover[lease] = killedAt.Elapsed;
            Assert.Contains(holder, new[] { _pg.InstanceName(b), _pg.InstanceName(c) });
        }
        // Writes go on through the survivors for a while after the takeover (a busy machine makes them slow), then stop.
        var writeDeadline = DateTime.UtcNow.AddSeconds(20);
        while (acknowledged.Count < acknowledgedBeforeKill + 20 && DateTime.UtcNow < writeDeadline) await Task.Delay(50);
        await stopWriting.CancelAsync();
        await Task.WhenAll(writers);
        output.WriteLine($"takeover after SIGKILL: {string.Join(", ", takeover.Select(t => $"{t.Key} {t.Value.TotalSeconds:F2} s"))}; " +
            $"{acknowledgedBeforeKill} writes acknowledged before the kill, {acknowledged.Count} in all");
        Assert.All(takeover, t => Assert.True(t.Value < TakeoverLimit, $"{t.Key} taken over after {t.Value.TotalSeconds:F1} s"));
        Assert.True(leader.HasExited);
        foreach (var lease in Leases)
        {
            // The database says who holds it; the holder's log line comes through its console logger's queue and the
            // captured standard output a moment later.
            var logged = Stopwatch.StartNew();
            while (TookLease(lease, b, c).Count == 0 && logged.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
            Assert.Single(TookLease(lease, b, c));
        }
        Assert.True(acknowledged.Count > acknowledgedBeforeKill + 10, "the survivors took writes after the kill");

        // Poll through the survivors in turn until everything acknowledged has arrived and the queue is empty.
        var polled = new Dictionary<string, string>(StringComparer.Ordinal); // jti -> resource id
        var ack = new JsonArray();
        deadline = DateTime.UtcNow.AddSeconds(60);
        for (var n = 0; ; n++)
        {
            var sets = (await _pg.PostFeedAsync(n % 2 == 0 ? b : c, $"/{sub}/poll", PollBody(ack, 500)))["sets"]!.AsObject();
            ack = [];
            foreach (var (jti, token) in sets)
            {
                ack.Add(jti);
                polled[jti] = ResourceId(token!.GetValue<string>());
            }
            if (ack.Count == 0 && acknowledged.Keys.All(polled.ContainsValue) && unacknowledged.IsSubsetOf(polled.Keys)) break;
            if (DateTime.UtcNow > deadline) break;
            if (ack.Count == 0) await Task.Delay(100);
        }
        var pollMissing = acknowledged.Keys.Where(id => !polled.ContainsValue(id)).ToList();
        Assert.True(pollMissing.Count == 0, $"{pollMissing.Count} of {acknowledged.Count} acknowledged writes never polled");
        Assert.Subset(polled.Keys.ToHashSet(), unacknowledged);
        // One SET per create: redelivery reuses the jti, and the survivor's fan-out did not queue an entry again.
        Assert.Equal(polled.Count, polled.Values.Distinct().Count());

        // Push: at least once, and a SET pushed again (the dead instance may have been mid-request) keeps its jti.
        deadline = DateTime.UtcNow.AddSeconds(60);
        Dictionary<string, HashSet<string>> pushed;
        while (true)
        {
            pushed = receiver.Received.Select(r => r.Token).GroupBy(ResourceId)
                .ToDictionary(g => g.Key, g => g.Select(t => SetToken.Claims(t)["jti"]!.GetValue<string>()).ToHashSet(), StringComparer.Ordinal);
            if (acknowledged.Keys.All(pushed.ContainsKey) || DateTime.UtcNow > deadline) break;
            await Task.Delay(100);
        }
        var pushMissing = acknowledged.Keys.Where(id => !pushed.ContainsKey(id)).ToList();
        Assert.True(pushMissing.Count == 0, $"{pushMissing.Count} of {acknowledged.Count} acknowledged writes never pushed");
        Assert.All(pushed, p => Assert.Single(p.Value));

        // And the data itself: every acknowledged write reads back from a survivor.
        foreach (var id in acknowledged.Keys.Take(50))
            Assert.Equal(HttpStatusCode.OK, (await _pg.Clients[c].GetScimAsync($"Users/{id}")).Status);
        Assert.True(acknowledged.Count >= 30, $"only {acknowledged.Count} writes acknowledged");
    }

    /// <summary>How often a waiting instance asks for a lease (PostgresLeases.RetryInterval).</summary>
    private static readonly TimeSpan PostgresLeasesRetry = TimeSpan.FromSeconds(1);
}
