using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Resources;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Opened, configured connections, kept for the life of the store. Opening a SQLite connection means
/// re-applying pragmas and re-registering the SCIM functions, so readers are reused rather than pooled by
/// the driver; there is exactly one writer, because SQLite has exactly one. Requests' write sessions share
/// the writer's transactions (group commit, SqliteConnectionPool.Group.cs); other writes take it alone.
/// </summary>
internal sealed partial class SqliteConnectionPool : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly ConcurrentBag<SqliteConnection> _idle = [];
    private readonly SemaphoreSlim _writerGate = new(1, 1);
    // More readers than cores only adds page caches: SQLite reads are CPU-bound here.
    private readonly SemaphoreSlim _readerSlots = new(ReaderLimit, ReaderLimit);
    private static readonly int ReaderLimit = Math.Max(4, Environment.ProcessorCount * 2);
    private readonly string _synchronous;
    private SqliteConnection? _writer;

    public string Synchronous => _synchronous;

    public SqliteConnectionPool(string path, string synchronous, StoreMetrics metrics)
    {
        _metrics = metrics;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            // Never create: the store made the file (private) before the first open. A file moved or deleted
            // under a running server must fail the requests that need a new connection, not have one of them
            // start a new, empty database under the old name that the next start would then take as the data.
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            Cache = SqliteCacheMode.Private,
            DefaultTimeout = 30,
        }.ToString();
        _synchronous = synchronous;
    }

    /// <summary>
    /// WAL pages before a commit checkpoints (SQLite's default is 1,000, 4 MB). The event feed rewrites the
    /// same queue pages many times (queued, claimed, deleted); between two checkpoints a page is copied back
    /// once however often it changed, so a larger WAL copies less: 16 MB raised the poll drain from about
    /// 10,500 to 12,200 events/s and batched push from 11,000 to 15,000 (docs/benchmarks.md). The price is a
    /// longer pause at each (rarer) checkpoint: write p99 at 500 writes/s went from 7 to 15 ms.
    /// </summary>
    private const int WalAutocheckpointPages = 4000;

    // secure_delete = FAST: content a write removes from a page (an updated row's old copy, a deleted row) is
    // zeroed when that page is written anyway, at no extra I/O; otherwise a subscription's signing key would
    // linger in the page's free space after every update of its row, and deleted personal data with it.

    public SqliteConnection OpenConfigured(int cacheKib = 8192)
    {
        var c = new SqliteConnection(_connectionString);
        try
        {
            c.Open();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == raw.SQLITE_CANTOPEN)
        {
            c.Dispose();
            throw new ScimException(503, null, $"The database file cannot be opened (moved, deleted or unreadable: {e.Message}); nothing was done.");
        }
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = $"""
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = {_synchronous};
                PRAGMA foreign_keys = OFF;
                PRAGMA busy_timeout = 30000;
                PRAGMA cache_size = -{cacheKib};
                PRAGMA temp_store = MEMORY;
                PRAGMA wal_autocheckpoint = {WalAutocheckpointPages};
                PRAGMA secure_delete = FAST;
                """;
            cmd.ExecuteNonQuery();
        }
        RegisterFunctions(c);
        return c;
    }

    /// <summary>The same text semantics as the in-memory evaluator, available to SQL.</summary>
    private static void RegisterFunctions(SqliteConnection c)
    {
        c.CreateFunction("scim_fold", (string? s) => s is null ? null : ScimText.Fold(s), isDeterministic: true);
        c.CreateFunction("scim_instant", (object? s) =>
            s is string text && ValueCoercer.TryParseDateTime(text, out var instant) ? (long?)instant.UtcTicks : null,
            isDeterministic: true);
    }

    /// <summary>A reader connection; waits asynchronously when every reader slot is in use, so a burst of
    /// slow queries queues requests instead of blocking thread-pool threads.</summary>
    public async ValueTask<Lease> RentAsync(CancellationToken ct)
    {
        await _readerSlots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_idle.TryTake(out var c)) c = OpenConfigured();
            return new Lease(this, c);
        }
        catch
        {
            _readerSlots.Release();
            throw;
        }
    }

    /// <summary>
    /// The writer, for a transaction of its own (feed, tokens, compaction, schema). A group of request writes
    /// still open on it is committed first: its members are waiting for exactly that.
    /// </summary>
    public async Task<WriterLease> RentWriterAsync(CancellationToken ct)
    {
        await _writerGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _writer ??= OpenConfigured(cacheKib: 32768);
            CommitGroup();
        }
        catch
        {
            _writerGate.Release();
            throw;
        }
        return new WriterLease(this, _writer);
    }

    public readonly struct Lease(SqliteConnectionPool pool, SqliteConnection connection) : IDisposable
    {
        public SqliteConnection Connection => connection;

        public void Dispose()
        {
            pool._idle.Add(connection);
            pool._readerSlots.Release();
        }
    }

    public sealed class WriterLease(SqliteConnectionPool pool, SqliteConnection connection) : IDisposable
    {
        private int _released;
        public SqliteConnection Connection => connection;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) pool._writerGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _writerGate.WaitAsync().ConfigureAwait(false);
        CommitGroup();
        while (_idle.TryTake(out var c)) await c.DisposeAsync().ConfigureAwait(false);
        if (_writer is not null) await _writer.DisposeAsync().ConfigureAwait(false);
        _writer = null;
    }
}
