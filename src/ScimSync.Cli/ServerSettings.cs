using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ScimSync.Cli;

/// <summary>A server setting: its flag (<c>--max-results</c>), environment variable (<c>SCIMSYNC_MAX_RESULTS</c>) and configuration-file key (<c>max-results</c>).</summary>
/// <param name="HasFlag">False for a secret (the admin token), which a flag would show to everyone who can list processes.</param>
internal sealed record Setting(string Name, string Description, string Placeholder, bool HasFlag = true, string[]? Completions = null)
{
    public string Flag => "--" + Name;

    public string Environment => "SCIMSYNC_" + Name.ToUpperInvariant().Replace('-', '_');
}

/// <summary>
/// The settings of the server-side commands (<c>serve</c>, and the data directory and key file of <c>token</c>,
/// <c>status</c> and <c>keys rotate</c>), resolved from, highest first: the flag, the environment variable, the
/// configuration file (<c>--config-file</c>, JSON), the default. JSON because the .NET configuration reader
/// for it ships with the framework, names the line of a syntax error, and is what appsettings.json operators
/// already write; the engine's YAML is a different document with its own schema. Relative paths in the file
/// are taken from the file's directory, elsewhere from the working directory.
/// </summary>
internal sealed class ServerSettings
{
    public static readonly Setting ConfigFile = new("config-file", "JSON file of server settings (keys are these options' names: {\"urls\": ..., \"max-results\": 500}); flags and SCIMSYNC_* variables override it", "FILE");
    public static readonly Setting Data = new("data", "Data directory (created 0700; default ./scimsync-data)", "DIR");
    public static readonly Setting KeyFile = new("key-file", "Key file sealing the data directory's secrets (default DIR.key beside it; never inside it)", "FILE");
    public static readonly Setting Urls = new("urls", "Addresses to listen on, separated by ';' (default http://127.0.0.1:8080); https:// needs --tls-cert and --tls-key", "URL[;URL...]");
    public static readonly Setting LogFormat = new("log-format", "How log entries are written to standard error: simple (default), json (one object per line) or systemd (journald priorities)", "simple|json|systemd", Completions: [.. Observability.LogFormats]);
    public static readonly Setting LogLevel = new("log-level", "Least level logged: trace, debug, information (default), warning, error, critical or none", "LEVEL", Completions: [.. Observability.LogLevels]);
    public static readonly Setting Store = new("store", "Where resources, journal and event feed live: sqlite (default: scimsync.db in the data directory) or postgres://USER@HOST:PORT/DATABASE[?schema=NAME], one database several instances share (docs/postgres.md). A password belongs in SCIMSYNC_STORE or the file, not on the command line", "sqlite|URL");
    public static readonly Setting AdminToken = new("admin-token", "A bearer token accepted with every scope (environment or file only)", "TOKEN", HasFlag: false);

