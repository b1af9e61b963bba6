using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// A push receiver on a loopback port that attacks its transmitter with its answers: huge or endless bodies,
/// a gzip bomb, a drip, silence, or error bodies of the wrong shape. It counts what it managed to send, so a
/// test can tell whether the transmitter read the whole answer or stopped at its cap.
/// </summary>
public sealed class HostileReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<HttpContext, HostileReceiver, CancellationToken, Task> _answer;
    private readonly CancellationTokenSource _stopping = new();
    private long _bytes;
    private long _largest;
    private int _requests;

    private HostileReceiver(WebApplication app, Func<HttpContext, HostileReceiver, CancellationToken, Task> answer)
    {
        _app = app;
        _answer = answer;
    }

    public string Url { get; private set; } = "";

    /// <summary>Requests received (each one a push attempt).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Answer bytes the transmitter accepted from the socket, over all requests.</summary>
    public long BytesSent => Interlocked.Read(ref _bytes);

    /// <summary>The most answer bytes one request got out before the transmitter hung up (or the answer ended).</summary>
    public long LargestAnswerSent => Interlocked.Read(ref _largest);

    /// <summary>Never writes more than this per answer, so that a transmitter that reads everything still ends.</summary>
    public const long SafetyStop = 512L * 1024 * 1024;

    private static readonly byte[] Filler = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));

    /// <summary><paramref name="status"/> with <paramref name="prefix"/> followed by filler up to <paramref name="total"/> bytes.</summary>
    public static Task<HostileReceiver> HugeAsync(int status, long total, string prefix = """{"err":"invalid_request","description":" """) =>
        StartAsync(async (ctx, r, ct) =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength = total;
            await r.WriteAsync(ctx, Encoding.ASCII.GetBytes(prefix), total, ct);
        });

    /// <summary><paramref name="status"/> and a body that never ends (until the transmitter hangs up).</summary>
    public static Task<HostileReceiver> EndlessAsync(int status) =>
        StartAsync(async (ctx, r, ct) =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            await r.WriteAsync(ctx, Encoding.ASCII.GetBytes("""{"setErrs":{" """), SafetyStop, ct);
        });

    /// <summary>A 400 whose gzip-encoded body inflates to <paramref name="inflated"/> bytes.</summary>
    public static async Task<HostileReceiver> GzipBombAsync(long inflated)
    {
        using var packed = new MemoryStream();
        await using (var gzip = new GZipStream(packed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            for (long n = 0; n < inflated; n += zeros.Length) await gzip.WriteAsync(zeros);
        }
        var bomb = packed.ToArray();
        return await StartAsync(async (ctx, r, ct) =>
        {
            ctx.Response.StatusCode = 400;
            ctx.Response.ContentType = "application/json";
            ctx.Response.Headers.ContentEncoding = "gzip";
            ctx.Response.ContentLength = bomb.Length;
            await r.WriteAsync(ctx, bomb, bomb.Length, ct);
        });
    }

    /// <summary>Headers at once, then one byte of body every <paramref name="interval"/>, for ever.</summary>
    public static Task<HostileReceiver> DripAsync(int status, TimeSpan interval) =>
        StartAsync(async (ctx, r, ct) =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            await ctx.Response.Body.FlushAsync(ct);
            var one = new[] { (byte)' ' };
            var sent = 0L;
            try
            {
                while (!ct.IsCancellationRequested && sent < 100_000)
                {
                    await ctx.Response.Body.WriteAsync(one, ct);
                    await ctx.Response.Body.FlushAsync(ct);
                    r.Count(1, ++sent);
                    await Task.Delay(interval, ct);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
            {
            }
        });

    /// <summary>Accepts the request and never answers.</summary>
    public static Task<HostileReceiver> SilentAsync() =>
        StartAsync(async (ctx, _, ct) =>
        {
            try { await Task.Delay(Timeout.Infinite, ct); }
            catch (OperationCanceledException) { }
        });

    /// <summary>A fixed answer, e.g. 400 with <c>{"err": 1}</c>.</summary>
    public static Task<HostileReceiver> AnswerAsync(int status, string body, string contentType = "application/json") =>
        StartAsync(async (ctx, r, ct) =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = contentType;
            ctx.Response.Headers.ContentLanguage = "en";
            var bytes = Encoding.UTF8.GetBytes(body);
            await r.WriteAsync(ctx, bytes, bytes.Length, ct);
        });

    private static async Task<HostileReceiver> StartAsync(Func<HttpContext, HostileReceiver, CancellationToken, Task> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new HostileReceiver(app, answer);
        app.MapPost("/events", async (HttpContext ctx) =>
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, receiver._stopping.Token);
            using (var reader = new StreamReader(ctx.Request.Body)) await reader.ReadToEndAsync(cts.Token);
            Interlocked.Increment(ref receiver._requests);
            await receiver._answer(ctx, receiver, cts.Token);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = address.TrimEnd('/') + "/events";
        return receiver;
    }

    /// <summary>Writes <paramref name="head"/> then filler until <paramref name="total"/> bytes or the peer hangs up.</summary>
    private async Task WriteAsync(HttpContext ctx, byte[] head, long total, CancellationToken ct)
    {
        var sent = 0L;
        try
        {
            var first = (int)Math.Min(head.Length, total);
            await ctx.Response.Body.WriteAsync(head.AsMemory(0, first), ct);
            sent += first;
            Count(first, sent);
            while (sent < total && sent < SafetyStop)
            {
                var n = (int)Math.Min(Filler.Length, total - sent);
                // WriteAsync waits while the transmitter is not reading (backpressure), so what counts here has
                // left for the socket: the transmitter's reads plus what the loopback buffers hold.
                await ctx.Response.Body.WriteAsync(Filler.AsMemory(0, n), ct);
                sent += n;
                Count(n, sent);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The transmitter hung up: what it refused to read is the point of the test.
        }
    }

    private void Count(long delta, long answerSoFar)
    {
        Interlocked.Add(ref _bytes, delta);
        long seen;
        while (answerSoFar > (seen = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, answerSoFar, seen) != seen)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Endless answers end here rather than at Kestrel's shutdown timeout.
        await _stopping.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
