using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Postgres;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Store.Coordination;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Tokens;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The store for several server instances: one PostgreSQL database (optionally one schema of it) that every
/// instance opens. Same behaviour through the same port as the SQLite store (the storage conformance suite runs
/// against both); what several instances add is written beside the SQL that handles it: journal positions
/// visible only as a settled prefix (PostgresJournal), per-resource row locks in write sessions
/// (PostgresWriteSession), per-subscription locks on feed queues (PostgresFeedStore), leases for feed work
/// (PostgresLeases), and wake-ups across instances (PostgresNotifications). docs/postgres.md is the operator's view.
/// </summary>
public sealed class PostgresResourceStore : IResourceStore
{
    private readonly NpgsqlDataSource _source;
    private readonly PostgresSecrets _secrets;
    private readonly PostgresLeases _leases;
    private readonly PostgresNotifications _notifications;
    private readonly string? _schema;
    private readonly string _display;
    private readonly TimeProvider _time;

    /// <summary>
    /// How long a read waits for writers that started before it (PostgresJournal.WaitForEarlierWritersAsync). Past
    /// it the read goes on with a lower position: never out of order, but a write acknowledged just before may then
    /// come again after that position (a new subscription gets its event). Transaction ids are cluster-wide, so
    /// any slow writer of the cluster counts; 2 s was overrun on a 2-core machine at load 40 by the HTTP suite's
    /// parallel writers, hence 5 s. Normally the wait is nothing or milliseconds.
    /// </summary>
    private static readonly TimeSpan EarlierWritersWait = TimeSpan.FromSeconds(5);

    /// <param name="connection">
    /// A URL (<c>postgres://user:password@host:port/database?schema=NAME</c>) or an Npgsql connection string
    /// (<c>Host=…;Database=…;Search Path=…</c>). See <see cref="ToConnectionString"/>.
    /// </param>
    /// <param name="keys">Seals subscription signing keys and shared secrets; every instance must use the same key file.</param>
    /// <param name="onJournalChanged">Called when any instance committed journal entries (wakes fan-out).</param>
    /// <param name="onDeliveriesQueued">Called when any instance queued events (wakes long polls and push loops).</param>
    /// <param name="instance">A name for this instance in pg_stat_activity (application_name).</param>
    public PostgresResourceStore(string connection, KeyRing? keys = null, Action? onJournalChanged = null, Action? onDeliveriesQueued = null,
        string? instance = null, TimeProvider? time = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(ToConnectionString(connection));
        _schema = string.IsNullOrEmpty(builder.SearchPath) ? null : builder.SearchPath;
        instance ??= $"{Environment.MachineName}:{Environment.ProcessId}";
        builder.ApplicationName ??= "scimsync:" + instance;
        // A transaction left open (a stuck client of this store) would hold back every journal reader (PostgresJournal).
        builder.Options = (builder.Options + " -c idle_in_transaction_session_timeout=60000 -c TimeZone=UTC").Trim();
        // Statements are few and repeated: prepared once per connection, not planned per request.
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 128;
        if (builder.AutoPrepareMinUsages == 5) builder.AutoPrepareMinUsages = 2;
        // No session state is ever left on a pooled connection (advisory locks here are transaction-scoped; LISTEN and
        // the leases' session locks have connections of their own), so handing one back needs no reset: the reset
        // statements were a round of work for PostgreSQL on every request.
        builder.NoResetOnClose = true;
        _display = Describe(builder);
        var connectionString = builder.ConnectionString;
        _source = NpgsqlDataSource.Create(connectionString);
        _time = time ?? TimeProvider.System;
        _secrets = new PostgresSecrets(keys);
        _leases = new PostgresLeases(connectionString, instance, _time);
        _notifications = new PostgresNotifications(_source, connectionString, _schema ?? "public", onJournalChanged, onDeliveriesQueued);
        Tokens = new PostgresTokenStore(_source);
        Feed = new PostgresFeedStore(_source, _secrets, _notifications.DeliveriesQueued);
        Passwords = new PostgresPasswordDeliveries(_source);
    }

