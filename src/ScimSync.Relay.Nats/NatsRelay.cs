using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Events;
using ScimSync.Feed;
using ScimSync.Feed.Delivery;
using ScimSync.Feed.Events;
using ScimSync.Protocol.Retries;
using ScimSync.Protocol.Schemas;
using ScimSync.Store;
using ScimSync.Store.Journal;

namespace ScimSync.Relay.Nats;

/// <summary>
/// Publishes every journal entry, after its commit and in position order, as its SET (full payload, the same
/// builder and encoder the feed uses) to a JetStream stream (docs/nats.md). Each publish names its position as
/// Nats-Msg-Id and expects the stream's last sequence to be the one it last saw, and the next entry waits for the
/// acknowledgement: the stream holds the journal in order, with no duplicate and no gap, whoever publishes.
/// </summary>
/// <remarks>
/// No local state: where to resume is read from the stream's last message, so after a crash, or on another
/// instance taking the lease over, publishing carries on exactly after the last position the stream holds. A
/// NATS outage only makes the relay lag: it reads a bounded batch at a time, the journal (which compaction keeps
/// for it: <see cref="RelayedThroughAsync"/>) is the backlog, and writes never wait for NATS.
/// </remarks>
public sealed class NatsRelay : IJournalRelay, IAsyncDisposable
{
    private readonly NatsRelayOptions _options;
    private readonly IResourceStore _store;
    private readonly SchemaRegistry _registry;
    private readonly SetEncoder _encoder;
    private readonly FeedOptions _feed;
    private readonly ChangeSignal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly NatsConnection _connection;
    private readonly NatsJSContext _js;
    private static readonly SigningKey Unsigned = SigningKey.Generate(SigningKey.None);

    // Publishes awaiting their acknowledgement at once: one round trip per message would cap the relay at a few
    // thousand changes a second on loopback and far fewer to a remote NATS.
    private const int Window = 64;

    public NatsRelay(NatsRelayOptions options, IResourceStore store, SchemaRegistry registry, SetEncoder encoder, FeedOptions feed,
        ChangeSignal journal, TimeProvider time, ILogger<NatsRelay> logger)
    {
        _options = options;
        _store = store;
        _registry = registry;
        _encoder = encoder;
        _feed = feed;
        _journal = journal;
        _time = time;
        _logger = logger;
        // The client reconnects by itself; a publish while it is away fails after RequestTimeout, never blocks longer.
        _connection = new NatsConnection(NatsOpts.Default with
        {
            Url = options.Url,
            Name = "scimsync-relay",
            RequestTimeout = options.RequestTimeout,
            ConnectTimeout = options.RequestTimeout,
            MaxReconnectRetry = -1,
        });
        _js = new NatsJSContext(_connection);
    }

    /// <summary>What the relay knows of its progress: for the metrics and the readiness detail.</summary>
    public RelayStatus Status { get; private set; } = RelayStatus.Starting;

    /// <summary>Failures in a row since NATS last answered: the backoff's step (<see cref="Backoff"/>).</summary>
    private int _failures;

