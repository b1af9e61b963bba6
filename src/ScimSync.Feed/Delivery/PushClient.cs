using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// The HTTP side of push delivery, written for receivers that may be hostile. Every request:
/// <list type="bullet">
/// <item>connects only to addresses <see cref="PushDestination"/> allows, checked at connect time, directly
/// (no proxy, whose address is all the check would see), and follows no redirect;</item>
/// <item>waits for one of its destination's <see cref="FeedOptions.PushConcurrency"/> slots, so that one
/// destination cannot take every connection, then has <see cref="FeedOptions.PushTimeout"/> for everything:
/// connect, send, the answer's headers and its body;</item>
/// <item>reads at most the answer cap of the body, as sent (no Accept-Encoding is offered and nothing is
/// decompressed, so a gzip bomb stays its compressed size), and hangs up on the rest rather than draining it.
/// Headers are bounded by the handler (64 KiB, its default).</item>
/// </list>
/// </summary>
public sealed class PushClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly FeedOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _slots = new(StringComparer.OrdinalIgnoreCase);

    public PushClient(FeedOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.PushConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = Math.Max(1, options.PushConcurrency),
            // An answer read only in part closes its connection instead of being drained in the background.
            MaxResponseDrainSize = 0,
            ConnectCallback = (context, ct) =>
                PushDestination.ConnectAsync(context.InitialRequestMessage.RequestUri!.Scheme, context.DnsEndPoint, options.PushAllowList, ct),
        };
        // The per-request deadline below covers the body too, which HttpClient.Timeout would not once headers are in.
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>
    /// POSTs <paramref name="content"/> and reads the answer, at most <paramref name="answerCap"/> bytes of it.
    /// Throws <see cref="TimeoutException"/> past the push timeout, <see cref="PushRefusedException"/> for a
    /// destination the allow-list refuses by address, <see cref="HttpRequestException"/> or
    /// <see cref="IOException"/> when the connection fails.
    /// </summary>
    public async Task<ReceiverAnswer> SendAsync(Uri url, HttpContent content, int answerCap, CancellationToken ct)
    {
        var slots = _slots.GetOrAdd(url.GetLeftPart(UriPartial.Authority), _ => new SemaphoreSlim(Math.Max(1, _options.PushConcurrency)));
        await slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var deadline = new CancellationTokenSource(_options.PushTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
                var (body, truncated) = await ReadCappedAsync(response.Content, answerCap, linked.Token).ConfigureAwait(false);
                return new ReceiverAnswer((int)response.StatusCode, response.ReasonPhrase, RetryAfter(response),
                    string.Join(",", response.Content.Headers.ContentEncoding), body, truncated);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new TimeoutException($"timeout: no complete answer within {_options.PushTimeout.TotalSeconds:0.#} s");
            }
            catch (HttpRequestException e) when (Refusal(e) is { } refused)
            {
                throw refused;
            }
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>At most <paramref name="cap"/> bytes, and whether the body went on beyond them.</summary>
    private static async Task<(byte[] Body, bool Truncated)> ReadCappedAsync(HttpContent content, int cap, CancellationToken ct)
    {
        if (content.Headers.ContentLength is 0) return ([], false);
        using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new byte[Math.Min(cap + 1L, content.Headers.ContentLength + 1 ?? 16 * 1024)];
        var read = 0;
        while (true)
        {
            if (read == buffer.Length)
            {
                if (read > cap) break;
                Array.Resize(ref buffer, (int)Math.Min(cap + 1L, buffer.Length * 2L));
            }
            var n = await stream.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false);
            if (n == 0) break;
            read += n;
        }
        // One byte past the cap was asked for only to know whether there was more.
        return read > cap ? (buffer[..cap], true) : (buffer[..read], false);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var h = response.Headers.RetryAfter;
        TimeSpan? wait = h?.Delta ?? (h?.Date is { } date ? date - _time.GetUtcNow() : null);
        if (wait is null) return null;
        // A receiver cannot park its events for longer than an hour at a time.
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : wait;
    }

    private static PushRefusedException? Refusal(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is PushRefusedException r) return r;
        return null;
    }

    public void Dispose()
    {
        _http.Dispose();
        foreach (var s in _slots.Values) s.Dispose();
    }
}
