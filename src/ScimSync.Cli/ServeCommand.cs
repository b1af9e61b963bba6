using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Events;
using ScimSync.Relay.Nats;
using ScimSync.Secrets;
using ScimSync.Server.Security;
using ScimSync.Server;
using ScimSync.Server.Hosting;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync serve</c>. Everything that can refuse the start is checked before anything listens, and each
/// refusal is one line and exit 3: settings, addresses, the certificate, the data directory (private, and owned
/// by no other server: <see cref="InstanceLock"/>), the key file, the bind itself. "serving at" is printed only
/// once the addresses are bound. SIGTERM or Ctrl+C stops accepting connections, lets requests in flight
/// finish (their writes are committed before they are answered), stops the background services, closes the
/// store, and exits 0.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run the SCIM 2.0 service provider at /scim/v2 (and the event feed at /feeds/v1) on an embedded SQLite database, or on PostgreSQL shared by several instances (--store). "
            + "Settings come from flags, else SCIMSYNC_* environment variables, else --config-file, else defaults. SCIMSYNC_ADMIN_TOKEN, when set, is a bearer token with every scope. "
            + "GET /healthz answers 200 once requests are accepted.");
        var options = ServerSettings.AddOptions(command, ServerSettings.Serve);
        command.SetAction((parse, _) => RunAsync(ServerSettings.Resolve(parse, options, ServerSettings.Serve)));
        return command;
    }

    private static Setting S(string name) => ServerSettings.Serve.Single(s => s.Name == name);

    /// <summary>The server's options from the resolved settings; a value that cannot be used names where it came from.</summary>
    internal static ScimServerOptions Options(ServerSettings settings)
    {
        var urls = settings.GetList(ServerSettings.Urls);
        if (urls.Length == 0) urls = ["http://127.0.0.1:8080"];
        var listen = urls.Select(u =>
        {
            try
            {
                return ListenUrl.Parse(u);
            }
            catch (FormatException e)
            {
                throw settings.Invalid(ServerSettings.Urls, e.Message);
            }
        }).ToArray();
        var (cert, key) = (settings.Get(S("tls-cert")), settings.Get(S("tls-key")));
        if ((cert is null) != (key is null))
            throw settings.Invalid(S(cert is null ? "tls-key" : "tls-cert"), $"needs {(cert is null ? "--tls-cert" : "--tls-key")} too (a PEM certificate and its private key)");
        if (cert is null && listen.FirstOrDefault(l => l.Https) is { } https)
            throw CliException.Configuration($"{https.Url} needs a certificate: give --tls-cert FILE and --tls-key FILE (PEM), or listen on http:// behind a reverse proxy");
        var proxies = settings.GetList(S("trust-proxy"));
        foreach (var p in proxies)
        {
            try
            {
                TrustedProxy.Parse(p);
            }
            catch (FormatException e)
            {
                throw settings.Invalid(S("trust-proxy"), e.Message);
            }
        }
        var publicUrl = settings.Get(S("public-url"))?.TrimEnd('/');
        if (publicUrl is not null && !(Uri.TryCreate(publicUrl, UriKind.Absolute, out var pu) && pu.Scheme is "http" or "https"))
            throw settings.Invalid(S("public-url"), $"needs an absolute http:// or https:// URL, not \"{publicUrl}\"");
        var documentation = settings.Get(S("documentation-url"));
        if (documentation is not null && !(Uri.TryCreate(documentation, UriKind.Absolute, out var du) && du.Scheme is "http" or "https"))
            throw settings.Invalid(S("documentation-url"), $"needs an absolute http:// or https:// URL, not \"{documentation}\"");
        var disabled = Disabled(settings);
        var store = settings.StoreUrl;
        // PostgreSQL's durability is its own (synchronous_commit, set on the database): a SQLite setting given
        // with it would be silently ignored, so it is refused.
        if (store is not null && settings.Has(S("durability")))
            throw settings.Invalid(S("durability"), "is for SQLite; on PostgreSQL a write is acknowledged once the database has committed it (its synchronous_commit decides what that means)");
        var defaults = new ScimServerOptions { DataDirectory = "." };
        var hashIterations = settings.GetInt(S("password-hash-iterations"), defaults.PasswordHashIterations, PasswordHasher.MinIterations);
        if (hashIterations > PasswordHasher.MaxIterations)
            throw settings.Invalid(S("password-hash-iterations"), $"must be at most {PasswordHasher.MaxIterations}, not {hashIterations}");
        return defaults with
        {
            DataDirectory = settings.DataDirectory,
            KeyFile = settings.KeyFilePath,
            AdminToken = settings.Get(ServerSettings.AdminToken),
            Urls = listen.Select(l => l.Url).ToArray(),
            TlsCertificateFile = cert is null ? null : Path.GetFullPath(cert),
            TlsKeyFile = key is null ? null : Path.GetFullPath(key),
            TrustedProxies = proxies,
            PublicBaseUrl = publicUrl,
            DocumentationUrl = documentation,
            Store = store,
            InstanceName = settings.Get(S("instance")),
            MaxResults = settings.GetInt(S("max-results"), defaults.MaxResults),
            EventVisibilityTimeout = TimeSpan.FromSeconds(settings.GetInt(S("visibility-timeout"), (long)defaults.EventVisibilityTimeout.TotalSeconds)),
            PasswordLifetime = TimeSpan.FromSeconds(settings.GetInt(S("password-expiry"), (long)defaults.PasswordLifetime.TotalSeconds)),
            PasswordHashIterations = hashIterations,
            PushAllowList = settings.GetList(S("push-allow")),
            RateLimitPerSecond = settings.Has(S("rate-limit")) ? settings.GetInt(S("rate-limit"), 0) : null,
            DisablePatch = disabled.Contains("patch"),
            DisableBulk = disabled.Contains("bulk"),
            DisableCursor = disabled.Contains("cursor"),
            Durability = (settings.Get(S("durability")) ?? "full").ToUpperInvariant() switch
            {
                "FULL" => "FULL",
                "NORMAL" => "NORMAL",
                var d => throw settings.Invalid(S("durability"), $"must be full or normal, not \"{d.ToLowerInvariant()}\""),
            },
            MaxResourceBytes = settings.GetInt(S("max-resource-bytes"), defaults.MaxResourceBytes),
            MaxGroupRequestBytes = settings.GetInt(S("max-group-bytes"), defaults.MaxGroupRequestBytes),
            BulkMaxOperations = settings.GetInt(S("bulk-max-operations"), defaults.BulkMaxOperations),
            BulkMaxPayloadBytes = settings.GetInt(S("bulk-max-payload"), defaults.BulkMaxPayloadBytes),
            QueryTimeout = TimeSpan.FromSeconds(settings.GetInt(S("query-timeout"), (long)defaults.QueryTimeout.TotalSeconds)),
            MaxConcurrentScans = settings.GetInt(S("max-scans"), defaults.MaxConcurrentScans),
        };
    }

    /// <summary>The relay's settings, or null without --nats. NATS itself need not be up: the relay waits for it.</summary>
    internal static NatsRelayOptions? NatsOptions(ServerSettings settings)
    {
        if (settings.Get(S("nats")) is not { } url) return null;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("nats" or "tls" or "ws" or "wss") || u.Host.Length == 0)
            throw settings.Invalid(S("nats"), $"needs a NATS URL such as nats://127.0.0.1:4222, not \"{Redacted(url)}\"");
        var stream = settings.Get(S("nats-stream")) ?? EventStream.DefaultStream;
        // JetStream stream names: no white space, ".", "*", ">", path separators.
        if (stream.Length == 0 || stream.Any(c => char.IsWhiteSpace(c) || c is '.' or '*' or '>' or '/' or '\\'))
            throw settings.Invalid(S("nats-stream"), $"is a JetStream stream name (no spaces, '.', '*', '>', '/' or '\\'), not \"{stream}\"");
        return new NatsRelayOptions { Url = url, Stream = stream };
    }

    private static string Redacted(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) && u.UserInfo.Length > 0 ? url.Replace(u.UserInfo + "@", "***@", StringComparison.Ordinal) : url;

    private static SortedSet<string> Disabled(ServerSettings settings)
    {
        var features = new SortedSet<string>(StringComparer.Ordinal);
        if (settings.Has(S("disable")) && settings.GetList(S("disable")).Length == 0)
            throw settings.Invalid(S("disable"), "needs a list, e.g. patch,bulk");
        foreach (var f in settings.GetList(S("disable")))
            features.Add(f.ToLowerInvariant() is "patch" or "bulk" or "cursor" ? f.ToLowerInvariant()
                : throw settings.Invalid(S("disable"), $"takes patch, bulk and cursor (comma-separated), not \"{f}\""));
        return features;
    }

    private static async Task<int> RunAsync(ServerSettings settings)
    {
        var options = Observability.WithTelemetry(Options(settings));
        if (settings.StorePasswordOnCommandLine)
            Console.Error.WriteLine("scimsync: warning: the password in --store is visible to anyone who can list processes; give the URL in SCIMSYNC_STORE or the configuration file instead");
        var (format, level) = settings.Logging();
        PrivateFiles.EnsureDirectory(options.DataDirectory, "data directory");
        using var owner = InstanceLock.Take(options.DataDirectory, $"scimsync serve at {string.Join(" and ", options.Urls)}");
        var starting = true;
        var nats = NatsOptions(settings);
        var app = ScimServerHost.Build(options, [], builder =>
        {
            if (nats is not null) builder.Services.AddNatsRelay(nats);
            Observability.ConfigureLogging(builder.Logging, format, level);
            // A start that fails (address in use) is reported by this command as one line; the host would
            // also log it with its stack trace. After the start the host's errors are logged as usual.
            builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Warning && !Volatile.Read(ref starting));
        });
        // Disposing the application closes the store, after the hosted services have stopped.
        await using (app.ConfigureAwait(false))
        {
            await StartAsync(app, options, settings, () => Volatile.Write(ref starting, false)).ConfigureAwait(false);
            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }
        Console.Out.WriteLine("scimsync: stopped");
        return ExitCodes.Ok;
    }

    private static async Task StartAsync(WebApplication app, ScimServerOptions options, ServerSettings settings, Action started)
    {
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException e)
        {
            // Kestrel: "Failed to bind to address http://127.0.0.1:8080: address already in use." The host stays
            // quiet (the background services it cancels on the way out included): this line says it all.
            throw CliException.Configuration(e.Message.TrimEnd('.') + (e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.OrdinalIgnoreCase) ? $" ({inner.Message})" : ""));
        }
        started();
        ServiceNotify.Started(app.Lifetime);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];
        var at = string.Join(" and ", bound.Select(a => a.TrimEnd('/') + "/scim/v2"));
        // The store as StoreFactory describes it: a PostgreSQL URL without its password.
        Console.Out.WriteLine(options.Store is null
            ? $"scimsync: serving SCIM 2.0 at {at} (data: {options.DatabasePath}, keys: {options.KeyFilePath}, durability: {options.Durability.ToLowerInvariant()})"
            : $"scimsync: serving SCIM 2.0 at {at} (store: {StoreFactory.Describe(options)}, instance: {options.InstanceName ?? $"{Environment.MachineName}:{Environment.ProcessId}"}, data: {options.DataDirectory}, keys: {options.KeyFilePath})");
        if (options.AdminToken is null)
            Console.Out.WriteLine("scimsync: SCIMSYNC_ADMIN_TOKEN is not set; create a token with `scimsync token create`");
        if (options.RateLimitPerSecond is { } rate) Console.Out.WriteLine($"scimsync: at most {rate} requests per second (429 beyond)");
        var disabled = Disabled(settings);
        if (disabled.Count > 0) Console.Out.WriteLine($"scimsync: disabled: {string.Join(", ", disabled)}");
        if (NatsOptions(settings) is { } nats)
            Console.Out.WriteLine($"scimsync: relaying the journal to NATS stream {nats.Stream} at {Redacted(nats.Url)} (subjects {EventStream.All(nats.SubjectPrefix)})");
        if (options.TrustedProxies.Count > 0) Console.Out.WriteLine($"scimsync: X-Forwarded-For and X-Forwarded-Proto believed from {string.Join(", ", options.TrustedProxies)}");
    }
}
