using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store;
using ScimSync.Store.Feed;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// RFC 8935 push delivery. Each round claims the due events of every push subscription (only the oldest
/// undelivered event of any one resource, urgent first) and POSTs them concurrently: one SET per request,
/// or with the subscription's pushBatch above 1 up to that many per request (docs/journal.md). 2xx
/// acknowledges; a 400 with an RFC 8935 error is recorded and dead-lettered (retrying cannot help);
/// 429/503 wait for Retry-After; anything else retries with exponential backoff and jitter until the time
/// budget is spent, then dead-letters. The round's outcomes are committed together. Redirects are never
/// followed and destinations must pass the allow-list.
/// </summary>
public sealed partial class PushDispatcher : BackgroundService
{
    private readonly IResourceStore _store;
    private readonly SubscriptionService _subscriptions;
    private readonly DeliverySignal _signal;
    private readonly FeedOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PushDispatcher> _logger;
    private readonly HttpClient _http;
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
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = Math.Max(1, options.PushConcurrency),
        })
        { Timeout = options.PushTimeout };
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = _signal.Signal.WaitAsync(TimeSpan.FromMilliseconds(250), _time, stoppingToken);
            var sent = 0;
            try
            {
                foreach (var s in await _subscriptions.ListAsync(stoppingToken).ConfigureAwait(false))
                    if (s.Config.Delivery == DeliveryMethod.Push && s.State == SubscriptionState.Active)
                        sent += await DeliverRoundAsync(s, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRoundFailed(_logger, e);
            }
            if (sent == 0) await wake.ConfigureAwait(false);
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
        var (_, dead) = await _store.Feed.SettleAsync(s.Id, outcome.ToRecord(), ct).ConfigureAwait(false);
        _metrics.DeadLettered(s.Name, dead);
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

        public void DeadLetter(DeliveryRecord d, string reason) { lock (_lock) _dead[d.Jti] = reason; }

        public void Retry(DeliveryRecord d, DateTimeOffset at, string error) { lock (_lock) _retries.Add((d.Jti, at, error)); }

        public bool WasAcknowledged(string jti) { lock (_lock) return _acked.Contains(jti); }

        public DeliveryOutcome ToRecord() { lock (_lock) return new DeliveryOutcome([.. _acked], new Dictionary<string, string>(_dead), [.. _retries]); }
    }

    /// <summary>
    /// One request: a single SET as RFC 8935 says, or with <paramref name="batched"/> our extension, every
    /// event of <paramref name="events"/> in one JSON body shaped like an RFC 8936 poll response.
    /// </summary>
    private async Task SendAsync(Subscription s, DeliveryRecord[] events, bool batched, Outcome outcome, CancellationToken ct)
    {
        string error;
        TimeSpan? retryAfter = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, s.Config.PushUrl) { Content = Body(events, batched) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            if ((int)response.StatusCode is >= 200 and < 300)
            {
                var rejected = batched ? SetErrors(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)) : null;
                foreach (var d in events)
                {
                    if (rejected is not null && rejected.TryGetValue(d.Jti, out var why)) outcome.DeadLetter(d, "setErrs " + why);
                    else outcome.Acknowledge(d);
                }
                return;
            }
            if (response.StatusCode == HttpStatusCode.BadRequest)
            {
                // RFC 8935 §2.4: the receiver looked at the request and refused it; record why. Retrying cannot help.
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                foreach (var d in events) outcome.DeadLetter(d, "400 " + DescribeError(body));
                return;
            }
            error = $"{(int)response.StatusCode} {response.ReasonPhrase}";
            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
                retryAfter = RetryAfter(response);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            error = e is TaskCanceledException ? $"timeout after {_options.PushTimeout.TotalSeconds:F0} s" : e.Message;
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

    /// <summary>
    /// The SETs a batch receiver rejected: <c>{"setErrs": {jti: {"err", "description"}}}</c> as in RFC 8936 §2.4.
    /// Any other 2xx body (or none) accepts the whole batch.
    /// </summary>
    private static Dictionary<string, string>? SetErrors(string body)
    {
        if (body.Length == 0) return null;
        try
        {
            if (JsonNode.Parse(body) is not JsonObject o || o["setErrs"] is not JsonObject errs) return null;
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (jti, err) in errs)
                result[jti] = err is JsonObject e
                    ? $"{e["err"]?.ToString() ?? "unknown"}: {e["description"]?.ToString() ?? ""}"
                    : err?.ToJsonString() ?? "";
            return result;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>Exponential, capped, with "equal jitter" so that many failing events do not retry in lockstep.</summary>
    public TimeSpan Backoff(int attempts)
    {
        var exp = _options.PushBaseBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(30, Math.Max(0, attempts - 1)));
        var capped = Math.Min(exp, _options.PushMaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped / 2 + Random.Shared.NextDouble() * capped / 2);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var h = response.Headers.RetryAfter;
        TimeSpan? wait = h?.Delta ?? (h?.Date is { } date ? date - _time.GetUtcNow() : null);
        if (wait is null) return null;
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : wait;
    }

    private static string DescribeError(string body)
    {
        try
        {
            if (JsonNode.Parse(body) is JsonObject o)
                return $"{o["err"]?.GetValue<string>() ?? "unknown"}: {o["description"]?.GetValue<string>() ?? ""}";
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return body.Length > 200 ? body[..200] : body;
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Error, Message = "Push delivery round failed")]
    private static partial void LogRoundFailed(ILogger logger, Exception e);
}
