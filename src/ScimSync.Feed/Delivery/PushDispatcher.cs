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
/// undelivered event of any one resource, urgent first) and POSTs them concurrently. 2xx acknowledges;
/// a 400 with an RFC 8935 error is recorded and dead-lettered (retrying cannot help); 429/503 wait for
/// Retry-After; anything else retries with exponential backoff and jitter until the time budget is spent,
/// then dead-letters. Redirects are never followed and destinations must pass the allow-list.
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

    /// <summary>Claims and sends one batch for one subscription; returns how many were attempted.</summary>
    public async Task<int> DeliverRoundAsync(Subscription s, CancellationToken ct)
    {
        var batch = await _store.Feed.ClaimAsync(s.Id, _options.PushConcurrency * 16, _time.GetUtcNow(), _options.PushTimeout + TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
        if (batch.Count == 0) return 0;
        if (!PushDestination.IsAllowed(s.Config.PushUrl ?? "", _options.PushAllowList, out var reason))
        {
            await _store.Feed.DeadLetterAsync(s.Id, batch.ToDictionary(d => d.Jti, _ => "refused: " + reason), ct).ConfigureAwait(false);
            return batch.Count;
        }
        await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = _options.PushConcurrency, CancellationToken = ct },
            async (d, token) => await SendAsync(s, d, token).ConfigureAwait(false)).ConfigureAwait(false);
        return batch.Count;
    }

    private async Task SendAsync(Subscription s, DeliveryRecord d, CancellationToken ct)
    {
        string error;
        TimeSpan? retryAfter = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, s.Config.PushUrl)
            {
                Content = new StringContent(d.Token, Encoding.ASCII, "application/secevent+jwt"),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/secevent+jwt");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            if ((int)response.StatusCode is >= 200 and < 300)
            {
                await _store.Feed.AckAsync(s.Id, [d.Jti], ct).ConfigureAwait(false);
                _metrics.Delivered(s.Name, 1, _time.GetUtcNow() - d.Created);
                return;
            }
            if (response.StatusCode == HttpStatusCode.BadRequest)
            {
                // RFC 8935 §2.4: the receiver looked at the SET and refused it; record why.
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                await _store.Feed.DeadLetterAsync(s.Id, new Dictionary<string, string> { [d.Jti] = "400 " + DescribeError(body) }, ct).ConfigureAwait(false);
                _metrics.DeadLettered(s.Name, 1);
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
        if (now - d.Created > _options.PushTimeBudget)
        {
            await _store.Feed.DeadLetterAsync(s.Id, new Dictionary<string, string> { [d.Jti] = $"gave up after {d.Attempts} attempts: {error}" }, ct).ConfigureAwait(false);
            _metrics.DeadLettered(s.Name, 1);
            return;
        }
        _metrics.Failed(s.Name);
        var delay = retryAfter ?? Backoff(d.Attempts);
        await _store.Feed.RescheduleAsync(s.Id, d.Jti, now + delay, error, ct).ConfigureAwait(false);
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