    /// <summary>The database as people may see it, never the password (<see cref="PostgresUrl.Describe(string)"/>).</summary>
    public static string Describe(string connection) => PostgresUrl.Describe(connection);

    private static string Describe(NpgsqlConnectionStringBuilder b) => PostgresUrl.Describe(b);

    /// <summary>An Npgsql connection string from a <c>postgres://</c> URL, or the text itself (<see cref="PostgresUrl.ToConnectionString"/>).</summary>
    public static string ToConnectionString(string connection) => PostgresUrl.ToConnectionString(connection);

    public ITokenStore Tokens { get; }

    public IFeedStore Feed { get; }

    public Store.Passwords.IPasswordDeliveries Passwords { get; }

    public IWorkLeases Leases => _leases;

    public async Task InitializeAsync(CancellationToken ct)
    {
        await using (var c = await _source.OpenAsync(ct).ConfigureAwait(false))
        {
            // One transaction under one lock: instances starting together create the schema once, and an upgrade
            // that fails half-way leaves the database as it was.
            await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
            async Task<object?> Scalar(string sql)
            {
                await using var cmd = new NpgsqlCommand(sql, c, tx);
                return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            }
            await Scalar($"SELECT pg_advisory_xact_lock(hashtextextended('{PostgresSchema.InitLockKey}', 0))").ConfigureAwait(false);
            if (await Scalar("SELECT current_setting('server_encoding')").ConfigureAwait(false) is not "UTF8")
                throw new InvalidOperationException($"Database {_display} is not UTF8-encoded; ScimSync needs UTF8 (CREATE DATABASE … ENCODING 'UTF8').");
            if (_schema is not null)
                await Scalar($"CREATE SCHEMA IF NOT EXISTS \"{_schema.Replace("\"", "\"\"", StringComparison.Ordinal)}\"").ConfigureAwait(false);
            await Scalar(PostgresSchema.Create).ConfigureAwait(false);
            var found = await Scalar("SELECT version FROM schema_info").ConfigureAwait(false);
            if (found is null)
                await Scalar($"INSERT INTO schema_info(version) VALUES ({PostgresSchema.Version})").ConfigureAwait(false);
            else if ((int)found > PostgresSchema.Version || (int)found < 1)
                throw new InvalidOperationException($"Database {_display} has schema version {found}; this build knows versions 1 to {PostgresSchema.Version}.");
            else if ((int)found < PostgresSchema.Version)
            {
                for (var v = (int)found; v < PostgresSchema.Version; v++) await Scalar(PostgresSchema.Upgrades[v - 1]).ConfigureAwait(false);
                await Scalar($"UPDATE schema_info SET version = {PostgresSchema.Version}").ConfigureAwait(false);
            }
            await EnsureIdentifierKeysAsync(c, tx, ct).ConfigureAwait(false);
            // A key file that does not hold the keys the data was sealed with stops the start, before anything is served.
            if (_secrets.HasKeys) await _secrets.SealAsync(c, tx, all: false, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        _notifications.Start();
    }

