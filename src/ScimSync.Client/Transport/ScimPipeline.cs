using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ScimSync.Client.Transport;

/// <summary>
/// Sends requests with authentication, the client-side limits (a concurrency gate and a token bucket that
/// every attempt, retries included, passes through), timeouts, and retries. Every wait goes through the
/// <see cref="TimeProvider"/>, so tests drive time instead of sleeping.
/// </summary>
internal sealed class ScimPipeline : IDisposable
{
    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 64 };

    private readonly ScimClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ScimClientStats _stats;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;
    private readonly TokenBucket? _bucket;
    private readonly AccessTokenCache? _tokens;
    private readonly string? _staticAuthorization;
    private readonly ILogger _log;
    private readonly string _name;
    private long _pausedUntilUtcTicks;

    public ScimPipeline(ScimClientOptions options, HttpMessageHandler? handler, TimeProvider time, ScimClientStats stats, ILogger? logger = null)
    {
        if (options.Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(options), "Concurrency must be at least 1");
        if (options.MaxRetries < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxRetries cannot be negative");
        if (options.RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "RequestTimeout must be positive");
        if (options.MaxResponseBytes < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxResponseBytes must be positive");
        _options = options;
        _time = time;
        _stats = stats;
        _log = logger ?? NullLogger.Instance;
        _name = options.Name ?? options.BaseUri.Authority;
        // Timeouts are ours (per attempt, on the TimeProvider), not HttpClient's wall-clock one.
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler
            {
                // Long sync runs outlive DNS changes of the target.
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                // Decompressed bytes are what ReadBodyAsync counts against MaxResponseBytes.
                AutomaticDecompression = DecompressionMethods.All,
                // A redirect would carry the request (credentials, body) wherever the target points: never
                // followed; the 3xx is the answer (see Read).
                AllowAutoRedirect = false,
            }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan }
            : new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        _slots = new SemaphoreSlim(options.Concurrency, options.Concurrency);
        if (options.MaxRequestsPerSecond is { } rate)
            // A small burst (at most 10, or one second's worth when the rate is lower) keeps the rate smooth.
            _bucket = new TokenBucket(rate, Math.Clamp(rate, 1, 10), time);
        switch (options.Auth)
        {
            case ScimAuth.Bearer b:
                _staticAuthorization = "Bearer " + b.Token;
                break;
            case ScimAuth.Basic basic:
                _staticAuthorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(basic.User + ":" + basic.Password));
                break;
            case ScimAuth.OAuth2ClientCredentials oauth:
                _tokens = new AccessTokenCache(oauth, SendAsync, time, stats);
                break;
        }
    }

    /// <summary>Test seam: told of every wait (after its timer is armed), so a test can advance fake time by exactly that.</summary>
    public Action<TimeSpan, WaitReason>? WaitObserver { get; set; }

    /// <summary>
    /// Sends until the answer is final: a success, a status that is never retried, or a retriable one once
    /// retries are exhausted (the caller turns non-success into a <see cref="ScimClientException"/>).
    /// </summary>
    public async Task<ScimResponse> SendAsync(ScimRequest request, CancellationToken ct)
    {
        var refreshedToken = false;
        for (var attempt = 0; ; attempt++)
        {
            string? authorization = request.Authorization;
            if (request.ToServiceProvider)
            {
                authorization ??= _staticAuthorization ?? (_tokens is null ? null : "Bearer " + await _tokens.GetAsync(ct).ConfigureAwait(false));
            }

            ScimResponse? response = null;
            Exception? failure = null;
            (TimeSpan Delay, bool Asked)? throttledFor = null;
            try
            {
                (response, throttledFor) = await AttemptAsync(request, authorization, attempt, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                failure = e;
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                failure = new TimeoutException($"No complete response within {_options.RequestTimeout.TotalSeconds:0.###} s", e);
            }

            TimeSpan delay;
            WaitReason reason;
            if (response is not null)
            {
                if (response.Status == HttpStatusCode.Unauthorized && _tokens is not null && request.ToServiceProvider && !refreshedToken)
                {
                    // The token may have been revoked or expired early: fetch a new one, once per call.
                    refreshedToken = true;
                    ClientLog.TokenRefused(_log, _name);
                    _tokens.Invalidate(authorization);
                    _stats.Retry();
                    attempt--;
                    continue;
                }
                if (RetryPolicy.IsThrottle(response.Status))
                {
                    _stats.Throttle();
                    if (throttledFor is { } told)
                        ClientLog.Throttled(_log, _name, (int)response.Status, request.Method.Method, request.Uri.AbsolutePath,
                            (long)told.Delay.TotalMilliseconds, told.Asked ? "Retry-After" : "backoff");
                }
                if (!RetryPolicy.IsRetriable(response.Status) || attempt >= _options.MaxRetries) return response;
                if (RetryPolicy.IsGateway(response.Status) && attempt >= UnansweredRetries) return response;
                if (throttledFor is { } pause)
                {
                    // Wait exactly the pause every call now observes.
                    delay = pause.Delay;
                    reason = pause.Asked ? WaitReason.RetryAfter : WaitReason.Backoff;
                }
                else
                {
                    delay = Backoff(attempt + 1);
                    reason = WaitReason.Backoff;
                }
            }
            else
            {
                if (attempt >= UnansweredRetries)
                {
                    _stats.Failure();
                    ClientLog.NoAnswer(_log, _name, request.Method.Method, request.Uri.AbsolutePath, attempt + 1, failure!.Message);
                    throw new ScimClientException(0, null, $"{request.Method} {request.Uri.AbsolutePath} failed after {attempt + 1} attempts: {failure!.Message}", failure);
                }
                delay = Backoff(attempt + 1);
                reason = WaitReason.Backoff;
            }
            _stats.Retry();
            ClientLog.Retrying(_log, _name, request.Method.Method, request.Uri.AbsolutePath, attempt + 1,
                response is null ? failure!.Message : $"{(int)response.Status} {response.Status}", (long)delay.TotalMilliseconds);
            await DelayAsync(delay, reason, ct).ConfigureAwait(false);
        }
    }

    private int UnansweredRetries => Math.Min(_options.MaxRetries, _options.MaxUnansweredRetries ?? _options.MaxRetries);

    /// <summary>
    /// One attempt, no retry, outside the concurrency gate and the rate limit (calls stuck on a dead target
    /// may hold every slot): whether the service provider answers at all. Any answer below 500 counts, a
    /// 401 included; a gateway's 502/503/504 does not.
    /// </summary>
    public async Task<bool> ProbeAsync(Uri uri, TimeSpan timeout, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, uri);
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(ScimMedia.Scim));
        using var expiry = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, expiry.Token);
        try
        {
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            return (int)response.StatusCode is < 500 or 501;
        }
        catch (Exception e) when (e is HttpRequestException or IOException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <returns>The response, and for a throttled one (429, 503) how long every call now holds off, and whether the provider said so.</returns>
    private async Task<(ScimResponse, (TimeSpan Delay, bool Asked)?)> AttemptAsync(ScimRequest request, string? authorization, int attempt, CancellationToken ct)
    {
        var gated = request.ToServiceProvider;
        if (gated) await _slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Checked with the slot held: calls that queued for a slot before a 429 must not send on release.
            if (gated) await WaitForPauseAsync(request, ct).ConfigureAwait(false);
            if (gated && _bucket is not null)
            {
                var wait = _bucket.Reserve();
                if (wait > TimeSpan.Zero && _log.IsEnabled(LogLevel.Trace))
                    ClientLog.Waiting(_log, LogLevel.Trace, _name, request.Method.Method, request.Uri.AbsolutePath, (long)wait.TotalMilliseconds, "rate limit");
                try
                {
                    await DelayAsync(wait, WaitReason.RateLimit, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    _bucket.Refund();
                    throw;
                }
            }

            using var message = new HttpRequestMessage(request.Method, request.Uri);
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(ScimMedia.Scim));
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(ScimMedia.Json));
            if (authorization is not null) message.Headers.TryAddWithoutValidation("Authorization", authorization);
            if (request.IfMatch is not null) message.Headers.TryAddWithoutValidation("If-Match", request.IfMatch);
            if (request.Body is { } body)
            {
                message.Content = new ReadOnlyMemoryContent(body);
                // No charset parameter: JSON is UTF-8 by definition and some providers compare the type exactly.
                message.Content.Headers.ContentType = new MediaTypeHeaderValue(request.ContentType);
            }

            using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            if (gated) _stats.Request();
            else _stats.TokenRequest();
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var bytes = await ReadBodyAsync(request, response, linked.Token).ConfigureAwait(false);
            var answer = Read(response, bytes);
            if (!gated || !RetryPolicy.IsThrottle(answer.Status)) return (answer, null);
            // One call being told to slow down means they all are: the limit is the service provider's. The
            // pause is set before the slot is released, so no queued call slips through.
            var asked = RetryPolicy.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow());
            var pause = asked ?? Backoff(attempt + 1);
            PauseUntil(_time.GetUtcNow() + pause);
            return (answer, (pause, asked is not null));
        }
        finally
        {
            if (gated) _slots.Release();
        }
    }

    /// <summary>
    /// The body, read up to <see cref="ScimClientOptions.MaxResponseBytes"/> (counted after decompression, so
    /// a small gzip bomb is stopped at the cap too). A larger answer fails the call for good: sending it
    /// again would only read it again.
    /// </summary>
    private async Task<byte[]> ReadBodyAsync(ScimRequest request, HttpResponseMessage response, CancellationToken ct)
    {
        var cap = _options.MaxResponseBytes;
        var declared = response.Content.Headers.ContentLength;
        if (declared > cap) throw TooLarge(request, response, declared);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        if (declared is { } length)
        {
            // The length is known (and the handler stops the body there): one array of that size, nothing copied.
            var exact = length == 0 ? [] : new byte[length];
            var filled = 0;
            while (filled < exact.Length)
            {
                var n = await body.ReadAsync(exact.AsMemory(filled), ct).ConfigureAwait(false);
                if (n == 0) break;
                filled += n;
            }
            return filled == exact.Length ? exact : exact[..filled];
        }
        // Chunked or decompressed: read through a pooled buffer. (A fresh 80 KB buffer per answer was a measurable
        // share of the engine's CPU on an initial load, one small answer per create.)
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > cap) throw TooLarge(request, response, null);
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    private ScimClientException TooLarge(ScimRequest request, HttpResponseMessage response, long? declared)
    {
        _stats.Failure();
        ClientLog.TooLarge(_log, _name, request.Method.Method, request.Uri.AbsolutePath, _options.MaxResponseBytes);
        return new ScimClientException((int)response.StatusCode, null,
            $"{request.Method} {request.Uri.AbsolutePath}: the answer is larger than {_options.MaxResponseBytes:N0} bytes{(declared is { } d ? $" ({d:N0} declared)" : "")}; not read (raise the target's limits.maxResponseMiB if that is expected)");
    }

    private static ScimResponse Read(HttpResponseMessage response, byte[] bytes)
    {
        if ((int)response.StatusCode is >= 300 and < 400)
            return new ScimResponse(response.StatusCode, null,
                $"redirected to {response.Headers.Location?.ToString() ?? "nowhere"}; redirects are not followed (configure the target's URL as the final one)", null, null);
        JsonNode? json = null;
        string? text = null;
        if (bytes.Length > 0)
        {
            try
            {
                json = JsonNode.Parse(bytes, documentOptions: ParseOptions);
            }
            catch (JsonException)
            {
                // An HTML error page from a proxy: keep the start of it for the error message.
                var s = Encoding.UTF8.GetString(bytes);
                text = s.Length > 500 ? s[..500] : s;
            }
        }
        long? position = response.Headers.TryGetValues(ScimMedia.JournalPositionHeader, out var values)
            && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : null;
        return new ScimResponse(response.StatusCode, json, text, response.Headers.ETag?.ToString(), position);
    }

    private TimeSpan Backoff(int retry) => new Protocol.Retries.Backoff(_options.BaseBackoff, _options.MaxBackoff).After(retry);

    private void PauseUntil(DateTimeOffset until)
    {
        var ticks = until.UtcTicks;
        var seen = Interlocked.Read(ref _pausedUntilUtcTicks);
        while (ticks > seen)
        {
            var previous = Interlocked.CompareExchange(ref _pausedUntilUtcTicks, ticks, seen);
            if (previous == seen) return;
            seen = previous;
        }
    }

    private Task WaitForPauseAsync(ScimRequest request, CancellationToken ct)
    {
        var wait = TimeSpan.FromTicks(Interlocked.Read(ref _pausedUntilUtcTicks) - _time.GetUtcNow().UtcTicks);
        if (wait > TimeSpan.Zero)
            ClientLog.Waiting(_log, LogLevel.Debug, _name, request.Method.Method, request.Uri.AbsolutePath, (long)wait.TotalMilliseconds, "throttled: every call holds off");
        return DelayAsync(wait, WaitReason.Pause, ct);
    }

    private Task DelayAsync(TimeSpan delay, WaitReason reason, CancellationToken ct)
    {
        if (delay <= TimeSpan.Zero) return Task.CompletedTask;
        // Task.Delay arms its timer before returning, so an observer that advances fake time cannot miss it.
        var task = Task.Delay(delay, _time, ct);
        WaitObserver?.Invoke(delay, reason);
        return task;
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
        _tokens?.Dispose();
    }
}