    /// <summary>Every setting of <c>scimsync serve</c>, in the order --help lists them.</summary>
    public static readonly IReadOnlyList<Setting> Serve =
    [
        Urls,
        Data,
        KeyFile,
        ConfigFile,
        Store,
        new("instance", "This instance's name where other instances and PostgreSQL show it (pg_stat_activity, lease holders; default HOST:PID)", "NAME"),
        new("durability", "SQLite only. full (default): a write is acknowledged once on disk; normal: once SQLite has it (survives a killed process, not a power loss)", "full|normal", Completions: ["full", "normal"]),
        new("tls-cert", "PEM certificate (chain) for https:// addresses; reloaded when the file changes", "FILE"),
        new("tls-key", "PEM private key of --tls-cert; reloaded when the file changes", "FILE"),
        new("public-url", "Base URL clients use (behind a reverse proxy): meta.location, $ref and the event issuer", "URL"),
        new("documentation-url", "documentationUri in /ServiceProviderConfig: where integrators read about this server (omitted when unset)", "URL"),
        new("trust-proxy", "Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed", "ADDRESS[,ADDRESS...]"),
        new("max-results", "Largest page a list returns; larger counts are clamped (default 1000)", "N"),
        new("password-expiry", "Seconds a password set at the source waits, sealed, for the subscriptions with the right to passwords before it expires undelivered (default 300; docs/passwords.md)", "SECONDS"),
        new("password-hash-iterations", "PBKDF2-SHA256 iterations of the hash passwords are kept as (default 100000, at least 1000): about 34 ms of one core per password at the default (docs/passwords.md)", "N"),
        new("visibility-timeout", "Seconds a polled event waits for its acknowledgement before it is delivered again, with the same jti (default 30)", "SECONDS"),
        new("push-allow", "Destinations event push may reach (https://hooks.example.com, http://127.0.0.1:*); without it push subscriptions are refused", "URL[,URL...]"),
        new("nats", "Publish every journaled change as its SET to a NATS JetStream stream (docs/nats.md), e.g. nats://127.0.0.1:4222; credentials belong in SCIMSYNC_NATS or the file", "URL"),
        new("nats-stream", "The JetStream stream --nats publishes to (default SCIMSYNC; subjects scimsync.events.<ResourceType>.<urgent|routine>)", "NAME"),
        new("rate-limit", "Answer 429 with Retry-After beyond N requests per second", "N"),
        new("disable", "Turn features off and say so in /ServiceProviderConfig (a constrained target for tests)", "patch,bulk,cursor", Completions: ["patch", "bulk", "cursor"]),
        new("max-resource-bytes", "Largest User request body and stored resource (default 1048576)", "N"),
        new("max-group-bytes", "Largest Group request body (default 16777216)", "N"),
        new("bulk-max-operations", "Operations one /Bulk request may carry, advertised as bulk.maxOperations (default 1000)", "N"),
        new("bulk-max-payload", "Largest /Bulk request body in bytes, advertised as bulk.maxPayloadSize (default 4194304)", "N"),
        new("query-timeout", "Each query's time budget in seconds (default 10)", "SECONDS"),
        new("max-scans", "Queries that no index narrows running at once (default half the cores, at least 1)", "N"),
        LogFormat,
        LogLevel,
        AdminToken,
    ];

    private readonly Dictionary<string, (string Value, string Source, bool FromFlag)> _values = new(StringComparer.OrdinalIgnoreCase);

    public string? ConfigFilePath { get; private init; }

    /// <summary>Adds an option per setting that has a flag; <see cref="Resolve"/> reads them back.</summary>
    public static Dictionary<Setting, Option<string?>> AddOptions(Command command, IEnumerable<Setting> settings)
    {
        var options = new Dictionary<Setting, Option<string?>>();
        foreach (var s in settings.Where(s => s.HasFlag))
        {
            var option = new Option<string?>(s.Flag) { Description = $"{s.Description} [env: {s.Environment}]", HelpName = s.Placeholder };
            if (s.Completions is { } values) option.CompletionSources.Add(values);
            command.Options.Add(option);
            options[s] = option;
        }
        return options;
    }

    public static ServerSettings Resolve(ParseResult parse, IReadOnlyDictionary<Setting, Option<string?>> options, IReadOnlyCollection<Setting> known)
    {
        var configFile = options.TryGetValue(ConfigFile, out var cf) ? parse.GetValue(cf) ?? Env(ConfigFile) : null;
        var settings = new ServerSettings { ConfigFilePath = configFile is null ? null : Path.GetFullPath(configFile) };
        if (settings.ConfigFilePath is { } file)
            foreach (var (key, value) in ReadFile(file, known))
                settings._values[key] = (value, $"\"{key}\" in {file}", false);
        foreach (var s in known)
        {
            if (Env(s) is { } env) settings._values[s.Name] = (env, s.Environment, false);
            if (options.TryGetValue(s, out var option) && parse.GetValue(option) is { } flag) settings._values[s.Name] = (flag, s.Flag, true);
        }
        return settings;
    }

    private static string? Env(Setting s) => System.Environment.GetEnvironmentVariable(s.Environment) is { Length: > 0 } v ? v : null;

