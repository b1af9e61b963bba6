using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// An RFC 8935 push receiver on a loopback port. <see cref="Respond"/> decides each answer, so a test
/// can play a receiver that is down, rate-limits or rejects SETs.
/// </summary>
public sealed class SetReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<(DateTimeOffset At, string ContentType, string Token)> Received { get; } = new();

    /// <summary>Returns status, optional Retry-After seconds, optional JSON body; default 202.</summary>
    public Func<int, (int Status, int? RetryAfter, string? Body)> Respond { get; set; } = _ => (202, null, null);

    /// <summary>When set, decides instead of <see cref="Respond"/>, seeing the request body (for batched pushes).</summary>
    public Func<int, string, (int Status, int? RetryAfter, string? Body)>? RespondTo { get; set; }

    /// <summary>When set, every request waits for it before being answered (to hold deliveries back while a test sets up).</summary>
    public Func<Task>? Hold { get; set; }

    public string Url { get; private set; } = "";

    private int _count;

    private SetReceiver(WebApplication app) => _app = app;

    public static async Task<SetReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new SetReceiver(app);
        app.MapPost("/events", async (HttpContext ctx) =>
        {
            using var reader = new StreamReader(ctx.Request.Body);
            var token = await reader.ReadToEndAsync();
            if (receiver.Hold is { } hold) await hold();
            var n = Interlocked.Increment(ref receiver._count);
            var (status, retryAfter, body) = receiver.RespondTo?.Invoke(n, token) ?? receiver.Respond(n);
            if (status is >= 200 and < 300) receiver.Received.Enqueue((DateTimeOffset.UtcNow, ctx.Request.ContentType ?? "", token));
            ctx.Response.StatusCode = status;
            if (retryAfter is { } ra) ctx.Response.Headers.RetryAfter = ra.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (body is not null)
            {
                ctx.Response.ContentType = "application/json";
                ctx.Response.Headers.ContentLanguage = "en";
                await ctx.Response.WriteAsync(body);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = address.TrimEnd('/') + "/events";
        return receiver;
    }

    public async Task WaitForAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Received.Count < count && DateTime.UtcNow < deadline) await Task.Delay(20);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
