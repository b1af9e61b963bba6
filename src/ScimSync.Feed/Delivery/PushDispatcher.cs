using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Retries;
using ScimSync.Store;
using ScimSync.Store.Feed;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// RFC 8935 push delivery. Every active push subscription is delivered by its own loop, so a receiver that
/// is slow, silent or hostile holds up only its own subscription (and, through <see cref="PushClient"/>'s
/// per-destination slots, nobody else's connections). Each round claims the subscription's due events (only
/// the oldest undelivered event of any one resource, urgent first) and POSTs them concurrently: one SET per
/// request, or with the subscription's pushBatch above 1 up to that many per request (docs/journal.md).
/// 2xx acknowledges; a 400 is recorded with the receiver's reason and dead-lettered (retrying cannot help);
/// 429/503 wait for Retry-After; anything else, a timeout or an answer that cannot be read retries with
/// exponential backoff and jitter until the time budget is spent, then dead-letters. The round's outcomes are
/// committed together. A subscription whose dead-letter list is full is suspended, its events kept.
/// </summary>
public sealed partial class PushDispatcher : BackgroundService
{
    private readonly IResourceStore _store;
    private readonly SubscriptionService _subscriptions;
    private readonly DeliverySignal _signal;
    private readonly FeedOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PushDispatcher> _logger;
    private readonly PushClient _client;
    private readonly FeedMetrics _metrics;

    public PushDispatcher(IResourceStore store, SubscriptionService subscriptions, DeliverySignal signal, FeedOptions options, TimeProvider time, FeedMetrics metrics, ILogger<PushDispatcher> logger)
    {
        _metrics = metrics;
        _store = store;
        _subscriptions = subscriptions;
        _signal = signal;
        _options = options;
        _time = time;
        _logger = logger;
        _client = new PushClient(options, time);
    }

    // How often subscriptions are looked at without a signal, and how long an idle loop sleeps.
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>The lease under which one instance at a time delivers push subscriptions (LeasedWork).</summary>
    public const string Lease = "feed.push";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => LeasedWork.RunAsync(_store.Leases, Lease, DispatchAsync, _logger, stoppingToken);

