using System.Text.Json.Nodes;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Events;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Intake;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.Intake;

/// <summary>
/// The engine's JetStream consumer against a real nats-server and a stream written here the way the server's relay
/// writes it: where it starts after a snapshot, and that it refuses a stream with a hole rather than skip it.
/// </summary>
public sealed class JetStreamChangesTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-js-" + Guid.NewGuid().ToString("N")[..8]);
    private NatsServer? _nats;
    private NatsConnection? _connection;

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task<NatsJSContext> StreamAsync()
    {
        _nats = await NatsServer.StartAsync();
        _connection = new NatsConnection(NatsOpts.Default with { Url = _nats.Url });
        var js = new NatsJSContext(_connection);
        await js.CreateStreamAsync(new StreamConfig(EventStream.DefaultStream, [EventStream.All(EventStream.DefaultSubjectPrefix)]) { AllowDirect = true });
        return js;
    }

    private static async Task PublishAsync(NatsJSContext js, long position, long previous)
    {
        var claims = new JsonObject
        {
            ["jti"] = EventStream.MessageId(position), ["iss"] = "https://hr.example", ["aud"] = EventStream.Audience, ["iat"] = 1_790_000_000, ["txn"] = "t" + position,
            ["sub_id"] = new JsonObject { ["format"] = "scim", ["uri"] = "/Users/u" + position, ["id"] = "u" + position },
            ["events"] = new JsonObject { ["urn:ietf:params:scim:event:prov:delete"] = new JsonObject() },
        };
        var set = Unsigned(claims);
        var ack = await js.PublishAsync(EventStream.Subject(EventStream.DefaultSubjectPrefix, "User", true), System.Text.Encoding.ASCII.GetBytes(set),
            headers: new NatsHeaders { [EventStream.PositionHeader] = EventStream.MessageId(position), [EventStream.PreviousHeader] = EventStream.MessageId(previous) },
            opts: new NatsJSPubOpts { MsgId = EventStream.MessageId(position) });
        ack.EnsureSuccess();
    }

    private static string Unsigned(JsonObject claims) =>
        System.Buffers.Text.Base64Url.EncodeToString("""{"alg":"none","typ":"secevent+jwt"}"""u8) + "." + System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(claims.ToJsonString())) + ".";

    private JetStreamChanges Changes(ISyncState state) =>
        new(new StreamChangesConfig(_nats!.Url, EventStream.DefaultStream, EventStream.DefaultSubjectPrefix), state, "test");

    [SkippableFact]
    public async Task It_starts_at_the_first_change_after_the_snapshot_and_acknowledges_what_it_is_told()
    {
        var js = await StreamAsync();
        // Positions skip where a transaction rolled back (PostgreSQL): 1, 2, 5, 6, 9.
        long[] positions = [1, 2, 5, 6, 9];
        for (var i = 0; i < positions.Length; i++) await PublishAsync(js, positions[i], i == 0 ? 0 : positions[i - 1]);
        using var state = SqliteSyncState.Open(_dir);
        await using var changes = Changes(state);
        await changes.EnsureAsync(4, CancellationToken.None);
        Assert.True(changes.Exists);
        var first = await changes.PollAsync([], new Dictionary<string, string>(), returnImmediately: true, CancellationToken.None);
        Assert.Equal(["5", "6", "9"], first.Changes.Select(c => c.Jti));
        Assert.Empty(first.Refused);
        Assert.Equal(("User", "u5", true), (first.Changes[0].ResourceType, first.Changes[0].Id, first.Changes[0].Deleted));
        // Nothing acknowledged: the same changes come again once their ack deadline passes, never lost.
        var consumer = await js.GetConsumerAsync(EventStream.DefaultStream, state.GetCheckpoint("nats.consumer")!);
        Assert.Equal(3, consumer.Info.NumAckPending);
        await changes.PollAsync(["5", "6", "9"], new Dictionary<string, string>(), returnImmediately: true, CancellationToken.None);
        await consumer.RefreshAsync();
        Assert.Equal(0, consumer.Info.NumAckPending);
    }

    [SkippableFact]
    public async Task A_stream_that_lost_changes_after_the_snapshot_is_refused()
    {
        var js = await StreamAsync();
        // The relay published 1 and 2, then found 3–7 compacted: 8 continues from 7.
        await PublishAsync(js, 1, 0);
        await PublishAsync(js, 2, 1);
        await PublishAsync(js, 8, 7);
        using var state = SqliteSyncState.Open(_dir);
        await using var changes = Changes(state);
        // A snapshot at 5 would need 6 and 7, which the stream does not have: refused.
        var refused = await Assert.ThrowsAsync<SourceFeedUnavailableException>(() => changes.EnsureAsync(5, CancellationToken.None));
        Assert.Contains("new snapshot", refused.Message, StringComparison.Ordinal);
        Assert.False(changes.Exists);

        // Started before the hole, it finds it while reading, drops its consumer and says so.
        await changes.EnsureAsync(1, CancellationToken.None);
        var consumer = state.GetCheckpoint("nats.consumer")!;
        var failed = await Assert.ThrowsAsync<SourceFeedUnavailableException>(() => changes.PollAsync([], new Dictionary<string, string>(), returnImmediately: true, CancellationToken.None));
        Assert.Contains("lacks", failed.Message, StringComparison.Ordinal);
        Assert.False(changes.Exists);
        await Assert.ThrowsAsync<NatsJSApiException>(async () => await js.GetConsumerAsync(EventStream.DefaultStream, consumer));
    }

    public async Task DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
        if (_nats is not null) await _nats.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
