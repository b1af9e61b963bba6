using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ScimSync.OperatorConsole;
using ScimSync.Server;
using ScimSync.Server.Hosting;
using ScimSync.Sync;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// What a command calls to log, expose health and export telemetry: the composition root of logging and
/// OpenTelemetry (docs/logging.md, docs/telemetry.md). The libraries only write through ILogger,
/// ActivitySource and Meter; the choices (format, level, where telemetry goes, the standard OTEL_* variables)
/// are made here and nowhere else.
/// </summary>
/// <remarks>
/// <c>serve</c>: <c>ScimServerHost.Build(Observability.WithTelemetry(options), args, b => Observability.ConfigureLogging(b.Logging, format, level))</c>.
/// <c>sync ...</c>: <c>using var loggers = Observability.EngineLoggers(format, level)</c>, <c>new SyncEngine(config, EngineState.Open(config), TimeProvider.System, loggers)</c>;
/// then, in watch mode, <c>await using var listener = await EngineListener.StartAsync(engine, "127.0.0.1:9464", loggers, Observability.OtlpFromEnvironment(), ct)</c>,
/// or without a listener <c>using var telemetry = Observability.StartEngineTelemetry(Observability.OtlpFromEnvironment())</c>.
/// </remarks>
public static class Observability
{
    public const string EngineServiceName = "scimsync-engine";

    /// <summary>The values of <c>--log-format</c>.</summary>
    public static IReadOnlyList<string> LogFormats { get; } = ["simple", "json", "systemd"];

    /// <summary>The values of <c>--log-level</c>, as written in the docs.</summary>
    public static IReadOnlyList<string> LogLevels { get; } = ["trace", "debug", "information", "warning", "error", "critical", "none"];

    public static string EngineVersion { get; } =
        typeof(SyncEngine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>
    /// Console logging in one of <see cref="LogFormats"/>, every entry on standard error (standard output stays
    /// for what a command prints: a plan, <c>--json</c>), one line per entry: <c>simple</c> (time, level,
    /// category, event id, message), <c>json</c> (one object per line: Timestamp, EventId, LogLevel, Category,
    /// Message, State with every field), <c>systemd</c> (a <c>&lt;N&gt;</c> priority prefix that journald reads;
    /// journald adds the time). ScimSync's entries from <paramref name="minimum"/>; the frameworks' own (a line per
    /// HTTP request at Information) from Warning, unless <paramref name="minimum"/> is Debug or lower.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown format (the message lists the valid ones).</exception>
    public static void ConfigureLogging(ILoggingBuilder logging, string format, LogLevel minimum)
    {
        ArgumentNullException.ThrowIfNull(logging);
        var chosen = format.ToLowerInvariant();
        if (!LogFormats.Contains(chosen))
            throw new ArgumentException($"the log format is one of {string.Join(", ", LogFormats)}, not \"{format}\"", nameof(format));
        logging.ClearProviders();
        // Replaces whatever levels the host set before (ScimServerHost's defaults): this option decides.
        logging.Services.Configure<LoggerFilterOptions>(o => o.Rules.Clear());
        logging.SetMinimumLevel(minimum);
        var frameworks = minimum <= LogLevel.Debug ? minimum : (LogLevel)Math.Max((int)minimum, (int)LogLevel.Warning);
        logging.AddFilter("Microsoft", frameworks);
        logging.AddFilter("System", frameworks);
        switch (chosen)
        {
            case "json":
                logging.AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                    o.JsonWriterOptions = new JsonWriterOptions { Indented = false };
                });
                break;
            case "systemd":
                logging.AddSystemdConsole();
                break;
            default:
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
                });
                break;
        }
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    /// <summary><c>--log-level</c>: one of <see cref="LogLevels"/> (also info, warn).</summary>
    /// <exception cref="ArgumentException">An unknown level.</exception>
    public static LogLevel ParseLogLevel(string level) => level.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "information" or "info" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        "none" => LogLevel.None,
        _ => throw new ArgumentException($"the log level is one of {string.Join(", ", LogLevels)}, not \"{level}\"", nameof(level)),
    };

    /// <summary>
    /// The engine's loggers for a <c>sync</c> command (pass to <c>new SyncEngine(...)</c>). Dispose at exit: the
    /// console logger writes from a queue, and disposing flushes it.
    /// </summary>
    public static ILoggerFactory EngineLoggers(string format, LogLevel minimum) => LoggerFactory.Create(b => ConfigureLogging(b, format, minimum));

    /// <summary>
    /// Whether to export over OTLP, from the standard variables: an endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT, or
    /// the per-signal ..._TRACES_ENDPOINT / ..._METRICS_ENDPOINT) and OTEL_SDK_DISABLED is not "true". The rest
    /// (protocol, headers, timeouts, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) the OpenTelemetry SDK reads itself.
    /// </summary>
    public static bool OtlpFromEnvironment()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("OTEL_SDK_DISABLED"), "true", StringComparison.OrdinalIgnoreCase)) return false;
        return new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }
            .Any(name => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(name)));
    }

    /// <summary><c>serve</c>'s options with OTLP export as the environment asks (<see cref="OtlpFromEnvironment"/>).</summary>
    public static ScimServerOptions WithTelemetry(ScimServerOptions options) => options with { OtlpExport = OtlpFromEnvironment() };

    /// <summary>
    /// A <c>sync</c> command's traces and metrics over OTLP when there is no <see cref="EngineListener"/> (which
    /// hosts them otherwise); null when <paramref name="otlp"/> is false: nothing listens, nothing is recorded.
    /// </summary>
    public static IDisposable? StartEngineTelemetry(bool otlp)
    {
        if (!otlp) return null;
        var resource = ResourceBuilder.CreateDefault().AddService(EngineServiceName, serviceVersion: EngineVersion);
        var traces = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource)
            .AddSource(SyncTelemetry.Name).AddHttpClientInstrumentation().AddOtlpExporter().Build();
        var metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource)
            .AddMeter(SyncTelemetry.Name).AddMeter("System.Runtime").AddHttpClientInstrumentation().AddOtlpExporter().Build();
        return new Providers(traces, metrics);
    }

    private sealed class Providers(TracerProvider? traces, MeterProvider? metrics) : IDisposable
    {
        public void Dispose()
        {
            // Disposing flushes: the last spans and a final metrics export leave before the process does.
            traces?.Dispose();
            metrics?.Dispose();
        }
    }

    /// <summary>The engine's OpenTelemetry, shared by the listener and nothing else: resource, meters, sources, exporters.</summary>
    internal static void AddEngineTelemetry(IServiceCollection services, bool otlp)
    {
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(EngineServiceName, serviceVersion: EngineVersion))
            .WithMetrics(m =>
            {
                m.AddMeter(SyncTelemetry.Name).AddMeter("System.Runtime").AddHttpClientInstrumentation().AddPrometheusExporter();
                if (otlp) m.AddOtlpExporter();
            });
        if (otlp) otel.WithTracing(t => t.AddSource(SyncTelemetry.Name).AddHttpClientInstrumentation().AddOtlpExporter());
    }
}

