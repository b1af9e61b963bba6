using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Shadows;

/// <summary>
/// One audited operation: what was done, why (an event's txn or a run id), where, and how it went; the entry of
/// the provisioning log (ShadowStore.Log.cs), which adds what changed and what to do about a failure.
/// </summary>
public sealed record AuditRecord(DateTimeOffset Time, string Cause, string Target, string Verb, string Subject, string? TargetId,
    string? SourceId, string Result, int? Status, double DurationMs, string? Detail)
{
    /// <summary>The account's userName (null for groups): how people look a person up.</summary>
    public string? UserName { get; init; }

    /// <summary>The attributes the operation changed, old → new, secrets redacted (<see cref="Execution.AttributeChanges"/>).</summary>
    public IReadOnlyList<AttributeChange> Changes { get; init; } = [];

    /// <summary>For a change learnt from the source's feed: its journal position at the source, when it was made, and by whom.</summary>
    public long? JournalPosition { get; init; }

    public DateTimeOffset? EventTime { get; init; }

    public string? Writer { get; init; }

    /// <summary>The target's scimType when it refused the operation (<see cref="Detail"/> holds its detail).</summary>
    public string? ScimType { get; init; }

    /// <summary>What to do about a known failure (<see cref="Execution.FailureAdvice"/>).</summary>
    public string? Action { get; init; }
}

/// <summary>A queued key (source account id, or <c>group:</c> id) for one target.</summary>
public sealed record PendingChange(string SourceId, bool Urgent, long Changes);

