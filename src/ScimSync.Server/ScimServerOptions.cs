using ScimSync.Server.Security;

namespace ScimSync.Server;

/// <summary>
/// Server limits and settings. Limits that RFC 7643 §5 has a field for are advertised in
/// ServiceProviderConfig; docs/compliance.md ("Limits") lists them all with their defaults.
/// </summary>
public sealed record ScimServerOptions
{
    /// <summary>Directory holding scimsync.db (created if missing).</summary>
    public required string DataDirectory { get; init; }

    /// <summary>A bearer token accepted with every scope (from SCIMSYNC_ADMIN_TOKEN).</summary>
    public string? AdminToken { get; init; }

    /// <summary>When set, used for meta.location and $ref instead of the request's scheme and host.</summary>
    public string? PublicBaseUrl { get; init; }

    /// <summary>
    /// /ServiceProviderConfig's <c>documentationUri</c> (RFC 7643 §5, optional): where the people who integrate with
    /// this server read about it, such as the operators' own runbook. Omitted when unset: a link to a page that may
    /// not exist, or not be reachable from where the client runs, is worse than none.
    /// </summary>
    public string? DocumentationUrl { get; init; }

    /// <summary>
    /// Addresses the server binds itself (http:// or https://, see <see cref="Hosting.ListenUrl"/>). Empty: ASP.NET's
    /// own (the <c>--urls</c> argument given to <see cref="Hosting.ScimServerHost.Build"/>), as in-process tests use.
    /// </summary>
    public IReadOnlyList<string> Urls { get; init; } = [];

    /// <summary>PEM certificate (with its chain) served on https:// addresses; watched, and reloaded when it changes.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertificateFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>
    /// Reverse proxies (addresses, or networks as 10.0.0.0/8) whose X-Forwarded-For and X-Forwarded-Proto
    /// headers are believed. Empty (the default): the headers are ignored, since anyone could send them.
    /// </summary>
    public IReadOnlyList<string> TrustedProxies { get; init; } = [];

    /// <summary>Largest page a list or search returns (filter.maxResults, pagination.maxPageSize).</summary>
    public int MaxResults { get; init; } = 1000;

    /// <summary>Page size when the client gives no count.</summary>
    public int DefaultPageSize { get; init; } = 100;

    public int BulkMaxOperations { get; init; } = 1000;

    public int BulkMaxPayloadBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Largest resource: the body of a POST, PUT or PATCH of a User (or any type but Group), and the stored
    /// document of any resource after the write (group members, kept as rows, not counted). 1 MiB holds a
    /// user with hundreds of values; a 12 MB user is refused with 413.
    /// </summary>
    public long MaxResourceBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest body of a POST, PUT or PATCH on /Groups, which may carry the member list (a PUT of 100,000 members is about 7 MB).</summary>
    public long MaxGroupRequestBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Largest POST .search body (the filter itself is at most 8,192 characters).</summary>
    public long MaxSearchRequestBytes { get; init; } = 64 * 1024;

    /// <summary>Largest RFC 8936 poll body: up to 1,000 acknowledgements and error reports fit in about 100 KB.</summary>
    public long MaxPollRequestBytes { get; init; } = 256 * 1024;

    /// <summary>Largest body of subscription administration under /feeds/v1.</summary>
    public long MaxFeedRequestBytes { get; init; } = 64 * 1024;

    /// <summary>Most comparisons and presence tests in one filter (the filter text is also at most 8,192 characters).</summary>
    public int MaxFilterTerms { get; init; } = 500;

    /// <summary>
    /// Most filter terms that no index answers in one query (<c>title co "x"</c>, <c>emails[type eq "work"]</c>):
    /// each is evaluated against every candidate resource, so they multiply the cost of a scan.
    /// </summary>
    public int MaxUnindexedFilterTerms { get; init; } = 10;

