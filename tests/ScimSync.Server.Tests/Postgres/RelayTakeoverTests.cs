using System.Collections.Concurrent;
using System.Diagnostics;
using ScimSync.Feed.Delivery;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Server.Tests.Nats;
using Xunit.Abstractions;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// The NATS relay without a single point of failure: two real server processes on one PostgreSQL database, both
/// started with <c>--nats</c>. The relay runs under the feed's lease, so only the holder publishes. The holder is
/// killed with SIGKILL while both take writes; the survivor takes the lease within 5 seconds and carries on after the
/// last position the stream holds. The stream then holds every acknowledged write once, in journal order, each
/// message naming the one before it: nothing lost, nothing published twice by the two instances.
/// Skippable outside CI when PostgreSQL or nats-server is missing.
/// </summary>
public sealed class RelayTakeoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan TakeoverLimit = TimeSpan.FromSeconds(5);

    private PostgresInstances _pg = null!;
    private NatsServer _nats = null!;

    public async Task InitializeAsync()
    {
        _pg = await PostgresInstances.CreateAsync();
        _nats = await NatsServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _pg.DisposeAsync();
        await _nats.DisposeAsync();
    }

    private async Task<string?> HolderAsync(Func<string?, bool> until, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            var holder = await _pg.LeaseHolderAsync(FeedBackgroundService.Lease);
            if (until(holder)) return holder;
            await Task.Delay(20);
        }
        return await _pg.LeaseHolderAsync(FeedBackgroundService.Lease);
    }

    [SkippableFact]
    public async Task Killing_the_relaying_instance_under_writes_leaves_the_stream_complete_in_order_and_without_duplicates()
    {
        var (a, leader) = await _pg.StartProcessAsync("--nats", _nats.Url);
        Assert.Equal(_pg.InstanceName(a), await HolderAsync(h => h is not null, TimeSpan.FromSeconds(10)));
        var (b, _) = await _pg.StartProcessAsync("--nats", _nats.Url);

        var acknowledged = new ConcurrentDictionary<string, int>();
        using var stopWriting = new CancellationTokenSource();
        async Task WriteAsync(int instance)
        {
            for (var n = 0; !stopWriting.IsCancellationRequested; n++)
            {
                try
                {
                    acknowledged[await _pg.Clients[instance].CreateUserAsync($"r{instance}-{n}-{Guid.NewGuid():N}")] = instance;
                }
                catch (Exception e) when (instance == a && e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
                {
                    return; // the killed instance: what it did not answer was never acknowledged
                }
            }
        }
        var writers = new[] { a, b }.Select(i => Task.Run(() => WriteAsync(i))).ToArray();
        await using var stream = new RelayedStream(_nats.Url);
        // Killed while it is publishing: some of the writes are in the stream, not all.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await stream.ReadAllAsync()).Count < 20 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True((await stream.ReadAllAsync()).Count >= 20, "the leader never published");

        var beforeKill = acknowledged.Count;
        var killed = Stopwatch.StartNew();
        leader.Kill();
        var holder = await HolderAsync(h => h == _pg.InstanceName(b), TakeoverLimit * 2);
        var takeover = killed.Elapsed;
        Assert.Equal(_pg.InstanceName(b), holder);
        var writeDeadline = DateTime.UtcNow.AddSeconds(20);
        while (acknowledged.Count < beforeKill + 20 && DateTime.UtcNow < writeDeadline) await Task.Delay(50);
        await stopWriting.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(acknowledged.Count >= beforeKill + 10, "the survivor took writes after the kill");

        // Every acknowledged write reaches the stream, relayed by one instance or the other.
        IReadOnlyList<RelayedMessage> messages = [];
        HashSet<string> relayed = [];
        deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            messages = await stream.ReadAllAsync();
            relayed = messages.Select(m => m.Claims["sub_id"]!["uri"]!.GetValue<string>().Split('/')[^1]).ToHashSet(StringComparer.Ordinal);
            if (acknowledged.Keys.All(relayed.Contains)) break;
            await Task.Delay(100);
        }
        output.WriteLine($"relay takeover after SIGKILL: {takeover.TotalSeconds:F2} s; {beforeKill} writes acknowledged before the kill, " +
            $"{acknowledged.Count} in all; {messages.Count} messages in the stream");
        var missing = acknowledged.Keys.Where(id => !relayed.Contains(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged writes never reached the stream");
        Assert.True(takeover < TakeoverLimit, $"the relay's lease was taken over after {takeover.TotalSeconds:F1} s");

        // In journal order, once each: PostgreSQL's positions have gaps (a sequence), so each message names the
        // position before it, and the chain must have no break and no repeat across the two publishers.
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            Assert.Equal(m.Position.ToString(System.Globalization.CultureInfo.InvariantCulture), m.MsgId);
            Assert.Equal(i == 0 ? 0 : messages[i - 1].Position, m.Previous);
            if (i > 0) Assert.True(m.Position > messages[i - 1].Position, $"position {m.Position} after {messages[i - 1].Position}");
        }
        Assert.Equal(messages.Count, relayed.Count); // one message per create: no write relayed twice
    }
}