/// <summary>
/// <c>sync watch --listen 127.0.0.1:PORT</c>: health and metrics of a watching engine over HTTP. <c>/healthz</c>
/// and <c>/healthz/live</c> answer 200 while the process runs; <c>/healthz/ready</c> is 503 while a target needs
/// attention (<see cref="TargetAttention"/>: not answering, or held by the guard, for longer than the
/// configuration's <c>health</c> allows, ...) or the source keeps failing, with the reasons as JSON;
/// <c>/metrics</c> is the Prometheus scrape of the engine's metrics. No authentication: bind loopback. With a
/// <c>console</c> section in the configuration, the operator console is served under <c>/console</c> (docs/console.md),
/// behind its own sign-in; then the address must be loopback.
/// </summary>
public sealed class EngineListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EngineListener(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where it listens (with the port chosen when 0 was asked for).</summary>
    public Uri Address { get; }

    /// <param name="listen"><c>HOST:PORT</c> (<c>127.0.0.1:9464</c>, <c>[::1]:9464</c>, <c>localhost:0</c>), or an http:// URL.</param>
    /// <param name="loggers">The engine's loggers (the listener logs its own failures there); null: none.</param>
    /// <param name="otlp">Also export the engine's metrics and traces over OTLP (<see cref="Observability.OtlpFromEnvironment"/>).</param>
    /// <exception cref="ArgumentException"><paramref name="listen"/> is not HOST:PORT.</exception>
    public static async Task<EngineListener> StartAsync(SyncEngine engine, string listen, ILoggerFactory? loggers, bool otlp, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var url = ListenUrl(listen);
        // The console's cookies travel over plain HTTP: it is served on loopback only (docs/console.md).
        if (engine.Config.Console is not null && !ConsoleHosting.IsLoopback(new Uri(url)))
            throw new ArgumentException($"the configuration has a console section, which is served on loopback only; --listen {listen} is not loopback (127.0.0.1, [::1] or localhost)", nameof(listen));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        builder.Logging.ClearProviders();
        if (loggers is not null) builder.Services.AddSingleton(loggers);
        Observability.AddEngineTelemetry(builder.Services, otlp);
        builder.Services.AddHealthChecks().AddCheck("engine", new ReadinessCheck(engine), tags: ["ready"]);
        if (engine.Config.Console is not null) builder.Services.AddOperatorConsole(engine);
        var app = builder.Build();
        if (engine.Config.Console is not null) app.MapOperatorConsole();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = ServerHealth.WriteAsync });
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = ServerHealth.WriteAsync });
        app.MapPrometheusScrapingEndpoint("/metrics");
        await app.StartAsync(ct).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? url;
        return new EngineListener(app, new Uri(bound));
    }

    internal static string ListenUrl(string listen)
    {
        var text = listen.Trim();
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) return text;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new ArgumentException($"--listen takes HOST:PORT, such as 127.0.0.1:9464, not \"{listen}\"", nameof(listen));
        return $"http://{text}";
    }

    private sealed class ReadinessCheck(SyncEngine engine) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            var readiness = engine.Readiness();
            return Task.FromResult(readiness.Ready
                ? HealthCheckResult.Healthy("every target answers and nothing waits too long")
                : HealthCheckResult.Unhealthy(string.Join("; ", readiness.Reasons)));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