    public async Task RunAsync(CancellationToken leaseHeld)
    {
        _failures = 0;
        while (!leaseHeld.IsCancellationRequested)
        {
            try
            {
                await PublishAsync(leaseHeld).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (leaseHeld.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var wait = new Backoff(_options.BaseBackoff, _options.MaxBackoff).After(++_failures);
                NatsRelayLog.Failed(_logger, Describe(e), (long)wait.TotalMilliseconds);
                Status = Status with { Problem = Describe(e) };
                await ObserveLagAsync(Status.RelayedThrough, leaseHeld).ConfigureAwait(false);
                try
                {
                    await Task.Delay(wait, _time, leaseHeld).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Ensures the stream, finds where it ends, then publishes until cancelled or a publish fails.</summary>
    private async Task PublishAsync(CancellationToken ct)
    {
        INatsJSStream stream;
        long through;
        ulong sequence;
        using (var bounded = Bounded(ct))
        {
            stream = await EnsureStreamAsync(bounded.Token).ConfigureAwait(false);
            (through, sequence) = await LastPublishedAsync(stream, bounded.Token).ConfigureAwait(false);
        }
        NatsRelayLog.Resumed(_logger, _options.Stream, through);
        Status = Status with { RelayedThrough = through, Problem = null };
        // Reached NATS again: the next outage starts waiting from the shortest delay.
        _failures = 0;
        while (!ct.IsCancellationRequested)
        {
            var next = _journal.WaitAsync(TimeSpan.FromSeconds(1), _time, ct);
            var entries = await _store.ReadJournalAsync(through, _options.Batch, ct).ConfigureAwait(false);
            Observe(through, entries);
            if (entries.Count == 0)
            {
                await next.ConfigureAwait(false);
                continue;
            }
            // Positions may skip (a transaction that rolled back took one); a skip compaction made is a hole.
            var previous = through;
            if (entries[0].Position != through + 1 && await _store.JournalFloorAsync(ct).ConfigureAwait(false) is var floor && floor > through)
            {
                NatsRelayLog.Hole(_logger, through, floor);
                previous = floor;
            }
            var outgoing = new List<(long Position, string Subject, byte[] Set, NatsHeaders Headers)>(entries.Count);
            foreach (var entry in entries)
            {
                if (_registry.FindResourceType(entry.Change.ResourceType) is not { } rt)
                {
                    NatsRelayLog.UnknownType(_logger, entry.Position, entry.Change.ResourceType);
                    continue;
                }
                var evt = ScimEventBuilder.Build(entry, PayloadMode.Full, FeedTransition.None, rt.Endpoint)
                    with { JournalPosition = entry.Position, Time = entry.Change.Time };
                var id = EventStream.MessageId(entry.Position);
                var set = _encoder.Encode(evt, id, _feed.Issuer, [EventStream.Audience], Unsigned);
                var headers = new NatsHeaders
                {
                    [EventStream.PositionHeader] = id,
                    [EventStream.PreviousHeader] = EventStream.MessageId(previous),
                };
                outgoing.Add((entry.Position, EventStream.Subject(_options.SubjectPrefix, rt.Name, evt.Urgent), System.Text.Encoding.ASCII.GetBytes(set), headers));
                previous = entry.Position;
            }
            for (var i = 0; i < outgoing.Count; i += Window)
                sequence = await PublishInOrderAsync(outgoing.Skip(i).Take(Window).ToArray(), sequence, ct).ConfigureAwait(false);
            through = entries[^1].Position;
            Status = Status with { RelayedThrough = through };
        }
    }

    /// <summary>
    /// Publishes <paramref name="messages"/> with up to <see cref="Window"/> acknowledgements outstanding, message k
    /// expecting the stream's last sequence to be <paramref name="sequence"/> + k. JetStream stores them in order or
    /// not at all: if one is refused (NATS went away, another publisher, two sent out of order) every later one
    /// expects a sequence the stream no longer ends at and is refused too, so the stream never has a gap. Returns
    /// the stream's last sequence; throws the first refusal once every answer is in.
    /// </summary>
    private async Task<ulong> PublishInOrderAsync(IReadOnlyList<(long Position, string Subject, byte[] Set, NatsHeaders Headers)> messages, ulong sequence, CancellationToken ct)
    {
        // Bounded by the relay itself: while the client is disconnected it keeps a publish to send on reconnect, and
        // its acknowledgement would be awaited until then. (Sent late, it is refused by its expected sequence, or it
        // still fits and is simply there.)
        using var bounded = Bounded(ct);
        var acks = new Task<PubAckResponse>[messages.Count];
        for (var k = 0; k < messages.Count; k++)
        {
            var (position, subject, set, headers) = messages[k];
            acks[k] = _js.PublishAsync(subject, set, opts: new NatsJSPubOpts
            {
                MsgId = EventStream.MessageId(position), ExpectedLastSequence = sequence + (ulong)k, ExpectedStream = _options.Stream,
            }, headers: headers, cancellationToken: bounded.Token).AsTask();
        }
        Exception? failed = null;
        for (var k = 0; k < messages.Count; k++)
        {
            try
            {
                var ack = await acks[k].ConfigureAwait(false);
                ack.EnsureSuccess();
                if (failed is not null) continue;
                sequence = ack.Seq;
                Status = Status with { RelayedThrough = messages[k].Position, Published = Status.Published + 1 };
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                failed ??= e;
            }
        }
        return failed is null ? sequence : throw new RelayPublishException(failed);
    }

    /// <summary>A NATS exchange gets the request timeout, twice over for a window of publishes, and no more.</summary>
    private CancellationTokenSource Bounded(CancellationToken ct)
    {
        var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(_options.RequestTimeout * 2);
        return bounded;
    }

    private async Task<INatsJSStream> EnsureStreamAsync(CancellationToken ct)
    {
        var config = new StreamConfig(_options.Stream, [EventStream.All(_options.SubjectPrefix)])
        {
            Storage = StreamConfigStorage.File,
            DuplicateWindow = _options.DuplicateWindow,
            // The relay reads the last message back to resume (direct get: any replica answers).
            AllowDirect = true,
        };
        try
        {
            return await _js.GetStreamAsync(_options.Stream, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            // Created once with the defaults above; an operator's own settings (retention, replicas) are left alone.
            return await _js.CreateStreamAsync(config, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The last journal position the stream holds, and its stream sequence (0, 0 for an empty stream).</summary>
    private async Task<(long Position, ulong Sequence)> LastPublishedAsync(INatsJSStream stream, CancellationToken ct)
    {
        await stream.RefreshAsync(ct).ConfigureAwait(false);
        var state = stream.Info.State;
        if (state.Messages == 0) return (0, state.LastSeq);
        var last = await ReadPositionAsync(stream, state.LastSeq, ct).ConfigureAwait(false);
        return (last, state.LastSeq);
    }

    private static async Task<long> ReadPositionAsync(INatsJSStream stream, ulong sequence, CancellationToken ct)
    {
        var msg = await stream.GetDirectAsync(new StreamMsgGetRequest { Seq = sequence }, NatsRawSerializer<byte[]>.Default, ct).ConfigureAwait(false);
        // Fail closed: a message without a position is not the relay's, and publishing after it would guess.
        return msg.Headers is { } h && h.TryGetValue(EventStream.PositionHeader, out var v) && EventStream.ReadPosition(v.ToString()) is { } p
            ? p
            : throw new InvalidOperationException($"the last message of stream {stream.Info.Config.Name} (sequence {sequence}) has no {EventStream.PositionHeader} header: it is not the relay's stream");
    }

    public async Task<long> RelayedThroughAsync(CancellationToken ct) =>
        // Unknown: nothing may be compacted on its account.
        (await ReadRelayedThroughAsync(ct).ConfigureAwait(false)).Position ?? 0;

    /// <summary>The last position the stream holds, asked of NATS now; or why NATS cannot say.</summary>
    public async Task<(long? Position, string? Problem)> ReadRelayedThroughAsync(CancellationToken ct)
    {
        // Disconnected, a request would only wait out its timeout (longer than a readiness probe may take).
        if (_connection.ConnectionState != NatsConnectionState.Open)
        {
            try
            {
                await _connection.ConnectAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                return (null, $"NATS is not connected ({Describe(e)})");
            }
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout);
            var stream = await _js.GetStreamAsync(_options.Stream, cancellationToken: timeout.Token).ConfigureAwait(false);
            return ((await LastPublishedAsync(stream, timeout.Token).ConfigureAwait(false)).Position, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return (null, e is OperationCanceledException ? $"NATS did not answer within {_options.RequestTimeout.TotalSeconds:F0} s" : Describe(e));
        }
    }

    private void Observe(long through, IReadOnlyList<JournalEntry> waiting) =>
        Status = Status with { RelayedThrough = through, Waiting = waiting.Count, OldestWaiting = waiting.Count > 0 ? waiting[0].Change.Time : null, ObservedAt = _time.GetUtcNow() };

    /// <summary>While NATS is away the lag still grows and must still show: the journal says by how much.</summary>
    private async Task ObserveLagAsync(long through, CancellationToken ct)
    {
        try
        {
            Observe(through, await _store.ReadJournalAsync(through, _options.Batch, ct).ConfigureAwait(false));
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            // The store's own health check reports a store that does not answer.
        }
    }

    private string Describe(Exception e) => e switch
    {
        RelayPublishException p => Describe(p.InnerException!),
        NatsJSApiException api => $"JetStream refused ({api.Error.Code}/{api.Error.ErrCode}: {api.Error.Description})",
        NatsJSPublishNoResponseException => "JetStream did not acknowledge a publish",
        NatsNoRespondersException => "JetStream did not answer (is nats-server running with -js, and the stream there?)",
        OperationCanceledException => $"NATS did not answer within {(_options.RequestTimeout * 2).TotalSeconds:F0} s",
        _ => e.Message,
    };

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

/// <summary>
/// The relay's progress as this instance last saw it: the last position the stream holds, how many journal entries
/// were waiting (counted up to one batch) and since when the oldest of them.
/// </summary>
public sealed record RelayStatus(long RelayedThrough, int Waiting, DateTimeOffset? OldestWaiting, DateTimeOffset? ObservedAt, long Published, string? Problem)
{
    public static RelayStatus Starting { get; } = new(0, 0, null, null, 0, "not started");
}

/// <summary>A publish JetStream refused or never acknowledged; the relay starts again from the stream's end.</summary>
internal sealed class RelayPublishException(Exception inner) : Exception(inner.Message, inner);
