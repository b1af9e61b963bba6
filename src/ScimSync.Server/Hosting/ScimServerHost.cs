using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Bulk;
using ScimSync.Server.Discovery;
using ScimSync.Server.Http;
using ScimSync.Server.Querying;
using ScimSync.Server.Resources;
using ScimSync.Server.Security;
using ScimSync.Secrets;
using ScimSync.Store;
using ScimSync.Store.Sqlite;
using ScimSync.Store.Journal;
using ScimSync.Feed;
using ScimSync.Feed.Delivery;
using ScimSync.Feed.Passwords;
using ScimSync.Events;
using ScimSync.Feed.Subscriptions;

namespace ScimSync.Server.Hosting;

/// <summary>Builds the `scimsync serve` web application: services, limits, middleware and routes.</summary>
public static class ScimServerHost
{
    /// <exception cref="PrivateDataException">
    /// The data directory, a file in it or the key file is open to group or others, or the key file does not
    /// hold the keys the data was sealed with: the server must not start (the CLI prints the message and exits 3).
    /// </exception>
    /// <exception cref="CertificateException">The TLS certificate or key cannot be used.</exception>
    public static WebApplication Build(ScimServerOptions options, string[]? args = null, Action<WebApplicationBuilder>? configure = null)
    {
        PrivateFiles.EnsureDirectory(options.DataDirectory, "data directory");
        // Read before anything is built, so that a missing or bad certificate stops the start with its own message.
        var certificate = options.TlsCertificateFile is { } certFile
            ? PemCertificate.Load(certFile, options.TlsKeyFile ?? throw new CertificateException("--tls-cert needs --tls-key"))
            : null;
        var listen = options.Urls.Select(ListenUrl.Parse).ToArray();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });
        // The service manager's READY=1 and STOPPING=1 are the command line's (it reads NOTIFY_SOCKET), not the library's.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("ScimSync", LogLevel.Information);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Each route that reads a body raises this to its own limit (RequestLimits); elsewhere a body is refused.
            k.Limits.MaxRequestBodySize = RequestLimits.NoBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
            // A GET filter may be 8,192 characters, which URL-encodes to three times that.
            k.Limits.MaxRequestLineSize = 64 * 1024;
            foreach (var url in listen) url.Bind(k, certificate);
        });
        // Disposed with the application, which stops watching the certificate files.
        if (certificate is not null) builder.Services.AddSingleton(certificate);
        AddScimSync(builder.Services, options);
        configure?.Invoke(builder);
        var app = builder.Build();
        certificate?.UseLogger(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<PemCertificate>());
        MapScimSync(app);
        return app;
    }

    public static void AddScimSync(IServiceCollection services, ScimServerOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(new RequestLimits(options));
        // Read now, so that a key file open to others or placed inside the data directory stops the start.
        var keys = KeyRing.ForDirectory(options.DataDirectory, options.KeyFile);
        services.AddSingleton(keys);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => SchemaRegistry.CreateDefault(options.SchemaDirectory ?? Path.Combine(options.DataDirectory, "schemas")));
        services.AddSingleton(sp => StoreFactory.Create(options, keys, sp));
        services.AddSingleton(sp => new ResourceShaper(sp.GetRequiredService<SchemaRegistry>()));
        services.AddSingleton(sp => new ResourceProjector(sp.GetRequiredService<SchemaRegistry>()));
        services.AddSingleton(sp => new PatchEngine(sp.GetRequiredService<ResourceShaper>()));
        services.AddSingleton<ResourceRenderer>();
        services.AddSingleton(sp => new ResourceService(sp.GetRequiredService<IResourceStore>(), sp.GetRequiredService<ResourceShaper>(),
            sp.GetRequiredService<PatchEngine>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ChangeSignal>())
        {
            MaxDocumentBytes = options.MaxResourceBytes,
            PasswordHashIterations = options.PasswordHashIterations,
            Passwords = sp.GetRequiredService<PasswordSealer>(),
        });
        services.AddSingleton(sp => new CursorCodec(CursorKey.LoadOrCreate(sp.GetRequiredService<IResourceStore>(), options.DataDirectory, keys), sp.GetRequiredService<TimeProvider>(), options.CursorTimeout));
        services.AddSingleton<QueryService>();
        services.AddSingleton<DiscoveryDocuments>();
        services.AddSingleton<BulkProcessor>();
        services.AddSingleton<ScimApi>();
        services.AddSingleton<ChangeSignal>();
        services.AddSingleton<DeliverySignal>();
        services.AddSingleton(new FeedOptions
        {
            Issuer = options.EventIssuer ?? options.PublicBaseUrl ?? "scimsync",
            VisibilityTimeout = options.EventVisibilityTimeout,
            MaxPollWait = options.MaxPollWait,
            PushAllowList = options.PushAllowList,
            PushBaseBackoff = options.PushBaseBackoff,
            PushTimeBudget = options.PushTimeBudget,
            PushTimeout = options.PushTimeout,
            DeadLetterMaxCount = options.DeadLetterMaxCount,
            DeadLetterMaxBytes = options.DeadLetterMaxBytes,
            JournalRetention = options.JournalRetention,
            JournalMaxAge = options.JournalMaxAge,
            PasswordLifetime = options.PasswordLifetime,
        });
        services.AddSingleton(sp => new PasswordSealer(sp.GetRequiredService<IResourceStore>(), sp.GetRequiredService<FeedOptions>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new PasswordPoll(sp.GetRequiredService<IResourceStore>(), sp.GetRequiredService<ChangeSignal>(), sp.GetRequiredService<FeedOptions>(), sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<PasswordExpiry>();
        services.AddSingleton(sp => new SetEncoder(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<SubscriptionService>();
        services.AddSingleton<FeedMetrics>();
        services.AddSingleton(sp => new FanoutWorker(sp.GetRequiredService<IResourceStore>(), sp.GetRequiredService<SchemaRegistry>(),
            sp.GetRequiredService<SetEncoder>(), sp.GetRequiredService<FeedOptions>(), sp.GetRequiredService<FeedMetrics>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new PollService(sp.GetRequiredService<IResourceStore>(), sp.GetRequiredService<SubscriptionService>(), sp.GetRequiredService<DeliverySignal>(),
            sp.GetRequiredService<FeedOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<FeedMetrics>()));
        ServerTelemetry.Add(services, options);
        ServerHealth.Add(services);
        services.AddSingleton<FeedApi>();
        services.AddSingleton<AdminApi>();
        services.AddHostedService<FeedBackgroundService>();
        services.AddHostedService<PushDispatcher>();
        services.AddSingleton<JournalCompactor>();
        services.AddHostedService(sp => sp.GetRequiredService<JournalCompactor>());
        if (options.RateLimitPerSecond is { } rate)
            services.AddSingleton(sp => new RequestRateLimiter(rate, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new TokenService(sp.GetRequiredService<IResourceStore>().Tokens, sp.GetRequiredService<TimeProvider>(), options.AdminToken));
        services.AddSingleton(sp => new AuthFailureLog(sp.GetRequiredService<ILoggerFactory>().CreateLogger("ScimSync.Server.Authentication"), sp.GetRequiredService<TimeProvider>()));
    }

    public static void MapScimSync(WebApplication app)
    {
        var store = app.Services.GetRequiredService<IResourceStore>();
        var options = app.Services.GetRequiredService<ScimServerOptions>();
        try
        {
            store.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception e) when (StoreFactory.IsPostgres(options.Store) && e is System.Data.Common.DbException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // A shared database is a dependency that may be down or misconfigured; SQLite's own failures (a key
            // file that does not open the data) already carry their messages and stay as they are.
            throw new StoreUnavailableException($"cannot open the store {StoreFactory.Describe(options)}: {e.Message}", e);
        }
        // Before serving: creates the cursor key, or seals one a previous build left in clear.
        app.Services.GetRequiredService<CursorCodec>();
        var tokens = app.Services.GetRequiredService<TokenService>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ScimSync.Server");

        var limiter = app.Services.GetService<RequestRateLimiter>();
        // Behind a reverse proxy: the client's address and scheme from X-Forwarded-For and -Proto, believed
        // only from the proxies named (anyone else could send them). The host is not taken from the proxy:
        // --public-url names the base URL clients use.
        if (options.TrustedProxies.Count > 0)
        {
            var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in options.TrustedProxies) forwarded.KnownIPNetworks.Add(TrustedProxy.Parse(proxy));
            app.UseForwardedHeaders(forwarded);
        }
        var authFailures = app.Services.GetRequiredService<AuthFailureLog>();
        app.Use((ctx, next) => ScimMiddleware.HandleAsync(ctx, next, tokens, options, limiter, logger, authFailures));
        app.UseRouting();

        app.MapGet("/healthz", () => Results.Text("ok\n"));
        ServerHealth.Map(app);
        // Prometheus text format of the OpenTelemetry metrics; the server binds loopback by default.
        app.MapPrometheusScrapingEndpoint("/metrics");

        var api = app.Services.GetRequiredService<ScimApi>();
        var docs = app.Services.GetRequiredService<DiscoveryDocuments>();
        var bulk = app.Services.GetRequiredService<BulkProcessor>();
        var limits = app.Services.GetRequiredService<RequestLimits>();
        var registry = app.Services.GetRequiredService<SchemaRegistry>();
        var g = app.MapGroup("/scim/v2");

        g.MapGet("/ServiceProviderConfig", ctx => Discovery(ctx, options, c => docs.ServiceProviderConfig(c)));
        g.MapGet("/ResourceTypes", ctx => Discovery(ctx, options, c => docs.List(registry.ResourceTypes.Select(r => docs.ResourceType(r, c)).ToArray())));
        g.MapGet("/ResourceTypes/{id}", (HttpContext ctx, string id) => Discovery(ctx, options, c =>
            docs.ResourceType(registry.ResourceTypes.FirstOrDefault(r => r.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
                ?? throw ScimException.NotFound($"No resource type \"{id}\""), c)));
        g.MapGet("/Schemas", ctx => Discovery(ctx, options, c => docs.List(docs.PublishedSchemas.Select(s => docs.Schema(s, c)).ToArray())));
        g.MapGet("/Schemas/{id}", (HttpContext ctx, string id) => Discovery(ctx, options, c =>
            docs.Schema(registry.FindSchema(id) ?? throw ScimException.NotFound($"No schema \"{id}\""), c)));

        g.MapPost("/Bulk", async ctx =>
        {
            if (options.DisableBulk) throw ScimException.NotImplemented("Bulk is not supported by this server");
            if (!ScimApi.Caller(ctx).Has(Scopes.Write)) throw new ScimException(403, null, "This token lacks the \"scim:write\" scope");
            var body = await ScimHttp.ReadObjectAsync(ctx, limits.Bulk, ctx.RequestAborted).ConfigureAwait(false);
            var caller = ScimApi.Caller(ctx);
            var result = await bulk.ProcessAsync(body, ScimHttp.BaseUrl(ctx, options), caller.TokenId, caller.Name, ctx.RequestAborted).ConfigureAwait(false);
            await ScimHttp.WriteJsonAsync(ctx, 200, result.WriteTo).ConfigureAwait(false);
        });

        g.MapGet("/", api.RootList);
        g.MapPost("/.search", api.RootSearch);
        g.MapMethods("/Me", ["GET", "PUT", "PATCH", "DELETE", "POST"], api.Me);
        g.MapGet("/{endpoint}", (HttpContext ctx, string endpoint) => api.List(ctx, endpoint));
        g.MapPost("/{endpoint}", (HttpContext ctx, string endpoint) => api.Create(ctx, endpoint));
        g.MapPost("/{endpoint}/.search", (HttpContext ctx, string endpoint) => api.Search(ctx, endpoint));
        g.MapGet("/{endpoint}/{id}", (HttpContext ctx, string endpoint, string id) => api.Get(ctx, endpoint, id));
        g.MapPut("/{endpoint}/{id}", (HttpContext ctx, string endpoint, string id) => api.Replace(ctx, endpoint, id));
        g.MapPatch("/{endpoint}/{id}", (HttpContext ctx, string endpoint, string id) => api.Patch(ctx, endpoint, id));
        g.MapDelete("/{endpoint}/{id}", (HttpContext ctx, string endpoint, string id) => api.Delete(ctx, endpoint, id));

        var feed = app.Services.GetRequiredService<FeedApi>();
        var f = app.MapGroup("/feeds/v1/subscriptions");
        f.MapPost("/", feed.Create);
        f.MapGet("/", feed.List);
        f.MapGet("/{id}", (HttpContext ctx, string id) => feed.Get(ctx, id));
        f.MapPatch("/{id}", (HttpContext ctx, string id) => feed.Update(ctx, id));
        f.MapDelete("/{id}", (HttpContext ctx, string id) => feed.Delete(ctx, id));
        f.MapPost("/{id}/rewind", (HttpContext ctx, string id) => feed.Rewind(ctx, id));
        f.MapGet("/{id}/jwks", (HttpContext ctx, string id) => feed.Jwks(ctx, id));
        f.MapPost("/{id}/poll", (HttpContext ctx, string id) => feed.Poll(ctx, id));
        f.MapPost("/{id}/passwords", (HttpContext ctx, string id) => feed.Passwords(ctx, id));
        f.MapGet("/{id}/dead-letters", (HttpContext ctx, string id) => feed.DeadLetters(ctx, id));
        f.MapPost("/{id}/dead-letters/replay", (HttpContext ctx, string id) => feed.Replay(ctx, id));
        f.MapDelete("/{id}/dead-letters", (HttpContext ctx, string id) => feed.Discard(ctx, id));

        var admin = app.Services.GetRequiredService<AdminApi>();
        var a = app.MapGroup("/admin/tokens");
        a.MapGet("/", admin.ListTokens);
        a.MapPost("/", admin.CreateToken);
        a.MapDelete("/{idOrName}", (HttpContext ctx, string idOrName) => admin.RevokeToken(ctx, idOrName));
    }

    /// <summary>Discovery endpoints ignore query parameters, but a filter there gets 403 (RFC 7644 §4).</summary>
    private static Task Discovery(HttpContext ctx, ScimServerOptions options, Func<string, System.Text.Json.Nodes.JsonObject> build)
    {
        if (!ScimApi.Caller(ctx).Has(Scopes.Read)) throw new ScimException(403, null, "This token lacks the \"scim:read\" scope");
        if (ctx.Request.Query.ContainsKey("filter"))
            throw new ScimException(403, null, "Discovery endpoints do not support filtering");
        return ScimHttp.WriteNodeAsync(ctx, 200, build(ScimHttp.BaseUrl(ctx, options)));
    }
}
