using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Tokens;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode, private to the service (its directory 0700, its files 0600,
/// refused otherwise), with request writes committed in groups (SqliteConnectionPool.Group.cs) and the
/// secrets it holds sealed (SqliteSecrets).
/// </summary>
public sealed class SqliteResourceStore : IResourceStore
{
    /// <summary>The meter and activity source of the store's telemetry (StoreMetrics), for an exporter to listen to.</summary>
    public const string MeterName = StoreMetrics.MeterName;

    private readonly SqliteConnectionPool _pool;
    private readonly SqliteSecrets _secrets;
    private readonly StoreMetrics _metrics = new();
    private readonly DirectoryLock _lock;
    private readonly string _path;

    /// <param name="path">The database file; its directory is created 0700 if missing and must not be open to group or others.</param>
    /// <param name="synchronous">
    /// SQLite's synchronous pragma. FULL (the default): a commit is on disk before it returns, so an acknowledged
    /// write survives an operating-system crash or power loss; group commit pays one fsync for many requests.
    /// NORMAL (opt-in) still never loses a commit when only the process dies (kill -9), but may lose the last
    /// commits on power loss.
    /// </param>
    /// <param name="keys">
    /// Seals the subscription signing keys. Null for tools that never touch them (token and status commands):
    /// the store then neither reads nor writes subscriptions' keys.
    /// </param>
    /// <param name="exclusive">
    /// Take the directory for this process alone (key rotation), failing if any other scimsync process has it
    /// open; otherwise share it.
    /// </param>
    public SqliteResourceStore(string path, string synchronous = "FULL", KeyRing? keys = null, bool exclusive = false)
    {
        if (synchronous is not ("NORMAL" or "FULL" or "EXTRA"))
            throw new ArgumentException("synchronous must be NORMAL, FULL or EXTRA", nameof(synchronous));
        _path = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(_path)!;
        PrivateFiles.EnsureDirectory(directory, "data directory");
        _lock = exclusive ? DirectoryLock.Exclusive(directory) : DirectoryLock.Shared(directory);
        try
        {
            // Before SQLite creates it: the WAL and shared-memory files take the database file's mode.
            PrivateFiles.CreateFile(_path);
        }
        catch
        {
            _lock.Dispose();
            throw;
        }
        _pool = new SqliteConnectionPool(_path, synchronous, _metrics);
        _secrets = new SqliteSecrets(keys);
        Tokens = new SqliteTokenStore(_pool);
        Feed = new SqliteFeedStore(_pool, _secrets);
        Passwords = new SqlitePasswordDeliveries(_pool);
    }

    public ITokenStore Tokens { get; }

    public IFeedStore Feed { get; }

    public Store.Passwords.IPasswordDeliveries Passwords { get; }

    /// <summary>The synchronous pragma in effect on the writer (FULL, NORMAL), for operators and tests.</summary>
    public string Synchronous => _pool.Synchronous;

    public async Task InitializeAsync(CancellationToken ct)
    {
        int sealedNow;
        using (var w = await _pool.RentWriterAsync(ct).ConfigureAwait(false))
        {
            // One transaction: an upgrade that fails half-way leaves the file as it was.
            using var tx = w.Connection.BeginTransaction(deferred: false);
            using var cmd = w.Connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = SqliteSchema.Create;
            cmd.ExecuteNonQuery();
            cmd.CommandText = "SELECT version FROM schema_info";
            var v = cmd.ExecuteScalar();
            if (v is null)
            {
                cmd.CommandText = $"INSERT INTO schema_info(version) VALUES ({SqliteSchema.Version})";
                cmd.ExecuteNonQuery();
            }
            else if (Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture) is var found && found < SqliteSchema.Version)
            {
                // Version 1 lacked the journal and the feed tables, which the CREATE ... IF NOT EXISTS script above
                // has now added in their current form; version 2 tables lack the columns added since.
                var addedUrgent = false;
                foreach (var (table, column, definition) in SqliteSchema.AddedColumns)
                {
                    cmd.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
                    if ((long)cmd.ExecuteScalar()! != 0) continue;
                    cmd.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {definition}";
                    cmd.ExecuteNonQuery();
                    addedUrgent |= table == "journal" && column == "urgent";
                }
                if (addedUrgent) SqliteJournal.BackfillUrgent(w.Connection, tx);
                cmd.CommandText = $"UPDATE schema_info SET version = {SqliteSchema.Version}";
                cmd.ExecuteNonQuery();
            }
            else if (found != SqliteSchema.Version)
            {
                throw new InvalidOperationException($"Database {_path} has schema version {v}; this build expects {SqliteSchema.Version}.");
            }
            cmd.CommandText = SqliteSchema.CreateAfterUpgrade;
            cmd.ExecuteNonQuery();
            SqliteIdentifierKeys.EnsureCurrent(w.Connection, tx);
            // Signing keys a previous build stored in clear are sealed here, in place; and a key file that does not
            // hold the keys the data was sealed with stops the start, before anything is served.
            sealedNow = _secrets.HasKeys ? _secrets.Seal(w.Connection, tx, all: false) : 0;
            tx.Commit();
            if (sealedNow > 0) SqliteSecrets.Scrub(w.Connection);
        }
    }

    /// <summary>
    /// Key rotation: re-seals every signing key with the key ring's current key, in one transaction, then scrubs
    /// the file of the previous copies. Needs the store opened with <c>exclusive</c>. Returns how many keys were
    /// re-sealed.
    /// </summary>
    public async Task<int> ResealAsync(CancellationToken ct)
    {
        if (!_secrets.HasKeys) throw new InvalidOperationException("ResealAsync needs the store opened with a key ring");
        using var w = await _pool.RentWriterAsync(ct).ConfigureAwait(false);
        int count;
        using (var tx = w.Connection.BeginTransaction(deferred: false))
        {
            count = _secrets.Seal(w.Connection, tx, all: true);
            tx.Commit();
        }
        SqliteSecrets.Scrub(w.Connection);
        return count;
    }

    public async Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = StoreMetrics.Source.StartActivity("store.find");
        activity?.SetTag("scimsync.resource.type", rt.Name);
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        var found = SqliteReads.Find(lease.Connection, null, rt.Name, id, load);
        _metrics.Read("find", started);
        return found;
    }

    public async Task<QueryPage> QueryAsync(ResourceQuery query, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var scans = Cost(query).Scans;
        using var activity = StoreMetrics.Source.StartActivity("store.query");
        activity?.SetTag("scimsync.scan", scans);
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        var page = Interruptible.Run(lease.Connection, ct, c => SqliteReads.Query(c, query));
        _metrics.Query(scans, started);
        return page;
    }

    /// <summary>
    /// Two questions: can a pooled reader answer (the server's own connections, busy or broken), and does the
    /// file at the path still open as this database (deleted, replaced or unreadable: pooled connections would
    /// go on reading the old file, and the next start would not)?
    /// </summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        using (var lease = await _pool.RentAsync(ct).ConfigureAwait(false))
        using (var cmd = lease.Connection.CreateCommand())
        {
            cmd.CommandText = "SELECT version FROM schema_info";
            cmd.ExecuteScalar();
        }
        var readOnly = new SqliteConnectionStringBuilder { DataSource = _path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        await using var fresh = new SqliteConnection(readOnly);
        await fresh.OpenAsync(ct).ConfigureAwait(false);
        await using var check = fresh.CreateCommand();
        check.CommandText = "SELECT version FROM schema_info";
        if (await check.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            throw new InvalidOperationException($"{_path} holds no schema version");
    }

    public QueryCost Cost(ResourceQuery query)
    {
        var unindexed = 0;
        var scans = false;
        foreach (var tf in query.Filters)
        {
            var (u, narrowed) = tf.Filter is null ? (0, false) : SqliteFilterCompiler.Cost(tf.Filter);
            unindexed += u;
            // Without a filter only the page is read, unless everything must be sorted first.
            scans |= !narrowed && (tf.Filter is not null || (query.Sort is not null && tf.SortAttribute is not null));
        }
        return new QueryCost(unindexed, scans);
    }

    public async Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(long afterPosition, int limit, CancellationToken ct)
    {
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        return SqliteJournal.Read(lease.Connection, afterPosition, limit);
    }

    public async Task<IReadOnlyList<JournalMarker>> ReadUrgentJournalAsync(long afterPosition, int limit, CancellationToken ct)
    {
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        return SqliteJournal.ReadUrgent(lease.Connection, afterPosition, limit);
    }

    public async Task<IReadOnlyList<JournalEntry>> ReadResourceJournalAsync(string resourceId, long afterPosition, long throughPosition, int limit, CancellationToken ct)
    {
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        return SqliteJournal.ReadResource(lease.Connection, resourceId, afterPosition, throughPosition, limit);
    }

    public async Task<long> CompactJournalAsync(long throughPosition, DateTimeOffset olderThan, CancellationToken ct)
    {
        using var w = await _pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var tx = w.Connection.BeginTransaction(deferred: false);
        long floor;
        using (var cmd = w.Connection.CreateCommand())
        {
            cmd.Transaction = tx;
            // Deleting a prefix only: an entry stays while any older one stays, so the floor is exact.
            cmd.CommandText = """
                DELETE FROM journal WHERE position <= coalesce(
                    (SELECT min(position) - 1 FROM journal WHERE position <= @through AND time >= @before), @through)
                RETURNING position
                """;
            cmd.Parameters.AddWithValue("@through", throughPosition);
            cmd.Parameters.AddWithValue("@before", olderThan.UtcTicks);
            long deleted = 0;
            using (var r = cmd.ExecuteReader())
                while (r.Read()) deleted = Math.Max(deleted, r.GetInt64(0));
            cmd.Parameters.Clear();
            cmd.CommandText = "SELECT coalesce(max(position), 0) FROM journal_floor";
            floor = Math.Max((long)cmd.ExecuteScalar()!, deleted);
            cmd.CommandText = "DELETE FROM journal_floor; INSERT INTO journal_floor(position) VALUES (@f)";
            cmd.Parameters.AddWithValue("@f", floor);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return floor;
    }

    public async Task<long> JournalFloorAsync(CancellationToken ct)
    {
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT coalesce(max(position), 0) FROM journal_floor";
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>A savepoint in the writer's group transaction (group commit: SqliteConnectionPool.Group.cs).</summary>
    public async Task<IWriteSession> BeginWriteAsync(CancellationToken ct) =>
        await SqliteWriteSession.BeginAsync(_pool, ct).ConfigureAwait(false);

    public async Task<IReadOnlyDictionary<string, object>> DescribeAsync(CancellationToken ct)
    {
        using var lease = await _pool.RentAsync(ct).ConfigureAwait(false);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = """
            SELECT (SELECT count(*) FROM resources WHERE type = 'User'),
                   (SELECT count(*) FROM resources WHERE type = 'Group'),
                   (SELECT count(*) FROM group_members)
            """;
        using var r = cmd.ExecuteReader();
        r.Read();
        var facts = new Dictionary<string, object>
        {
            ["engine"] = "sqlite",
            ["path"] = _path,
            ["users"] = r.GetInt64(0),
            ["groups"] = r.GetInt64(1),
            ["memberships"] = r.GetInt64(2),
            ["fileBytes"] = File.Exists(_path) ? new FileInfo(_path).Length : 0,
            ["walBytes"] = File.Exists(_path + "-wal") ? new FileInfo(_path + "-wal").Length : 0,
            ["synchronous"] = Synchronous,
        };
        return facts;
    }

    public async ValueTask DisposeAsync()
    {
        await _pool.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
        _lock.Dispose();
    }
}
