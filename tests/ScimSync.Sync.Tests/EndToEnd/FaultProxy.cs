using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// A loopback reverse proxy in front of a real target that answers some requests itself with a failure:
/// every <c>failEvery</c>-th request gets a 500 (or a 503 with Retry-After), the rest are forwarded. With
/// <c>rewrite</c>, the bodies of successful GET answers are passed through it (path and query, body) first:
/// a target whose listings misbehave; with <c>rewritePost</c>, those of successful POST answers (a source
/// whose event feed hands out a SET that does not verify). With <c>observe</c>, every forwarded request is
/// reported (method, path, body as the engine sent it, the target's status): what an engine actually sent. With
/// <c>rewriteRequest</c>, request bodies ("METHOD /path", body) are changed on their way to the target: a
/// target that stores something other than what it was sent.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<RecordedWrite> _writes = new();
    private int _requests;
    private int _injected;

    public int Injected => Volatile.Read(ref _injected);

    /// <summary>Every request other than GET that reached the target through the proxy, in order: what the engine wrote.</summary>
    public IReadOnlyList<RecordedWrite> Writes => _writes.ToArray();

    public void ClearWrites() => _writes.Clear();
    public Uri ScimUrl { get; private set; } = null!;

    private FaultProxy(WebApplication app) => _app = app;

    public static async Task<FaultProxy> StartAsync(Uri upstream, int failEvery, Func<string, string, string>? rewrite = null, Func<string, string, string>? rewritePost = null,
        Action<string, string, byte[], int>? observe = null, Func<string, byte[], byte[]>? rewriteRequest = null)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseUrls("http://127.0.0.1:0");
        var app = b.Build();
        var proxy = new FaultProxy(app);
        app.Run(async ctx =>
        {
            var n = Interlocked.Increment(ref proxy._requests);
            if (failEvery > 0 && n % failEvery == 0 && ctx.Request.Method != "GET")
            {
                Interlocked.Increment(ref proxy._injected);
                if (n % (failEvery * 2) == 0)
                {
                    ctx.Response.StatusCode = 503;
                    ctx.Response.Headers.RetryAfter = "1";
                }
                else ctx.Response.StatusCode = 500;
                await ctx.Response.WriteAsync("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"" + ctx.Response.StatusCode + "\",\"detail\":\"injected\"}");
                return;
            }
            using var req = new HttpRequestMessage(new HttpMethod(ctx.Request.Method), new Uri(upstream.GetLeftPart(UriPartial.Authority) + ctx.Request.Path + ctx.Request.QueryString));
            var sent = Array.Empty<byte>();
            var forwarded = sent;
            if (ctx.Request.ContentLength > 0 || ctx.Request.Headers.ContainsKey("Transfer-Encoding"))
            {
                using var ms = new MemoryStream();
                await ctx.Request.Body.CopyToAsync(ms);
                sent = ms.ToArray();
                forwarded = rewriteRequest is null ? sent : rewriteRequest(ctx.Request.Method + " " + ctx.Request.Path, sent);
                req.Content = new ByteArrayContent(forwarded);
                if (ctx.Request.ContentType is { } ct) req.Content.Headers.TryAddWithoutValidation("Content-Type", ct);
            }
            if (ctx.Request.Method != "GET") proxy._writes.Enqueue(new RecordedWrite(ctx.Request.Method, ctx.Request.Path, System.Text.Encoding.UTF8.GetString(forwarded)));
            foreach (var h in new[] { "Authorization", "If-Match", "If-None-Match", "Accept" })
                if (ctx.Request.Headers.TryGetValue(h, out var v)) req.Headers.TryAddWithoutValidation(h, (IEnumerable<string>)v!);
            using var resp = await proxy._upstream.SendAsync(req);
            observe?.Invoke(ctx.Request.Method, ctx.Request.Path, sent, (int)resp.StatusCode);
            ctx.Response.StatusCode = (int)resp.StatusCode;
            foreach (var h in resp.Headers.Concat(resp.Content.Headers))
                if (h.Key is not ("Transfer-Encoding" or "Content-Length")) ctx.Response.Headers[h.Key] = h.Value.ToArray();
            if (rewrite is not null && ctx.Request.Method == "GET" && resp.IsSuccessStatusCode)
            {
                await ctx.Response.WriteAsync(rewrite(ctx.Request.Path + ctx.Request.QueryString, await resp.Content.ReadAsStringAsync()));
                return;
            }
            if (rewritePost is not null && ctx.Request.Method == "POST" && resp.IsSuccessStatusCode)
            {
                await ctx.Response.WriteAsync(rewritePost(ctx.Request.Path + ctx.Request.QueryString, await resp.Content.ReadAsStringAsync()));
                return;
            }
            await resp.Content.CopyToAsync(ctx.Response.Body);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.ScimUrl = new Uri(address + "/scim/v2/");
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}

/// <summary>One write the proxy passed on: method, path (without the query) and body.</summary>
public sealed record RecordedWrite(string Method, string Path, string Body);