/// <summary>
/// The engine's durable state in one SQLite file: the shadow of every target (its accounts and groups as
/// last seen, with the target's ids), the links from target accounts to source accounts, checkpoints
/// (feed position, subscription), the per-target queue of accounts to resync, and the audit log.
/// Links live apart from the cached accounts so that a link survives a refresh in which its account is
/// missing: that is how an out-of-band deletion is recognised. Each account keeps two copies: <c>data</c>,
/// as last seen, and <c>synced</c>, as the engine last wrote or accepted it; out-of-band edits are the
/// difference, and they stay visible until repaired, however often the target is read.
/// </summary>
public sealed partial class ShadowStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly System.Threading.Channels.Channel<(Action<ShadowWriter> Work, TaskCompletionSource Done)> _writes =
        System.Threading.Channels.Channel.CreateUnbounded<(Action<ShadowWriter>, TaskCompletionSource)>(new() { SingleReader = true });
    private readonly Task _writer;
    private readonly KeyRing _keys;
    private readonly DirectoryLock _lock;

    private ShadowStore(SqliteConnection db, KeyRing keys, DirectoryLock directoryLock)
    {
        _db = db;
        _keys = keys;
        _lock = directoryLock;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>
    /// Opens (or creates) the state in <paramref name="directory"/>: created 0700 with its files 0600, refused when
    /// group or others can read or write it (it holds the feed secret and people's accounts).
    /// </summary>
    /// <param name="keys">Seals the secrets (<see cref="GetSecret"/>); default: the key file beside the directory, <c>DIR.key</c>.</param>
    /// <param name="exclusive">For key rotation: fail if any other process has the state open.</param>
    public static ShadowStore Open(string directory, KeyRing? keys = null, bool exclusive = false)
    {
        PrivateFiles.EnsureDirectory(directory, "state directory");
        keys ??= KeyRing.ForDirectory(directory, null);
        var directoryLock = exclusive ? DirectoryLock.Exclusive(directory) : DirectoryLock.Shared(directory);
        var path = Path.Combine(directory, "sync.db");
        SqliteConnection? db = null;
        try
        {
            // Before SQLite creates it: the WAL and shared-memory files take the database file's mode.
            PrivateFiles.CreateFile(path);
            db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            db.Open();
            CreateOrUpgrade(db);
            SealLegacySecrets(db, keys);
            return new ShadowStore(db, keys, directoryLock);
        }
        catch
        {
            db?.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }

    private static void CreateOrUpgrade(SqliteConnection db)
    {
        Exec(db, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA busy_timeout = 5000;
            PRAGMA secure_delete = FAST;
            CREATE TABLE IF NOT EXISTS shadow_accounts (
                target TEXT NOT NULL, target_id TEXT NOT NULL, user_name TEXT NOT NULL, external_id TEXT,
                active INTEGER NOT NULL, data TEXT NOT NULL, synced TEXT, seen INTEGER NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_shadow_user ON shadow_accounts(target, user_name COLLATE NOCASE);
            CREATE INDEX IF NOT EXISTS ix_shadow_external ON shadow_accounts(target, external_id);
            CREATE TABLE IF NOT EXISTS links (
                target TEXT NOT NULL, target_id TEXT NOT NULL, source_id TEXT NOT NULL, linked INTEGER NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_links_source ON links(target, source_id);
            CREATE TABLE IF NOT EXISTS shadow_groups (
                target TEXT NOT NULL, target_id TEXT NOT NULL, display_name TEXT NOT NULL, external_id TEXT,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS shadow_group_members (
                target TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL,
                PRIMARY KEY (target, group_id, member_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_shadow_member ON shadow_group_members(target, member_id);
            CREATE TABLE IF NOT EXISTS group_links (
                target TEXT NOT NULL, target_id TEXT NOT NULL, source_id TEXT NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            -- Every value sealed with the key file kept apart from this directory, never clear (ShadowStore.Secrets.cs).
            CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS source_group_members (
                group_id TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (group_id, member_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS pending (
                target TEXT NOT NULL, source_id TEXT NOT NULL, urgent INTEGER NOT NULL, enqueued INTEGER NOT NULL,
                changes INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (target, source_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_pending_order ON pending(target, urgent DESC, enqueued);
            -- The last full read of each target, and the last one that was complete: a read that does not add
            -- up never becomes the basis of a deletion, an unlink or a repair (see TargetReader).
            CREATE TABLE IF NOT EXISTS target_reads (
                target TEXT PRIMARY KEY, at INTEGER NOT NULL, accounts INTEGER NOT NULL, complete INTEGER NOT NULL, problems TEXT,
                complete_at INTEGER, complete_accounts INTEGER) WITHOUT ROWID;
            -- Removals the mass-change guard holds, one per queue key, until a person confirms or the source
            -- no longer asks for them. Held keys leave the queue, so they never stand in front of other work.
            CREATE TABLE IF NOT EXISTS holds (
                target TEXT NOT NULL, key TEXT NOT NULL, verb TEXT NOT NULL, subject TEXT NOT NULL, target_id TEXT,
                reason TEXT NOT NULL, since INTEGER NOT NULL,
                PRIMARY KEY (target, key)) WITHOUT ROWID;
            -- The provisioning log: every operation with what it changed (changes: JSON, old → new per attribute), the
            -- source change behind it, and the target's answer on failure with what to do about it (ShadowStore.Log.cs).
            CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, cause TEXT NOT NULL, target TEXT NOT NULL, verb TEXT NOT NULL,
                subject TEXT NOT NULL, target_id TEXT, source_id TEXT, result TEXT NOT NULL, status INTEGER, duration_ms REAL NOT NULL, detail TEXT,
                user_name TEXT COLLATE NOCASE, changes TEXT, journal_position INTEGER, event_time INTEGER, writer TEXT, scim_type TEXT, action TEXT);
            """);
        // State written by an earlier build lacks the columns added since: added in place (ALTER TABLE keeps the rows).
        foreach (var (table, column, definition) in AddedColumns)
        {
            using var probe = db.CreateCommand();
            probe.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
            if (Convert.ToInt64(probe.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) != 0) continue;
            Exec(db, $"ALTER TABLE {table} ADD COLUMN {column} {definition}");
            if (table == "audit" && column == "user_name") BackfillAuditUserNames(db);
        }
        // After the columns exist: "what happened to this person" (by source id or userName), to a target, what
        // failed, and what happened when, each answered from an index however long the log grows.
        Exec(db, """
            CREATE INDEX IF NOT EXISTS ix_audit_source ON audit(source_id, seq);
            CREATE INDEX IF NOT EXISTS ix_audit_user ON audit(user_name, seq);
            CREATE INDEX IF NOT EXISTS ix_audit_target ON audit(target, seq);
            -- Failures only: nearly every entry is "ok", and a filter on ok walks the log newest first anyway.
            CREATE INDEX IF NOT EXISTS ix_audit_failed ON audit(seq) WHERE result = 'failed';
            CREATE INDEX IF NOT EXISTS ix_audit_time ON audit(time);
            """);
    }

    /// <summary>Columns added to existing tables since the first build: the CREATE TABLE above has them for a new state.</summary>
    private static readonly (string Table, string Column, string Definition)[] AddedColumns =
    [
        ("pending", "changes", "INTEGER NOT NULL DEFAULT 0"),
        ("audit", "user_name", "TEXT COLLATE NOCASE"),
        ("audit", "changes", "TEXT"),
        ("audit", "journal_position", "INTEGER"),
        ("audit", "event_time", "INTEGER"),
        ("audit", "writer", "TEXT"),
        ("audit", "scim_type", "TEXT"),
        ("audit", "action", "TEXT"),
    ];

    private static void Exec(SqliteConnection db, string sql, params (string, object?)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs <paramref name="work"/> in one transaction (many small writes are cheap together).</summary>
    public void Batch(Action<ShadowWriter> work)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            work(new ShadowWriter(_db, tx, _statements, _keys));
            tx.Commit();
        }
    }

    /// <summary>
    /// Group commit for the many small writes of concurrent operations (a create's account, link and audit
    /// record): the work is queued, one writer applies everything queued so far in one transaction, and the
    /// task completes once that transaction has committed. Callers never block a thread on the store's
    /// lock, which with 16 operations in flight had been what bounded an initial load.
    /// </summary>
    public Task WriteAsync(Action<ShadowWriter> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_writes.Writer.TryWrite((work, done))) throw new ObjectDisposedException(nameof(ShadowStore));
        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var group = new List<(Action<ShadowWriter> Work, TaskCompletionSource Done)>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < 2000 && _writes.Reader.TryRead(out var item)) group.Add(item);
            try
            {
                Batch(w =>
                {
                    foreach (var (work, _) in group) work(w);
                });
                foreach (var (_, done) in group) done.TrySetResult();
            }
            catch (Exception) when (group.Count > 1)
            {
                // One write failed and the group was rolled back: each is applied alone, so that only the
                // failing one reports it.
                foreach (var (work, done) in group)
                {
                    try
                    {
                        Batch(work);
                        done.TrySetResult();
                    }
                    catch (Exception e)
                    {
                        done.TrySetException(e);
                    }
                }
            }
            catch (Exception e)
            {
                group[0].Done.TrySetException(e);
            }
        }
    }

    /// <summary>Everything the engine knows about a target, for planning without calling it.</summary>
    public TargetState LoadState(string target)
    {
        lock (_gate)
        {
            // A whole target in memory (reconciliation of 100,000 accounts within 500 MB): the target's meta
            // (location, timestamps, version) plays no part in planning or drift and is left in the file, and a
            // linked account's id is one string shared by the account and its link.
            var links = Pairs("SELECT target_id, source_id FROM links WHERE target = @t", target);
            var linkIds = links.Keys.ToHashSet(StringComparer.Ordinal);
            var accounts = new List<TargetAccount>();
            using (var cmd = Command("SELECT target_id, json_remove(data, '$.meta'), json_remove(synced, '$.meta') FROM shadow_accounts WHERE target = @t", ("@t", target)))
            using (var r = cmd.ExecuteReader())
                while (r.Read())
                {
                    var data = r.GetString(1);
                    // Usually the synced copy is the data itself: one array serves both.
                    var bytes = System.Text.Encoding.UTF8.GetBytes(data);
                    var synced = r.IsDBNull(2) ? null : r.GetString(2) is var sy && sy == data ? bytes : System.Text.Encoding.UTF8.GetBytes(sy);
                    var id = r.GetString(0);
                    accounts.Add(new TargetAccount(linkIds.TryGetValue(id, out var shared) ? shared : id, bytes, synced));
                }
            return new TargetState(accounts, LoadGroups(target), links, Pairs("SELECT target_id, source_id FROM group_links WHERE target = @t", target));
        }
    }

    /// <summary>
    /// The part of a target's state that concerns some source accounts: their linked accounts, and unlinked
    /// accounts that share a user name or externalId with them (so incremental work never creates a duplicate).
    /// </summary>
    public TargetState LoadStateFor(string target, IReadOnlyCollection<string> sourceIds, IReadOnlyCollection<string> userNames, IReadOnlyCollection<string> externalIds)
    {
        lock (_gate)
        {
            var links = new Dictionary<string, string>(StringComparer.Ordinal);
            var accounts = new Dictionary<string, TargetAccount>(StringComparer.Ordinal);
            foreach (var sid in sourceIds)
                using (var cmd = Command("SELECT target_id FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sid)))
                using (var r = cmd.ExecuteReader())
                    while (r.Read()) links[r.GetString(0)] = sid;
            void Add(string sql, string value)
            {
                using var cmd = Command(sql, ("@t", target), ("@v", value));
                using var r = cmd.ExecuteReader();
                while (r.Read()) accounts[r.GetString(0)] = new TargetAccount(r.GetString(0), Utf8(r, 1));
            }
            foreach (var id in links.Keys) Add("SELECT target_id, data FROM shadow_accounts WHERE target = @t AND target_id = @v", id);
            // INDEXED BY: without statistics SQLite prefers scanning the (target, target_id) primary key.
            foreach (var u in userNames) Add("SELECT target_id, data FROM shadow_accounts INDEXED BY ix_shadow_user WHERE target = @t AND user_name = @v COLLATE NOCASE", u);
            foreach (var e in externalIds) Add("SELECT target_id, data FROM shadow_accounts INDEXED BY ix_shadow_external WHERE target = @t AND external_id = @v", e);
            // Unlinked accounts found by name may be linked to someone else: the planner must know.
            foreach (var id in accounts.Keys.Where(k => !links.ContainsKey(k)).ToArray())
                using (var cmd = Command("SELECT source_id FROM links WHERE target = @t AND target_id = @v", ("@t", target), ("@v", id)))
                    if (cmd.ExecuteScalar() is string other) links[id] = other;
            // Only the memberships of the accounts concerned: a large group's other members are never loaded.
            // The managed total is the whole target's, so the guard measures a batch against the application.
            using var count = Command("SELECT count(*) FROM links WHERE target = @t", ("@t", target));
            var managed = Convert.ToInt32(count.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            return new TargetState(accounts.Values.ToArray(), LoadGroups(target, links.Keys.ToArray()), links,
                Pairs("SELECT target_id, source_id FROM group_links WHERE target = @t", target)) { ManagedAccounts = managed };
        }
    }

    private static byte[] Utf8(SqliteDataReader r, int column) => System.Text.Encoding.UTF8.GetBytes(r.GetString(column));

    private List<TargetGroup> LoadGroups(string target, IReadOnlyCollection<string>? onlyMembers = null)
    {
        var members = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Read(SqliteCommand cmd)
        {
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                if (!members.TryGetValue(r.GetString(0), out var list)) members[r.GetString(0)] = list = [];
                list.Add(r.GetString(1));
            }
        }
        if (onlyMembers is null)
            using (var cmd = Command("SELECT group_id, member_id FROM shadow_group_members WHERE target = @t", ("@t", target))) Read(cmd);
        else
            foreach (var m in onlyMembers)
                using (var cmd = Command("SELECT group_id, member_id FROM shadow_group_members INDEXED BY ix_shadow_member WHERE target = @t AND member_id = @m", ("@t", target), ("@m", m))) Read(cmd);
        var groups = new List<TargetGroup>();
        using (var cmd = Command("SELECT target_id, display_name, external_id FROM shadow_groups WHERE target = @t", ("@t", target)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                groups.Add(new TargetGroup(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), members.GetValueOrDefault(r.GetString(0)) ?? []));
        return groups;
    }

    private Dictionary<string, string> Pairs(string sql, string target)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cmd = Command(sql, ("@t", target));
        using var r = cmd.ExecuteReader();
        while (r.Read()) map[r.GetString(0)] = r.GetString(1);
        return map;
    }

    /// <summary>The target account linked to a source account, if any.</summary>
    public string? TargetIdOf(string target, string sourceId)
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT target_id FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId));
            return cmd.ExecuteScalar() as string;
        }
    }

    /// <summary>The source account a target account is linked to, if any.</summary>
    public string? OwnerOf(string target, string targetId)
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            return cmd.ExecuteScalar() as string;
        }
    }

    /// <summary>Ids and user names of a target's cached accounts (what reconciliation compares a fresh read with).</summary>
    public IReadOnlyDictionary<string, string> AccountNames(string target)
    {
        lock (_gate)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT target_id, user_name FROM shadow_accounts WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) map[r.GetString(0)] = r.GetString(1);
            return map;
        }
    }

    public string? GetCheckpoint(string key)
    {
        lock (_gate)
        {
            using var cmd = Command("SELECT value FROM checkpoints WHERE key = @k", ("@k", key));
            return cmd.ExecuteScalar() as string;
        }
    }

    public void SetCheckpoint(string key, string? value) => Batch(w => w.SetCheckpoint(key, value));

    /// <summary>The source accounts that own an account on the target.</summary>
    public HashSet<string> LinkedSources(string target)
    {
        lock (_gate)
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        }
    }

    /// <summary>
    /// The source's group memberships as of the work the engine last queued or did: a resumed engine
    /// compares them with a fresh read, since replayed group events find its copy already up to date and
    /// could not tell who joined or left.
    /// </summary>
    public Dictionary<string, HashSet<string>> SourceGroupMembers()
    {
        lock (_gate)
        {
            var groups = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            using var cmd = Command("SELECT group_id, member_id FROM source_group_members");
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var g = r.GetString(0);
                if (!groups.TryGetValue(g, out var set)) groups[g] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(r.GetString(1));
            }
            return groups;
        }
    }

    public IReadOnlyList<AuditRecord> Audit(int max, string? target = null)
    {
        lock (_gate)
        {
            using var cmd = Command($"""
                SELECT {AuditColumns} FROM audit
                WHERE @t IS NULL OR target = @t ORDER BY seq DESC LIMIT @m
                """, ("@t", target), ("@m", max));
            var list = ReadAudit(cmd);
            list.Reverse();
            return list;
        }
    }

    public (int Accounts, int Links, int Groups, int Pending) Counts(string target)
    {
        lock (_gate)
        {
            using var cmd = Command("""
                SELECT (SELECT count(*) FROM shadow_accounts WHERE target = @t), (SELECT count(*) FROM links WHERE target = @t),
                       (SELECT count(*) FROM shadow_groups WHERE target = @t), (SELECT count(*) FROM pending WHERE target = @t)
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3));
        }
    }

    /// <summary>Up to <paramref name="max"/> queued source ids for a target, urgent first.</summary>
    /// <summary>
    /// The next queued keys, urgent first, then oldest first. <c>Changes</c> counts the changes queued for
    /// the key so far: dequeueing with it leaves the entry in place when another change arrived meanwhile.
    /// </summary>
    public IReadOnlyList<PendingChange> Pending(string target, int max, bool urgentOnly = false)
    {
        lock (_gate)
        {
            using var cmd = Command(urgentOnly
                ? "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t AND urgent = 1 ORDER BY urgent DESC, enqueued LIMIT @m"
                : "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t ORDER BY urgent DESC, enqueued LIMIT @m", ("@t", target), ("@m", max));
            using var r = cmd.ExecuteReader();
            var list = new List<PendingChange>();
            while (r.Read()) list.Add(new PendingChange(r.GetString(0), r.GetInt64(1) != 0, r.GetInt64(2)));
            return list;
        }
    }

    /// <summary>A prepared statement, reused (one connection, always used under the lock).</summary>
    private SqliteCommand Command(string sql, params (string, object?)[] args) => Prepare(_db, _statements, sql, null, args);

    internal static SqliteCommand Prepare(SqliteConnection db, Dictionary<string, SqliteCommand> cache, string sql, SqliteTransaction? tx, (string, object?)[] args)
    {
        if (!cache.TryGetValue(sql, out var cmd))
        {
            cmd = new ReusableCommand { Connection = db, CommandText = sql };
            cache[sql] = cmd;
        }
        cmd.Transaction = tx;
        cmd.Parameters.Clear();
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd;
    }

    /// <summary>A command whose <c>using</c> at the call site keeps it prepared; the store releases it on dispose.</summary>
    private sealed class ReusableCommand : SqliteCommand
    {
        protected override void Dispose(bool disposing)
        {
        }

        public void Release() => base.Dispose(true);
    }

    public void Dispose()
    {
        // Queued writes are committed before the connection closes.
        _writes.Writer.TryComplete();
        _writer.GetAwaiter().GetResult();
        lock (_gate)
        {
            foreach (var c in _statements.Values) ((ReusableCommand)c).Release();
            _statements.Clear();
            _db.Dispose();
        }
        _lock.Dispose();
    }
}