    /// <summary>Starts a loop for each active push subscription that has none; a loop ends when its subscription stops being one.</summary>
    private async Task DispatchAsync(CancellationToken stoppingToken)
    {
        var loops = new Dictionary<string, Task>(StringComparer.Ordinal);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wake = _signal.Signal.WaitAsync(Tick, _time, stoppingToken);
                try
                {
                    foreach (var done in loops.Where(l => l.Value.IsCompleted).Select(l => l.Key).ToList()) loops.Remove(done);
                    foreach (var s in await _subscriptions.ListAsync(stoppingToken).ConfigureAwait(false))
                        if (IsPushing(s) && !loops.ContainsKey(s.Id))
                            loops[s.Id] = Task.Run(() => RunAsync(s.Id, stoppingToken), stoppingToken);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    LogRoundFailed(_logger, e);
                }
                await wake.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Loops end on the same token; their in-flight events become visible again after the visibility timeout.
            await Task.WhenAll(loops.Values).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    private static bool IsPushing(Subscription s) => s.Config.Delivery == DeliveryMethod.Push && s.State == SubscriptionState.Active;

    /// <summary>One subscription's delivery: rounds back to back while there is work, else a nap until a signal.</summary>
    private async Task RunAsync(string id, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var wake = _signal.Signal.WaitAsync(Tick, _time, ct);
            try
            {
                // Read again every round: a pause, a change of pushUrl or a deletion takes effect at once.
                if (await _subscriptions.FindAsync(id, ct).ConfigureAwait(false) is not { } s || !IsPushing(s)) return;
                if (await DeliverRoundAsync(s, ct).ConfigureAwait(false) > 0) continue;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A store error, say: this subscription tries again at the next tick, the others are unaffected.
                LogRoundFailed(_logger, e);
            }
            await wake.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Claims and sends one round for one subscription and settles the outcomes in one transaction; returns
    /// how many events were attempted.
    /// </summary>
    public async Task<int> DeliverRoundAsync(Subscription s, CancellationToken ct)
    {
        var perRequest = Math.Max(1, s.Config.PushBatch);
        // Enough to keep every connection busy for a while; a batched subscription's round is capped because
        // the claim is one write transaction that writers wait behind.
        var max = Math.Clamp(perRequest * _options.PushConcurrency, _options.PushConcurrency * 16, Math.Max(_options.PushConcurrency * 16, MaxClaim));
        var claimed = await _store.Feed.ClaimAsync(s.Id, max, _time.GetUtcNow(), _options.PushTimeout + TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
        if (claimed.Count == 0) return 0;
        var outcome = new Outcome();
        if (!PushDestination.IsAllowed(s.Config.PushUrl ?? "", _options.PushAllowList, out var reason))
        {
            foreach (var d in claimed) outcome.DeadLetter(d, "refused: " + reason);
        }
        else
        {
            // The claim never holds two events of one resource, so no request carries two either and
            // concurrent requests cannot reorder a resource's events.
            await Parallel.ForEachAsync(claimed.Chunk(perRequest), new ParallelOptions { MaxDegreeOfParallelism = _options.PushConcurrency, CancellationToken = ct },
                async (events, token) => await SendAsync(s, events, perRequest > 1, outcome, token).ConfigureAwait(false)).ConfigureAwait(false);
        }
        var limit = new DeadLetterLimit(_options.DeadLetterMaxCount, _options.DeadLetterMaxBytes);
        var (_, dead) = await _store.Feed.SettleAsync(s.Id, outcome.ToRecord(), limit, ct).ConfigureAwait(false);
        _metrics.DeadLettered(s.Name, dead.DeadLettered);
        if (dead.Held > 0)
        {
            await _subscriptions.SuspendAsync(s, ct).ConfigureAwait(false);
            LogSuspended(_logger, s.Name, dead.Held, _options.DeadLetterMaxCount, _options.DeadLetterMaxBytes);
        }
        var now = _time.GetUtcNow();
        foreach (var d in claimed.Where(d => outcome.WasAcknowledged(d.Jti))) _metrics.Delivered(s.Name, 1, now - d.Created);
        for (var i = 0; i < outcome.RetryCount; i++) _metrics.Failed(s.Name);
        return claimed.Count;
    }

    // Claimed events of a batched subscription per round, at most.
    private const int MaxClaim = 4096;

    /// <summary>What a round's requests came to; requests run concurrently and report here.</summary>
    private sealed class Outcome
    {
        private readonly Lock _lock = new();
        private readonly HashSet<string> _acked = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _dead = new(StringComparer.Ordinal);
        private readonly List<(string, DateTimeOffset, string)> _retries = [];

        public int RetryCount { get { lock (_lock) return _retries.Count; } }

        public void Acknowledge(DeliveryRecord d) { lock (_lock) _acked.Add(d.Jti); }

        // Reasons carry the receiver's words: clamped here, on their way to the store.
        public void DeadLetter(DeliveryRecord d, string reason) { lock (_lock) _dead[d.Jti] = FailureReason.Clamp(reason); }

        public void Retry(DeliveryRecord d, DateTimeOffset at, string error) { lock (_lock) _retries.Add((d.Jti, at, FailureReason.Clamp(error))); }

        public bool WasAcknowledged(string jti) { lock (_lock) return _acked.Contains(jti); }

        public DeliveryOutcome ToRecord() { lock (_lock) return new DeliveryOutcome([.. _acked], new Dictionary<string, string>(_dead), [.. _retries]); }
    }

    /// <summary>
    /// One request: a single SET as RFC 8935 says, or with <paramref name="batched"/> our extension, every
    /// event of <paramref name="events"/> in one JSON body shaped like an RFC 8936 poll response. Whatever the
    /// receiver does, every event ends up acknowledged, dead-lettered or scheduled for a retry: nothing thrown
    /// here may leave events in flight with no outcome (only shutdown does, and they come back after the
    /// visibility timeout).
    /// </summary>
    private async Task SendAsync(Subscription s, DeliveryRecord[] events, bool batched, Outcome outcome, CancellationToken ct)
    {
        string error;
        TimeSpan? retryAfter = null;
        try
        {
            var cap = _options.PushAnswerMaxBytes + (batched ? events.Length * _options.PushAnswerBytesPerSet : 0);
            var answer = await _client.SendAsync(new Uri(s.Config.PushUrl!), Body(events, batched), cap, ct).ConfigureAwait(false);
            if (answer.IsSuccess)
            {
                var verdict = batched ? answer.SetErrors() : null;
                if (verdict?.Unreadable is null)
                {
                    foreach (var d in events)
                    {
                        if (verdict is not null && verdict.Rejected.TryGetValue(d.Jti, out var why)) outcome.DeadLetter(d, "setErrs " + why);
                        else outcome.Acknowledge(d);
                    }
                    return;
                }
                // Which SETs the receiver rejected cannot be told: retry them all (receivers deduplicate by jti).
                error = $"{answer.Status} but {verdict.Unreadable}";
            }
            else if (answer.Status == (int)HttpStatusCode.BadRequest)
            {
                // RFC 8935 §2.4: the receiver looked at the request and refused it; record why. Retrying cannot help.
                var why = answer.RefusalReason();
                foreach (var d in events) outcome.DeadLetter(d, "400 " + why);
                return;
            }
            else
            {
                error = $"{answer.Status} {answer.ReasonPhrase}";
                if (answer.Status is (int)HttpStatusCode.TooManyRequests or (int)HttpStatusCode.ServiceUnavailable)
                    retryAfter = answer.RetryAfter;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (PushRefusedException e)
        {
            foreach (var d in events) outcome.DeadLetter(d, "refused: " + e.Message);
            return;
        }
        catch (Exception e) when (e is TimeoutException or HttpRequestException or IOException)
        {
            error = e.Message;
        }
        catch (Exception e)
        {
            // Unforeseen, a bug in reading some answer say: still a failed attempt like any other, so that the
            // events keep their retries and time budget instead of staying in flight; logged, to be fixed.
            LogUnexpected(_logger, s.Name, e);
            error = $"{e.GetType().Name}: {e.Message}";
        }
        var now = _time.GetUtcNow();
        foreach (var d in events)
        {
            if (now - d.Created > _options.PushTimeBudget)
                outcome.DeadLetter(d, $"gave up after {d.Attempts} attempts: {error}");
            else
                outcome.Retry(d, now + (retryAfter ?? Backoff(d.Attempts)), error);
        }
    }

    private static HttpContent Body(DeliveryRecord[] events, bool batched)
    {
        if (!batched)
        {
            var single = new StringContent(events[0].Token, Encoding.ASCII);
            single.Headers.ContentType = new MediaTypeHeaderValue("application/secevent+jwt");
            return single;
        }
        var sets = new JsonObject();
        foreach (var d in events) sets[d.Jti] = d.Token;
        var content = new StringContent(new JsonObject { ["sets"] = sets }.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>The wait before an event's next attempt: the product's one backoff rule, so that many failing events do not retry in lockstep.</summary>
    public TimeSpan Backoff(int attempts) => new Backoff(_options.PushBaseBackoff, _options.PushMaxBackoff).After(Math.Max(1, attempts));

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Error, Message = "Push delivery round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception e);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "Push to subscription {Subscription} failed unexpectedly; the events will be retried")]
    private static partial void LogUnexpected(ILogger logger, string subscription, Exception e);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Push subscription {Subscription} suspended: its dead-letter list is full ({MaxCount} events / {MaxBytes} bytes); {Held} rejected events kept in the queue")]
    private static partial void LogSuspended(ILogger logger, string subscription, int held, int maxCount, long maxBytes);
}
