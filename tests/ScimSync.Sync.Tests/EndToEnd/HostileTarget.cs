using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>How a <see cref="HostileTarget"/> misbehaves.</summary>
public enum Hostility
{
    /// <summary>Lists are empty; a create is answered <c>201 {}</c>.</summary>
    CreateWithoutResource,
    /// <summary>The user listing and creates are redirected elsewhere (which would receive the credentials and the body).</summary>
    RedirectElsewhere,
    /// <summary>The user listing's <c>Resources</c> is an object.</summary>
    ResourcesNotAnArray,
    /// <summary>The user listing is 200 MB of zeros, gzip-compressed to a few hundred kilobytes.</summary>
    GzipBomb,
    /// <summary>The user listing never ends: a new cursor and new ids on every page.</summary>
    EndlessPages,
    /// <summary>The user listing is cut off in the middle of its JSON.</summary>
    MalformedJson,
}

/// <summary>
/// A loopback SCIM "service provider" that answers with one kind of misbehaviour, and counts what it was
/// asked. For the engine's tests: a hostile target fails its own work and nobody else's.
/// </summary>
public sealed class HostileTarget : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _creates;
    private int _lists;

    private HostileTarget(WebApplication app) => _app = app;

    public Uri ScimUrl { get; private set; } = null!;

    /// <summary>POSTs to /Users received.</summary>
    public int Creates => Volatile.Read(ref _creates);

    /// <summary>GETs of the user listing received.</summary>
    public int Lists => Volatile.Read(ref _lists);

    /// <summary>Requests that reached the other origin a redirect pointed at.</summary>
    public int Elsewhere { get; private set; }

    public static async Task<HostileTarget> StartAsync(Hostility mode)
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseUrls("http://127.0.0.1:0");
        var app = b.Build();
        var target = new HostileTarget(app);
        var bomb = mode == Hostility.GzipBomb ? Bomb() : [];
        var page = 0;
        app.Run(async ctx =>
        {
            var path = ctx.Request.Path.Value ?? "";
            if (path.StartsWith("/elsewhere/", StringComparison.Ordinal))
            {
                // Where a redirect points: reaching it at all is the failure.
                target.Elsewhere++;
                await Write(ctx, 201, """{"id":"stolen","userName":"x"}""");
                return;
            }
            if (path.EndsWith("/ServiceProviderConfig", StringComparison.Ordinal))
            {
                await Write(ctx, 200, new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
                    ["patch"] = new JsonObject { ["supported"] = true },
                    ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = 100 },
                    ["pagination"] = new JsonObject { ["cursor"] = mode == Hostility.EndlessPages, ["index"] = true },
                }.ToJsonString());
                return;
            }
            if (ctx.Request.Method == "POST" && path.EndsWith("/Users", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref target._creates);
                if (mode == Hostility.RedirectElsewhere)
                {
                    ctx.Response.StatusCode = 307;
                    ctx.Response.Headers.Location = new Uri(target.ScimUrl, "/elsewhere/Users").ToString();
                    return;
                }
                await Write(ctx, 201, mode == Hostility.CreateWithoutResource ? "{}" : """{"id":"made","userName":"x"}""");
                return;
            }
            if (ctx.Request.Method == "GET" && path.EndsWith("/Users", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref target._lists);
                switch (mode)
                {
                    case Hostility.RedirectElsewhere:
                        ctx.Response.StatusCode = 302;
                        ctx.Response.Headers.Location = new Uri(target.ScimUrl, "/elsewhere/Users").ToString();
                        return;
                    case Hostility.ResourcesNotAnArray:
                        await Write(ctx, 200, """{"totalResults":5,"Resources":{"id":"1","userName":"a"}}""");
                        return;
                    case Hostility.GzipBomb:
                        ctx.Response.StatusCode = 200;
                        ctx.Response.ContentType = "application/scim+json";
                        ctx.Response.Headers.ContentEncoding = "gzip";
                        await ctx.Response.Body.WriteAsync(bomb);
                        return;
                    case Hostility.EndlessPages:
                        var n = Interlocked.Increment(ref page);
                        var users = new JsonArray(Enumerable.Range(n * 100, 100).Select(i => (JsonNode)new JsonObject { ["id"] = "u" + i, ["userName"] = $"stranger{i}" }).ToArray());
                        await Write(ctx, 200, new JsonObject { ["totalResults"] = 1_000_000_000, ["nextCursor"] = "c" + n, ["Resources"] = users }.ToJsonString());
                        return;
                    case Hostility.MalformedJson:
                        await Write(ctx, 200, """{"totalResults":2,"Resources":[{"id":"1","userName":"a"},{"id":""");
                        return;
                }
            }
            if (ctx.Request.Method == "GET" && (path.EndsWith("/Users", StringComparison.Ordinal) || path.EndsWith("/Groups", StringComparison.Ordinal)))
            {
                await Write(ctx, 200, """{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}""");
                return;
            }
            await Write(ctx, 404, """{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404"}""");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        target.ScimUrl = new Uri(address + "/scim/v2/");
        return target;
    }

    private static Task Write(HttpContext ctx, int status, string body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/scim+json";
        return ctx.Response.WriteAsync(body);
    }

    private static byte[] Bomb()
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 200; i++) gzip.Write(zeros);
        }
        return packed.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