    /// <summary>
    /// Time budget of one list or search: the store's statement is interrupted past it (400 tooMany). A
    /// query that scans also waits at most this long for a scan slot (503 with Retry-After).
    /// </summary>
    public TimeSpan QueryTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Queries that visit every resource of a type (no index narrows them) running at once; the others
    /// queue. Half the cores, at least one: cheap reads (GET by id, indexed filters) keep the rest of the
    /// machine and of the store's reader connections.
    /// </summary>
    public int MaxConcurrentScans { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>How long a cursor stays valid, at least (RFC 9865 cursorTimeout).</summary>
    public TimeSpan CursorTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// SQLite synchronous pragma: FULL (default: an acknowledged write survives power loss) or NORMAL (opt-in:
    /// survives a killed process only). See SqliteResourceStore.
    /// </summary>
    public string Durability { get; init; } = "FULL";

    /// <summary>
    /// The key file sealing the secrets kept in <see cref="DataDirectory"/> (subscription signing keys, the
    /// cursor key). Null: <c>DATA_DIR.key</c> beside the directory. Never inside it.
    /// </summary>
    public string? KeyFile { get; init; }

    public string KeyFilePath => Path.GetFullPath(KeyFile ?? Secrets.KeyRing.DefaultPathFor(DataDirectory));

    /// <summary>Directory of operator schema extension files (default: DataDirectory/schemas).</summary>
    public string? SchemaDirectory { get; init; }

    public string DatabasePath => Path.Combine(DataDirectory, "scimsync.db");

    /// <summary>How long a polled, unacknowledged SET stays invisible before redelivery.</summary>
    public TimeSpan EventVisibilityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a password set here waits, sealed, for the subscriptions with the right to passwords; past it, it is
    /// never delivered and they are told it expired (docs/passwords.md).
    /// </summary>
    public TimeSpan PasswordLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// PBKDF2-SHA256 iterations of the hash a password is kept as (PasswordHasher): the cost of each password write
    /// in CPU, against the cost of guessing from a stolen database.
    /// </summary>
    public int PasswordHashIterations { get; init; } = PasswordHasher.DefaultIterations;

    /// <summary>Permitted push destinations (see PushDestination); empty refuses push delivery.</summary>
    public IReadOnlyList<string> PushAllowList { get; init; } = [];

    /// <summary>First push retry delay (doubles per attempt, with jitter).</summary>
    public TimeSpan PushBaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>After this long without a successful push, an event is dead-lettered.</summary>
    public TimeSpan PushTimeBudget { get; init; } = TimeSpan.FromHours(24);

    /// <summary>One push request, connect to the end of the answer (FeedOptions.PushTimeout).</summary>
    public TimeSpan PushTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A subscription's dead-letter list, at most; past it the subscription is suspended (docs/journal.md).</summary>
    public int DeadLetterMaxCount { get; init; } = 10_000;

    public long DeadLetterMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long journal entries every subscription has received are kept (default 7 days).</summary>
    public TimeSpan JournalRetention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Optional hard limit on journal age; subscriptions that fall behind it must resnapshot.</summary>
    public TimeSpan? JournalMaxAge { get; init; }

    /// <summary>Longest wait of a long poll.</summary>
    public TimeSpan MaxPollWait { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The <c>iss</c> of every SET (default: <see cref="PublicBaseUrl"/>, else "scimsync").</summary>
    public string? EventIssuer { get; init; }

    /// <summary>
    /// Most SCIM and feed requests per second, for all callers together (a token bucket holding one
    /// second's worth); excess requests get 429 with Retry-After. Null: no limit. Lets the server play a
    /// rate-limited third-party target in tests of clients and the sync engine.
    /// </summary>
    public int? RateLimitPerSecond { get; init; }

    /// <summary>Answer PATCH with 501 and advertise patch.supported=false, like providers without PATCH.</summary>
    public bool DisablePatch { get; init; }

    /// <summary>Answer /Bulk with 501 and advertise bulk.supported=false.</summary>
    public bool DisableBulk { get; init; }

    /// <summary>
    /// Advertise pagination.cursor=false and ignore the <c>cursor</c> parameter (index paging answers),
    /// as a provider predating RFC 9865 does.
    /// </summary>
    public bool DisableCursor { get; init; }

    /// <summary>Readiness (<c>/healthz/ready</c>) fails when the data directory's file system has less free space than this.</summary>
    public long ReadyMinFreeBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// Readiness fails when the oldest journal entry not yet fanned out to an active or paused subscription is
    /// older than this (fan-out is stuck or far behind; suspended and disabled subscriptions wait by design).
    /// </summary>
    public TimeSpan ReadyMaxFanoutLag { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Export traces and metrics over OTLP as the standard OTEL_EXPORTER_OTLP_* settings say (the OpenTelemetry
    /// SDK reads them from the host's configuration). The composition root decides, from the environment
    /// (Observability.OtlpFromEnvironment in the command line); without it no tracer is set up at all.
    /// </summary>
    public bool OtlpExport { get; init; }

    /// <summary>
    /// Where resources, journal and feed live: null for the embedded SQLite file in <see cref="DataDirectory"/>, or
    /// a PostgreSQL URL (<c>postgres://user:password@host:port/database?schema=NAME</c>) that several instances share
    /// (docs/postgres.md). Chosen by <see cref="Hosting.StoreFactory"/>.
    /// </summary>
    public string? Store { get; init; }

    /// <summary>This instance's name where others can see it (PostgreSQL's application_name); default host:pid.</summary>
    public string? InstanceName { get; init; }

    /// <summary>
    /// Builds the store. Null means the embedded SQLite store in <see cref="DataDirectory"/>; another
    /// implementation of the port (PostgreSQL) plugs in here and runs under the same test suite.
    /// </summary>
    public Func<ScimServerOptions, Store.IResourceStore>? StoreFactory { get; init; }
}
