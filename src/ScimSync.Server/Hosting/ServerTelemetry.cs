using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ScimSync.Feed;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Hosting;

/// <summary>
/// The server's OpenTelemetry (docs/telemetry.md): resource <c>service.name</c> scimsync-server with this build's
/// version; metrics of HTTP (ASP.NET Core's own instruments), outgoing HTTP (push delivery), the runtime, the
/// store and the feed, scraped at <c>/metrics</c> and, with <see cref="ScimServerOptions.OtlpExport"/>, pushed
/// over OTLP. Traces (request → store → journal) are set up only with OTLP export: a tracer with nowhere to
/// send its spans would record every request for nothing.
/// </summary>
public static class ServerTelemetry
{
    public const string ServiceName = "scimsync-server";

    /// <summary>The ASP.NET Core meters exported (docs/telemetry.md, "Server").</summary>
    internal static readonly string[] AspNetCoreMeters = ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"];

    public static string Version { get; } =
        typeof(ServerTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    internal static void Add(IServiceCollection services, ScimServerOptions options)
    {
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(ServiceName, serviceVersion: Version))
            .WithMetrics(m =>
            {
                // ASP.NET Core's own meters, named rather than through AddAspNetCoreInstrumentation(), which enables every
                // built-in meter: among them the memory pool's counters, updated on every buffer Kestrel rents and returns
                // (several per request), and routing's match counter, and it puts a middleware before every request. Those
                // took about 1 % of the server's CPU on GET by id (docs/benchmarks.md, "Logging and telemetry overhead"),
                // for instruments nobody reads. Hosting: http.server.request.duration and active requests; Kestrel: its
                // connection instruments (one update per connection, not per request).
                m.AddMeter(AspNetCoreMeters).AddHttpClientInstrumentation().AddMeter("System.Runtime")
                    .AddMeter(FeedMetrics.MeterName).AddMeter(SqliteResourceStore.MeterName)
                    .AddPrometheusExporter();
                if (options.OtlpExport) m.AddOtlpExporter();
            });
        if (options.OtlpExport)
            otel.WithTracing(t => t
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !IsProbe(ctx.Request.Path))
                .AddHttpClientInstrumentation()
                .AddSource(SqliteResourceStore.MeterName)
                .AddOtlpExporter());
    }

    /// <summary>Scrapes and health probes arrive every few seconds and say nothing about the service's work.</summary>
    private static bool IsProbe(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/healthz");
}