    /// <summary>
    /// Keeps user_name_key computed by the rule the code has now (<see cref="ScimText.UniquenessKeyRule"/>): a
    /// database whose keys were computed by another rule has them recomputed, in the start-up transaction.
    /// </summary>
    private static async Task EnsureIdentifierKeysAsync(NpgsqlConnection c, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using (var cmd = new NpgsqlCommand("SELECT value FROM store_meta WHERE key = 'identifier_key_rule'", c, tx))
            if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string == ScimText.UniquenessKeyRule) return;
        var users = new List<(long Seq, string? UserName)>();
        await using (var cmd = new NpgsqlCommand($"SELECT seq, scimsync_text({PostgresSchema.Exact("r")} -> 'userName') FROM resources r WHERE type = 'User'", c, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) users.Add((r.GetInt64(0), r.IsDBNull(1) ? null : r.GetString(1)));
        // Cleared first: the unique index ignores NULL, so no row meets another's old key half-way.
        await using (var cmd = new NpgsqlCommand("UPDATE resources SET user_name_key = NULL WHERE type = 'User'", c, tx))
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand("UPDATE resources r SET user_name_key = u.k FROM unnest($1::bigint[], $2::text[]) AS u(s, k) WHERE r.seq = u.s", c, tx)
        {
            Parameters =
            {
                new() { Value = users.Select(u => u.Seq).ToArray() },
                new() { Value = users.Select(u => u.UserName is null ? null : ScimText.UniquenessKey(u.UserName)).ToArray() },
            },
        })
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO store_meta(key, value) VALUES ('identifier_key_rule', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, c, tx) { Parameters = { new() { Value = ScimText.UniquenessKeyRule } } })
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Key rotation: re-seals every sealed value with the key ring's current key, in one transaction.</summary>
    public async Task<int> ResealAsync(CancellationToken ct)
    {
        if (!_secrets.HasKeys) throw new InvalidOperationException("ResealAsync needs the store opened with a key ring");
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        var count = await _secrets.SealAsync(c, tx, all: true, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return count;
    }

    public async Task<byte[]?> SharedSecretAsync(string name, Func<byte[]> create, CancellationToken ct) =>
        await _secrets.SharedAsync(_source, name, create, ct).ConfigureAwait(false);

    public async Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        return await PostgresReads.FindAsync(c, null, rt.Name, id, load, forUpdate: false, ct).ConfigureAwait(false);
    }

    /// <summary>Cancelling <paramref name="ct"/> sends PostgreSQL a cancel request for the running statement.</summary>
    public async Task<QueryPage> QueryAsync(ResourceQuery query, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            await PostgresJournal.WaitForEarlierWritersAsync(c, EarlierWritersWait, ct).ConfigureAwait(false);
            return await PostgresReads.QueryAsync(c, query, ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.QueryCanceled && ct.IsCancellationRequested)
        {
            throw new OperationCanceledException("The query was cancelled", e, ct);
        }
    }

    public QueryCost Cost(ResourceQuery query)
    {
        var unindexed = 0;
        var scans = false;
        foreach (var tf in query.Filters)
        {
            var (u, narrowed) = tf.Filter is null ? (0, false) : PostgresFilterCompiler.Cost(tf.Filter);
            unindexed += u;
            // Without a filter only the page is read, unless everything must be sorted first.
            scans |= !narrowed && (tf.Filter is not null || (query.Sort is not null && tf.SortAttribute is not null));
        }
        return new QueryCost(unindexed, scans);
    }

    public async Task<IWriteSession> BeginWriteAsync(CancellationToken ct) =>
        new NotifyingSession(await PostgresWriteSession.BeginAsync(_source, ct).ConfigureAwait(false), _notifications);

    public async Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(long afterPosition, int limit, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        await PostgresJournal.WaitForEarlierWritersAsync(c, EarlierWritersWait, ct).ConfigureAwait(false);
        return await PostgresJournal.ReadAsync(c, afterPosition, limit, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<JournalMarker>> ReadUrgentJournalAsync(long afterPosition, int limit, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        return await PostgresJournal.ReadUrgentAsync(c, afterPosition, limit, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<JournalEntry>> ReadResourceJournalAsync(string resourceId, long afterPosition, long throughPosition, int limit, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        return await PostgresJournal.ReadResourceAsync(c, resourceId, afterPosition, throughPosition, limit, ct).ConfigureAwait(false);
    }

    public async Task<long> CompactJournalAsync(long throughPosition, DateTimeOffset olderThan, CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        // Only a readable prefix is compacted: without the wait, entries acknowledged just before (behind any other
        // session's open transaction) would stay until the next round, and a maximum age would not hold as on SQLite.
        await PostgresJournal.WaitForEarlierWritersAsync(c, EarlierWritersWait, ct).ConfigureAwait(false);
        return await PostgresJournal.CompactAsync(c, throughPosition, olderThan, ct).ConfigureAwait(false);
    }

    public async Task<long> JournalFloorAsync(CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        return await PostgresJournal.FloorAsync(c, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyDictionary<string, object>> DescribeAsync(CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM resources WHERE type = 'User'),
                   (SELECT count(*) FROM resources WHERE type = 'Group'),
                   (SELECT count(*) FROM group_members),
                   pg_database_size(current_database()),
                   current_setting('synchronous_commit')
            """, c);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return new Dictionary<string, object>
        {
            ["engine"] = "postgres",
            ["database"] = _display,
            ["users"] = r.GetInt64(0),
            ["groups"] = r.GetInt64(1),
            ["memberships"] = r.GetInt64(2),
            ["databaseBytes"] = r.GetInt64(3),
            ["synchronousCommit"] = r.GetString(4),
        };
    }

    /// <summary>
    /// A pooled connection answers and the schema is there with a version this code knows: a dropped schema or
    /// an unreachable server makes the instance unready rather than failing every request behind a load balancer.
    /// </summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        await using var c = await _source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT max(version) FROM schema_info", c);
        if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not int version || version > PostgresSchema.Version)
            throw new InvalidOperationException($"{_display} holds no schema version this server knows");
    }

    public async ValueTask DisposeAsync()
    {
        await _leases.DisposeAsync().ConfigureAwait(false);
        await _notifications.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A write session that, once committed, wakes the other instances' fan-out.</summary>
    private sealed class NotifyingSession(PostgresWriteSession inner, PostgresNotifications notifications) : IWriteSession
    {
        private bool _journaled;

        public Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct) => inner.FindAsync(rt, id, load, ct);
        public Task<IReadOnlyDictionary<string, string>> FindResourceTypesAsync(IReadOnlyCollection<string> ids, CancellationToken ct) => inner.FindResourceTypesAsync(ids, ct);
        public Task<bool> ValueTakenAsync(ResourceTypeDefinition rt, ResolvedAttribute attribute, string value, string? exceptId, CancellationToken ct) => inner.ValueTakenAsync(rt, attribute, value, exceptId, ct);
        public Task<StoredResource> InsertAsync(ResourceTypeDefinition rt, string id, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct) => inner.InsertAsync(rt, id, data, members, passwordHash, now, ct);
        public Task<StoredResource> UpdateAsync(StoredResource existing, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct) => inner.UpdateAsync(existing, data, members, passwordHash, now, ct);
        public Task<int> AddMembersAsync(StoredResource group, IReadOnlyList<MemberRef> members, CancellationToken ct) => inner.AddMembersAsync(group, members, ct);
        public Task<int> RemoveMembersAsync(StoredResource group, IReadOnlyCollection<string> memberIds, CancellationToken ct) => inner.RemoveMembersAsync(group, memberIds, ct);
        public Task<int> ClearMembersAsync(StoredResource group, CancellationToken ct) => inner.ClearMembersAsync(group, ct);
        public Task<IReadOnlyList<(string Id, long Version)>> DeleteAsync(StoredResource existing, DateTimeOffset now, CancellationToken ct) => inner.DeleteAsync(existing, now, ct);

        public Task AddPendingPasswordsAsync(IReadOnlyList<Store.Passwords.PendingPassword> passwords, CancellationToken ct) => inner.AddPendingPasswordsAsync(passwords, ct);

        public Task AppendJournalAsync(JournalAppend entry, CancellationToken ct)
        {
            _journaled = true;
            return inner.AppendJournalAsync(entry, ct);
        }

        public async Task CommitAsync(CancellationToken ct)
        {
            await inner.CommitAsync(ct).ConfigureAwait(false);
            if (_journaled) notifications.JournalChanged();
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
