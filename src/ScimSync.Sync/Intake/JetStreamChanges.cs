using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Events;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Intake;

/// <summary>
/// The source's changes from the JetStream stream its server relays the journal to (docs/nats.md), instead of
/// polling its RFC 8936 feed. The engine owns one durable consumer, created starting at the first message after the
/// snapshot's journal position (nothing falls between snapshot and stream); its name is kept in the engine's
/// checkpoints. A message is acknowledged on the next poll, after its change is durably queued for every target: a
/// crash re-delivers, never loses. Every message must continue the stream (its ScimSync-Previous-Position no later
/// than what the engine has seen): a hole (the server compacted changes it never relayed) drops the consumer, and
/// the next full comparison starts a new one after its fresh snapshot.
/// </summary>
/// <remarks>
/// The relayed SETs are unsigned: NATS authenticates the server that publishes and the engine that reads (the URL's
/// credentials). They still go through the server's own validator (<see cref="SetEncoder.Receive"/>) for their shape
/// and audience before they are believed.
/// </remarks>
public sealed class JetStreamChanges(StreamChangesConfig config, ISyncState state, string name) : ISourceChanges, IAsyncDisposable
{
    private const string ConsumerKey = "nats.consumer", SeenKey = "nats.seen";
    private const int MaxBatch = 1000;
    private static readonly SigningKey Unsigned = SigningKey.Generate(SigningKey.None);
    private static readonly TimeSpan LongPoll = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RequestBudget = TimeSpan.FromSeconds(10);

    private NatsConnection? _connection;
    private readonly Dictionary<string, INatsJSMsg<byte[]>> _unacked = new(StringComparer.Ordinal);
    // The highest position handed to the engine: later messages must continue from it. Kept in the checkpoints too,
    // because after a restart JetStream delivers new messages before it redelivers the unacknowledged ones (at
    // their ack deadline): those new ones continue from the last position handed out, not the last acknowledged.
    private long? _seen;

    public bool Exists => state.GetCheckpoint(ConsumerKey) is not null;

    private NatsJSContext JetStream()
    {
        _connection ??= new NatsConnection(NatsOpts.Default with { Url = config.Url, Name = $"scimsync-sync-{name}", MaxReconnectRetry = -1 });
        return new NatsJSContext(_connection);
    }

    public async Task EnsureAsync(long position, CancellationToken ct)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(RequestBudget * 3);
        try
        {
            await EnsureBoundedAsync(position, bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new SourceFeedUnavailableException($"NATS at the stream {config.Stream} did not answer within {(RequestBudget * 3).TotalSeconds:F0} s", e);
        }
    }

    private async Task EnsureBoundedAsync(long position, CancellationToken ct)
    {
        var js = JetStream();
        INatsJSStream stream;
        try
        {
            stream = await js.GetStreamAsync(config.Stream, cancellationToken: ct).ConfigureAwait(false);
            if (state.GetCheckpoint(ConsumerKey) is { } existing)
            {
                try
                {
                    await stream.GetConsumerAsync(existing, ct).ConfigureAwait(false);
                    return;
                }
                catch (NatsJSApiException e) when (e.Error.Code == 404)
                {
                    // Deleted by an operator, or after a hole: start again from this snapshot.
                }
            }
        }
        catch (Exception e) when (e is NatsException && !ct.IsCancellationRequested)
        {
            throw new SourceFeedUnavailableException($"the source's JetStream stream {config.Stream} at {config.Url} cannot be read: {e.Message}", e);
        }
        var start = await FirstAfterAsync(stream, position, ct).ConfigureAwait(false);
        var durable = $"scimsync-sync-{name}-{Guid.NewGuid().ToString("N")[..8]}";
        await stream.CreateOrUpdateConsumerAsync(new ConsumerConfig(durable)
        {
            FilterSubject = EventStream.All(config.SubjectPrefix),
            DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence,
            OptStartSeq = start,
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            // A batch is acknowledged once every target's queue has it: well within a minute, or it comes again.
            AckWait = TimeSpan.FromMinutes(1),
            MaxAckPending = 10 * MaxBatch,
        }, ct).ConfigureAwait(false);
        state.Batch(w =>
        {
            w.SetCheckpoint(ConsumerKey, durable);
            w.SetCheckpoint(SeenKey, EventStream.MessageId(position));
        });
        _seen = position;
        _unacked.Clear();
    }

    /// <summary>
    /// The stream sequence of the first message past <paramref name="position"/> (a binary search: positions grow
    /// with sequences), or the next sequence to come when the stream has none yet. Refuses when the stream no
    /// longer holds everything after the position.
    /// </summary>
    private static async Task<ulong> FirstAfterAsync(INatsJSStream stream, long position, CancellationToken ct)
    {
        await stream.RefreshAsync(ct).ConfigureAwait(false);
        var s = stream.Info.State;
        if (s.Messages == 0) return s.LastSeq + 1;
        ulong lo = s.FirstSeq, hi = s.LastSeq + 1;
        while (lo < hi)
        {
            var mid = lo + (hi - lo) / 2;
            if ((await ReadAsync(stream, mid, ct).ConfigureAwait(false)).Position > position) hi = mid;
            else lo = mid + 1;
        }
        if (lo <= s.LastSeq && (await ReadAsync(stream, lo, ct).ConfigureAwait(false)).Previous > position)
            throw new SourceFeedUnavailableException($"the stream {stream.Info.Config.Name} no longer holds every change after journal position {position} (its first later message continues from {(await ReadAsync(stream, lo, ct).ConfigureAwait(false)).Previous}); a new snapshot is needed");
        return lo;
    }

