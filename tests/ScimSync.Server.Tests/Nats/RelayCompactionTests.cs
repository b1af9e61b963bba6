using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Feed.Delivery;
using ScimSync.Relay.Nats;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Nats;

/// <summary>The relay in process: compaction keeps what the stream does not hold yet, and a hole it cannot help is announced.</summary>
public sealed class RelayCompactionTests
{
    private sealed class RelayServer(string natsUrl, TimeSpan? maxAge) : ScimServerFixture
    {
        protected override ScimServerOptions Configure(ScimServerOptions o) => o with { JournalRetention = TimeSpan.Zero, JournalMaxAge = maxAge };

        protected override void ConfigureBuilder(WebApplicationBuilder builder) =>
            builder.Services.AddNatsRelay(new NatsRelayOptions { Url = natsUrl, MaxBackoff = TimeSpan.FromMilliseconds(500) });
    }

    [SkippableFact]
    public async Task Compaction_keeps_what_the_stream_does_not_hold_yet()
    {
        await using var nats = await NatsServer.StartAsync();
        var server = new RelayServer(nats.Url, maxAge: null);
        await server.InitializeAsync();
        try
        {
            var store = server.Services.GetRequiredService<IResourceStore>();
            var compactor = server.Services.GetRequiredService<JournalCompactor>();
            for (var i = 0; i < 3; i++) await server.Client.CreateUserAsync(Unique("held"));
            await using (var stream = new RelayedStream(nats.Url)) await stream.WaitForAsync(3, TimeSpan.FromSeconds(30));
            await nats.StopAsync();
            for (var i = 0; i < 3; i++) await server.Client.CreateUserAsync(Unique("held-down"));

            // No subscription needs anything and the retention is zero: only the relay holds the journal. NATS cannot
            // say what the stream holds, so nothing goes.
            await compactor.RunOnceAsync(default);
            Assert.Equal(6, (await store.ReadJournalAsync(0, 100, default)).Count);

            await nats.StartAgainAsync();
            await using (var stream = new RelayedStream(nats.Url)) await stream.WaitForAsync(6, TimeSpan.FromSeconds(30));
            Assert.Equal(6, await compactor.RunOnceAsync(default));
            Assert.Empty(await store.ReadJournalAsync(0, 100, default));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task Entries_compacted_before_they_were_published_are_announced_as_a_hole()
    {
        await using var nats = await NatsServer.StartAsync();
        var server = new RelayServer(nats.Url, maxAge: TimeSpan.Zero);
        await server.InitializeAsync();
        try
        {
            var compactor = server.Services.GetRequiredService<JournalCompactor>();
            for (var i = 0; i < 3; i++) await server.Client.CreateUserAsync(Unique("hole"));
            await using (var stream = new RelayedStream(nats.Url)) await stream.WaitForAsync(3, TimeSpan.FromSeconds(30));
            await nats.StopAsync();
            for (var i = 0; i < 3; i++) await server.Client.CreateUserAsync(Unique("hole-down"));
            // A maximum age overrides every reader, the relay included: 4–6 go unpublished.
            Assert.Equal(6, await compactor.RunOnceAsync(default));
            await server.Client.CreateUserAsync(Unique("hole-after"));

            await nats.StartAgainAsync();
            await using var after = new RelayedStream(nats.Url);
            var messages = await after.WaitForAsync(7, TimeSpan.FromSeconds(30));
            // 4 may have been on its way when NATS stopped (the client sends it on reconnect, and the stream, still
            // ending at 3, takes it); 5 and 6 never were.
            var before = messages.Take(messages.Count - 1).ToArray();
            Assert.True(before.Select(m => m.Position).SequenceEqual([1L, 2, 3]) || before.Select(m => m.Position).SequenceEqual([1L, 2, 3, 4]),
                string.Join(", ", messages.Select(m => m.Position)));
            RelayedStream.AssertContinuous(before, before.Length);
            // 7 continues from 6, not from what the stream held: a consumer there sees that the rest up to 6 is missing.
            Assert.Equal((7L, 6L), (messages[^1].Position, messages[^1].Previous));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
