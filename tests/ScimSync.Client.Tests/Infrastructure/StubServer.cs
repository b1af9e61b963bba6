using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>
/// A minimal Kestrel app on loopback whose every answer the test scripts: for failures our server never
/// produces (5xx, Retry-After dates, token endpoints, misbehaving paging).
/// </summary>
public sealed class StubServer : IAsyncDisposable
{
    public sealed record Seen(string Method, string PathAndQuery, string? Authorization, string? ContentType, string? Accept, string Body);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Seen> _seen = new();

    private StubServer(WebApplication app) => _app = app;

    public Uri Origin { get; private set; } = null!;

    /// <summary>The SCIM root the tests point the client at.</summary>
    public Uri ScimRoot => new(Origin, "/scim/v2/");

    public IReadOnlyList<Seen> Requests => _seen.ToArray();

    public static async Task<StubServer> StartAsync(Func<HttpContext, Seen, Task> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var stub = new StubServer(app);
        app.Run(async ctx =>
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            var seen = new Seen(ctx.Request.Method, ctx.Request.Path + ctx.Request.QueryString, ctx.Request.Headers.Authorization.FirstOrDefault(),
                ctx.Request.ContentType, ctx.Request.Headers.Accept.ToString(), await reader.ReadToEndAsync(ctx.RequestAborted));
            stub._seen.Enqueue(seen);
            await handle(ctx, seen);
        });
        await app.StartAsync();
        stub.Origin = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return stub;
    }

    /// <summary>
    /// A 200 with these exact bytes as the body, and the discovery document before it: for answers the framework
    /// would not write by itself (a declared length, a content encoding).
    /// </summary>
    public static Task<StubServer> RawAsync(JsonNode discovery, byte[] body, Action<HttpResponse> headers) =>
        StartAsync(async (ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal))
            {
                await Json(ctx, 200, discovery);
                return;
            }
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "application/scim+json";
            headers(ctx.Response);
            await ctx.Response.Body.WriteAsync(body);
        });

    public static Task Json(HttpContext ctx, int status, JsonNode body, string contentType = "application/scim+json")
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        return ctx.Response.WriteAsync(body.ToJsonString());
    }

    public static Task Error(HttpContext ctx, int status, string? scimType, string detail)
    {
        var body = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:Error"), ["status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (scimType is not null) body["scimType"] = scimType;
        body["detail"] = detail;
        return Json(ctx, status, body);
    }

    public static JsonObject User(string id, string userName) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
        ["id"] = id,
        ["userName"] = userName,
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