    private static async Task<(long Position, long Previous)> ReadAsync(INatsJSStream stream, ulong sequence, CancellationToken ct)
    {
        var msg = await stream.GetDirectAsync(new StreamMsgGetRequest { Seq = sequence }, NatsRawSerializer<byte[]>.Default, ct).ConfigureAwait(false);
        return Positions(msg.Headers) ?? throw new SourceFeedUnavailableException($"message {sequence} of stream {stream.Info.Config.Name} has no journal position: it is not a ScimSync journal stream");
    }

    private static (long Position, long Previous)? Positions(NatsHeaders? headers) =>
        headers is not null
        && headers.TryGetValue(EventStream.PositionHeader, out var p) && EventStream.ReadPosition(p.ToString()) is { } position
        && headers.TryGetValue(EventStream.PreviousHeader, out var q) && EventStream.ReadPosition(q.ToString()) is { } previous
            ? (position, previous)
            : null;

    public async Task<FeedPoll> PollAsync(IReadOnlyCollection<string> ack, IReadOnlyDictionary<string, string> errors, bool returnImmediately, CancellationToken ct)
    {
        // While the client is disconnected from NATS its requests wait for the reconnect: bounded here, so that an
        // outage is reported as the source failing (and retried) instead of a poll that never returns.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(LongPoll + RequestBudget);
        try
        {
            return await PollBoundedAsync(ack, errors, returnImmediately, bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new SourceFeedUnavailableException($"NATS at the stream {config.Stream} did not answer within {(LongPoll + RequestBudget).TotalSeconds:F0} s", e);
        }
    }

    private async Task<FeedPoll> PollBoundedAsync(IReadOnlyCollection<string> ack, IReadOnlyDictionary<string, string> errors, bool returnImmediately, CancellationToken ct)
    {
        var durable = state.GetCheckpoint(ConsumerKey) ?? throw new SourceFeedUnavailableException("the engine has no JetStream consumer yet");
        await AcknowledgeAsync(ack, errors.Keys, ct).ConfigureAwait(false);
        _seen ??= EventStream.ReadPosition(state.GetCheckpoint(SeenKey)) ?? 0;
        var js = JetStream();
        INatsJSConsumer consumer;
        try
        {
            consumer = await js.GetConsumerAsync(config.Stream, durable, ct).ConfigureAwait(false);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            // Gone (deleted by an operator): the next full comparison makes a new one after its snapshot.
            state.SetCheckpoint(ConsumerKey, null);
            throw new SourceFeedUnavailableException($"the engine's JetStream consumer {durable} is gone; the next full comparison starts a new one");
        }
        var messages = new List<INatsJSMsg<byte[]>>();
        // The first message waits (a bounded long poll); the rest of the batch is what is already there.
        if (await consumer.NextAsync(NatsRawSerializer<byte[]>.Default, new NatsJSNextOpts { Expires = returnImmediately ? TimeSpan.FromSeconds(1) : LongPoll }, ct).ConfigureAwait(false) is { } first)
        {
            messages.Add(first);
            await foreach (var m in consumer.FetchNoWaitAsync(new NatsJSFetchOpts { MaxMsgs = MaxBatch - 1 }, NatsRawSerializer<byte[]>.Default, ct).ConfigureAwait(false))
                messages.Add(m);
        }
        var changes = new List<SourceChange>(messages.Count);
        var refused = new List<RefusedSet>();
        foreach (var m in messages)
        {
            var (position, previous) = Positions(m.Headers)
                ?? throw new SetValidationException("invalid_request", $"message {m.Metadata?.Sequence.Stream} of stream {config.Stream} has no journal position");
            if (position > _seen)
            {
                if (previous > _seen) await HoleAsync(js, durable, previous, ct).ConfigureAwait(false);
                _seen = position;
            }
            try
            {
                var set = SetEncoder.Receive(System.Text.Encoding.ASCII.GetString(m.Data ?? []), Unsigned, issuer: null, EventStream.Audience);
                changes.Add(SourceChange.From(set));
                _unacked[set.Jti] = m;
            }
            catch (SetValidationException e)
            {
                // One message that cannot be believed is refused alone (and terminated when the engine reports it),
                // as the feed reports a refused SET in setErrs: it must not stop every change behind it.
                var id = "nats:" + EventStream.MessageId(position);
                refused.Add(new RefusedSet(id, e.Err, e.Message));
                _unacked[id] = m;
            }
        }
        if (messages.Count > 0) state.SetCheckpoint(SeenKey, EventStream.MessageId(_seen.Value));
        return new FeedPoll(changes, refused);
    }

    /// <summary>Changes between what the engine has and this message are gone for good: only a new snapshot helps.</summary>
    private async Task HoleAsync(NatsJSContext js, string durable, long previous, CancellationToken ct)
    {
        try
        {
            await js.DeleteConsumerAsync(config.Stream, durable, ct).ConfigureAwait(false);
        }
        catch (NatsJSApiException)
        {
        }
        state.SetCheckpoint(ConsumerKey, null);
        _unacked.Clear();
        var seen = _seen;
        _seen = null;
        throw new SourceFeedUnavailableException($"the stream {config.Stream} lacks the source's changes after journal position {seen} through {previous} (compacted before they were relayed); the next full comparison starts again from a new snapshot");
    }

    private async Task AcknowledgeAsync(IReadOnlyCollection<string> ack, IEnumerable<string> refused, CancellationToken ct)
    {
        foreach (var jti in ack)
            if (_unacked.Remove(jti, out var m))
                await m.AckAsync(cancellationToken: ct).ConfigureAwait(false);
        // Refused: never redelivered (JetStream's counterpart of the feed's setErrs).
        foreach (var jti in refused)
            if (_unacked.Remove(jti, out var m))
                await m.AckTerminateAsync(cancellationToken: ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