    /// <summary>The file's settings; an unknown key is refused (with the nearest known one), as an unknown flag is.</summary>
    private static Dictionary<string, string> ReadFile(string path, IReadOnlyCollection<Setting> known)
    {
        IConfigurationRoot config;
        try
        {
            config = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception e) when (e is FileNotFoundException or IOException or FormatException or InvalidDataException or UnauthorizedAccessException)
        {
            throw CliException.Configuration($"cannot read the configuration file {path}: {Flatten(e)}");
        }
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in config.GetChildren())
        {
            var setting = known.FirstOrDefault(s => s.Name.Equals(section.Key, StringComparison.OrdinalIgnoreCase) && s != ConfigFile)
                ?? throw CliException.Configuration($"{path}: unknown setting \"{section.Key}\"{Suggest.Nearest(section.Key, known.Where(s => s != ConfigFile).Select(s => s.Name))}");
            // An array ("push-allow": ["a", "b"]) is the same list as "a,b".
            var value = section.Value ?? string.Join(',', section.GetChildren().Select(c => c.Value).OfType<string>());
            values[setting.Name] = setting.Name is "data" or "key-file" or "tls-cert" or "tls-key"
                ? Path.GetFullPath(value, Path.GetDirectoryName(path)!)
                : value;
        }
        return values;
    }

    private static string Flatten(Exception e) => e.InnerException is { } inner ? $"{e.Message} {inner.Message}" : e.Message;

    public string? Get(Setting s) => _values.TryGetValue(s.Name, out var v) ? v.Value : null;

    public bool Has(Setting s) => _values.ContainsKey(s.Name);

    /// <summary>Where a value came from, for messages: "--max-results", "SCIMSYNC_MAX_RESULTS", "\"max-results\" in FILE".</summary>
    public string SourceOf(Setting s) => _values.TryGetValue(s.Name, out var v) ? v.Source : s.Flag;

    /// <summary>A value that cannot be used: a usage error when typed as a flag, a configuration error otherwise.</summary>
    public CliException Invalid(Setting s, string problem) =>
        _values.TryGetValue(s.Name, out var v) && !v.FromFlag
            ? CliException.Configuration($"{v.Source} {problem}")
            : CliException.Usage($"{s.Flag} {problem}");

    public int GetInt(Setting s, long fallback, int min = 1)
    {
        if (Get(s) is not { } text) return (int)fallback;
        if (!int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value))
            throw Invalid(s, $"needs a whole number, not \"{text}\"");
        return value >= min ? value : throw Invalid(s, $"must be at least {min}, not {value}");
    }

    public string[] GetList(Setting s) =>
        (Get(s) ?? "").Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The data directory: --data, SCIMSYNC_DATA, "data" in the file, ./scimsync-data.</summary>
    public string DataDirectory => Path.GetFullPath(Get(Data) ?? "scimsync-data");

    /// <summary>--log-format and --log-level (docs/logging.md), checked: a wrong value names where it came from.</summary>
    public (string Format, LogLevel Level) Logging()
    {
        var format = (Get(LogFormat) ?? "simple").ToLowerInvariant();
        if (!Observability.LogFormats.Contains(format)) throw Invalid(LogFormat, $"is one of {string.Join(", ", Observability.LogFormats)}, not \"{format}\"");
        try
        {
            return (format, Observability.ParseLogLevel(Get(LogLevel) ?? "information"));
        }
        catch (ArgumentException)
        {
            throw Invalid(LogLevel, $"is one of {string.Join(", ", Observability.LogLevels)}, not \"{Get(LogLevel)}\"");
        }
    }

    /// <summary>
    /// The store URL, or null for SQLite in the data directory: --store, SCIMSYNC_STORE, "store" in the file.
    /// A postgres:// URL is checked here, so that a wrong one stops the start naming where it came from; the
    /// messages never repeat the URL, which may hold a password.
    /// </summary>
    public string? StoreUrl
    {
        get
        {
            if (Get(Store) is not { } store || store.Equals("sqlite", StringComparison.OrdinalIgnoreCase)) return null;
            try
            {
                Server.Hosting.StoreFactory.Check(store);
            }
            catch (FormatException e)
            {
                throw Invalid(Store, e.Message);
            }
            return store;
        }
    }

    /// <summary>Whether the store setting came from a flag and holds a password (visible to anyone who lists processes).</summary>
    public bool StorePasswordOnCommandLine =>
        _values.TryGetValue(Store.Name, out var v) && v.FromFlag && Uri.TryCreate(v.Value, UriKind.Absolute, out var u) && u.UserInfo.Contains(':', StringComparison.Ordinal);

    /// <summary>The key file, or null for the default beside the data directory.</summary>
    public string? KeyFilePath => Get(KeyFile) is { } k ? Path.GetFullPath(k) : null;
}

/// <summary>"did you mean" for names a person typed.</summary>
internal static class Suggest
{
    public static string Nearest(string typed, IEnumerable<string> candidates)
    {
        var best = candidates.Select(c => (c, d: Distance(typed.ToLowerInvariant(), c.ToLowerInvariant()))).Where(x => x.d <= Math.Max(2, typed.Length / 3)).OrderBy(x => x.d).FirstOrDefault();
        return best.c is null ? "" : $" (did you mean \"{best.c}\"?)";
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
