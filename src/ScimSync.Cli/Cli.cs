using Microsoft.AspNetCore.Builder;
using Spectre.Console;
using ScimSync.Secrets;
using ScimSync.Server;
using ScimSync.Server.Hosting;
using ScimSync.Server.Security;
using ScimSync.Store.Sqlite;

namespace ScimSync.Cli;

internal static class Cli
{
    private const string Usage = """
        scimsync: SCIM 2.0 server and synchronisation engine

        scimsync serve [--urls http://127.0.0.1:8080] [--data DIR] [--key-file FILE] [--durability full|normal]
                       [--max-results 1000] [--public-url URL] [--push-allow URL[,URL...]]
                       [--rate-limit N] [--disable patch,bulk,cursor]
                       [--max-resource-bytes N] [--max-group-bytes N] [--query-timeout SECONDS]
                       [--max-scans N]
            Runs the SCIM service provider at /scim/v2 on an embedded SQLite database in DIR
            (default ./scimsync-data, created 0700 if missing; refused if group or others can read or
            write it or its files). SCIMSYNC_ADMIN_TOKEN, when set, is accepted as a bearer token with
            every scope. GET /healthz answers 200 once requests are accepted.
            --key-file (or SCIMSYNC_KEY_FILE) names the key file sealing the secrets kept in DIR (event
            signing keys, the cursor key); default DIR.key beside DIR, created 0600; never inside DIR.
            --durability full (default) acknowledges a write once it is on disk (survives power loss);
            normal acknowledges it once SQLite has it (survives a killed process, not a power loss).
            --push-allow names the destinations event push may reach (e.g. https://hooks.example.com,
            http://127.0.0.1:* for any port); without it push subscriptions are refused. A name that
            resolves to a loopback, private or link-local address also needs that address listed.
            --max-results caps every page (a larger count is clamped). --rate-limit answers 429 with
            Retry-After beyond N requests per second. --disable turns features off (501 for PATCH and
            Bulk, cursor ignored) and says so in /ServiceProviderConfig: a constrained target for tests.
            Limits (docs/compliance.md, "Limits"): --max-resource-bytes caps a User's request body and
            any stored resource (default 1048576); --max-group-bytes caps a Group request body (default
            16777216); --query-timeout is each query's budget (default 10); --max-scans is how many
            queries that no index narrows run at once (default half the cores, at least 1).

        scimsync token create --name NAME [--scopes scim:read,scim:write] [--user USER_ID]
                              [--expires-days N] [--data DIR]
        scimsync token list [--data DIR]
        scimsync token revoke ID_OR_NAME [--data DIR]
            Manage bearer tokens. Only a hash is stored; the secret is printed once, at creation.
            Scopes: scim:read, scim:write, admin.

        scimsync status [--data DIR]
            Counts and file sizes of the store.

        scimsync keys rotate --data DIR [--key-file FILE]
        scimsync keys rotate --config FILE
            Seals every secret of a server's data directory (or of the sync engine's state, from its
            configuration) with a new key and drops the old one from the key file. Stop the server or
            engine first: the command refuses while one has the directory open.

        scimsync events list|show ID|pause ID|resume ID|disable ID|delete ID [--url URL] [--token T]
        scimsync events create --name N --audience A [--delivery poll|push] [--push-url U] [--push-batch N]
                               [--payload full|notice [--coalesce]] [--types User,Group] [--filter F]
                               [--ignore lastLogin,...] [--signing HS256|RS256|ES256|none] [--start-after POS]
        scimsync events rewind ID --position POS | dead-letters ID | replay ID | discard ID
            Manage event subscriptions of a running server (admin token; default URL
            http://127.0.0.1:8080, token from --token, SCIMSYNC_TOKEN or SCIMSYNC_ADMIN_TOKEN).
            A subscription whose dead-letter list is full is suspended: replay or discard its dead
            letters, then resume it.

        scimsync sync plan --config FILE [--json] [--all]
        scimsync sync run --config FILE [--confirm] [--watch] [--json]
        scimsync sync reconcile --config FILE [--report-only] [--confirm] [--json]
        scimsync sync status --config FILE [--audit N] [--json]
        scimsync sync watch --config FILE [--confirm] [--json]
            The sync engine (docs/sync.md): provisions a source (SCIM server or HR export) into SCIM
            targets. plan is a dry run that prints every operation; run applies them (--watch then
            follows the source's changes until stopped; watch resumes following them after a
            restart without a full run first); reconcile reports out-of-band changes and
            repairs them per policy; status shows each target's shadow, queue and recent audit.
            A run that trips a mass-change guard exits 4 and waits for --confirm.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var cmd = new CommandLine(args.Skip(1));
        try
        {
            return args[0] switch
            {
                "serve" => await ServeAsync(cmd).ConfigureAwait(false),
                "token" => await TokenAsync(cmd).ConfigureAwait(false),
                "status" => await StatusAsync(cmd).ConfigureAwait(false),
                "events" => await EventsCommand.RunAsync(cmd).ConfigureAwait(false),
                "sync" => await SyncCommand.RunAsync(cmd).ConfigureAwait(false),
                "keys" => await KeysCommand.RunAsync(cmd).ConfigureAwait(false),
                _ => throw new UsageException($"Unknown command \"{args[0]}\". Run scimsync --help."),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 2;
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine("scimsync: configuration error: " + e.Message);
            return 3;
        }
        catch (PrivateDataException e)
        {
            // Data or keys open to others, or keys that do not open the data: nothing was served.
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 3;
        }
    }

    internal static string DataDir(CommandLine cmd) => Path.GetFullPath(cmd.Get("data") ?? "scimsync-data");

    /// <summary>--key-file, else SCIMSYNC_KEY_FILE, else null (the default beside the data directory).</summary>
    internal static string? KeyFile(CommandLine cmd) =>
        cmd.Get("key-file") ?? (Environment.GetEnvironmentVariable("SCIMSYNC_KEY_FILE") is { Length: > 0 } env ? env : null);

    private static ScimServerOptions Options(CommandLine cmd) => WithLimits(cmd, new()
    {
        DataDirectory = DataDir(cmd),
        KeyFile = KeyFile(cmd),
        AdminToken = Environment.GetEnvironmentVariable("SCIMSYNC_ADMIN_TOKEN"),
        PublicBaseUrl = cmd.Get("public-url")?.TrimEnd('/'),
        MaxResults = cmd.GetInt("max-results", 1000),
        PushAllowList = (cmd.Get("push-allow") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        RateLimitPerSecond = cmd.Has("rate-limit") ? Positive(cmd.GetInt("rate-limit", 0), "rate-limit") : null,
        DisablePatch = Disabled(cmd).Contains("patch"),
        DisableBulk = Disabled(cmd).Contains("bulk"),
        DisableCursor = Disabled(cmd).Contains("cursor"),
        Durability = (cmd.Get("durability") ?? "full").ToUpperInvariant() switch
        {
            "FULL" => "FULL",
            "NORMAL" => "NORMAL",
            var d => throw new UsageException($"--durability must be full or normal, not \"{d}\""),
        },
    });

    /// <summary>The limits an operator may change; their defaults live in <see cref="ScimServerOptions"/>.</summary>
    private static ScimServerOptions WithLimits(CommandLine cmd, ScimServerOptions o)
    {
        int Get(string name, long fallback) => cmd.Has(name) ? Positive(cmd.GetInt(name, 0), name) : (int)fallback;
        return o with
        {
            MaxResourceBytes = Get("max-resource-bytes", o.MaxResourceBytes),
            MaxGroupRequestBytes = Get("max-group-bytes", o.MaxGroupRequestBytes),
            QueryTimeout = TimeSpan.FromSeconds(Get("query-timeout", (long)o.QueryTimeout.TotalSeconds)),
            MaxConcurrentScans = Get("max-scans", o.MaxConcurrentScans),
        };
    }

    private static int Positive(int value, string name) =>
        value >= 1 ? value : throw new UsageException($"--{name} must be at least 1, not {value}");

    private static HashSet<string> Disabled(CommandLine cmd)
    {
        var features = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (cmd.Has("disable") && cmd.Get("disable") is null) throw new UsageException("--disable needs a list, e.g. --disable patch,bulk");
        foreach (var f in (cmd.Get("disable") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (f.ToLowerInvariant() is not ("patch" or "bulk" or "cursor"))
                throw new UsageException($"--disable takes patch, bulk and cursor (comma-separated), not \"{f}\"");
            features.Add(f);
        }
        return features;
    }

    private static async Task<int> ServeAsync(CommandLine cmd)
    {
        var options = Options(cmd);
        var urls = cmd.Get("urls") ?? "http://127.0.0.1:8080";
        var app = ScimServerHost.Build(options, ["--urls", urls]);
        Console.WriteLine($"scimsync: serving SCIM 2.0 at {urls.Split(';')[0].TrimEnd('/')}/scim/v2 (data: {options.DatabasePath}, keys: {options.KeyFilePath}, durability: {options.Durability.ToLowerInvariant()})");
        if (options.AdminToken is null)
            Console.WriteLine("scimsync: SCIMSYNC_ADMIN_TOKEN is not set; create a token with `scimsync token create`");
        if (options.RateLimitPerSecond is { } rate) Console.WriteLine($"scimsync: at most {rate} requests per second (429 beyond)");
        var disabled = Disabled(cmd);
        if (disabled.Count > 0) Console.WriteLine($"scimsync: disabled: {string.Join(", ", disabled.Order(StringComparer.Ordinal))}");
        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> TokenAsync(CommandLine cmd)
    {
        var verb = cmd.Positional.FirstOrDefault() ?? throw new UsageException("token needs create, list or revoke");
        var dir = DataDir(cmd);
        await using var store = new SqliteResourceStore(Path.Combine(dir, "scimsync.db"));
        await store.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
        var service = new TokenService(store.Tokens, TimeProvider.System, null);
        switch (verb)
        {
            case "create":
                var name = cmd.Get("name") ?? throw new UsageException("token create needs --name");
                var scopes = (cmd.Get("scopes") ?? "scim:read,scim:write").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                DateTimeOffset? expires = cmd.Has("expires-days") ? DateTimeOffset.UtcNow.AddDays(cmd.GetInt("expires-days", 0)) : null;
                try
                {
                    var (secret, token) = await service.CreateAsync(name, scopes, cmd.Get("user"), expires, CancellationToken.None).ConfigureAwait(false);
                    Console.Error.WriteLine($"created token {token.Id} \"{token.Name}\" with scopes {string.Join(' ', token.Scopes)}; the secret is shown once:");
                    Console.WriteLine(secret);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    throw new UsageException(e.Message);
                }
                return 0;
            case "list":
                var table = new Table().AddColumns("id", "name", "scopes", "user", "created", "expires", "state");
                foreach (var t in await store.Tokens.ListAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    var state = t.Revoked is not null ? "revoked" : t.Expires is { } e && e <= DateTimeOffset.UtcNow ? "expired" : "active";
                    table.AddRow(Markup.Escape(t.Id), Markup.Escape(t.Name), Markup.Escape(string.Join(' ', t.Scopes)), Markup.Escape(t.UserId ?? ""),
                        t.Created.ToString("u"), t.Expires?.ToString("u") ?? "", state);
                }
                AnsiConsole.Write(table);
                return 0;
            case "revoke":
                var key = cmd.Positional.ElementAtOrDefault(1) ?? cmd.Get("id") ?? cmd.Get("name") ?? throw new UsageException("token revoke needs a token id or name");
                if (!await service.RevokeAsync(key, CancellationToken.None).ConfigureAwait(false))
                {
                    Console.Error.WriteLine($"scimsync: no active token \"{key}\"");
                    return 1;
                }
                Console.WriteLine($"revoked {key}; servers refuse it from their next request");
                return 0;
            default:
                throw new UsageException($"Unknown token command \"{verb}\"");
        }
    }

    private static async Task<int> StatusAsync(CommandLine cmd)
    {
        var dir = DataDir(cmd);
        var path = Path.Combine(dir, "scimsync.db");
        if (!File.Exists(path)) throw new UsageException($"No database at {path}");
        await using var store = new SqliteResourceStore(path);
        await store.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
        var facts = await store.DescribeAsync(CancellationToken.None).ConfigureAwait(false);
        var table = new Table().AddColumns("fact", "value");
        foreach (var (k, v) in facts) table.AddRow(Markup.Escape(k), Markup.Escape(Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
        AnsiConsole.Write(table);
        return 0;
    }
}
