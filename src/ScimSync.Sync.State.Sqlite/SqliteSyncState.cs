using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// The engine's durable state in one SQLite file: the shadow of every target (its accounts and groups as
/// last seen, with the target's ids), the links from target accounts to source accounts, checkpoints
/// (feed position, subscription), the per-target queue of accounts to resync, and the audit log.
/// Links live apart from the cached accounts so that a link survives a refresh in which its account is
/// missing: that is how an out-of-band deletion is recognised. Each account keeps two copies: <c>data</c>,
/// as last seen, and <c>synced</c>, as the engine last wrote or accepted it; out-of-band edits are the
/// difference, and they stay visible until repaired, however often the target is read.
/// </summary>
/// <remarks>
/// Each process writes through one connection, one transaction at a time; a watching engine and the commands that
/// read beside it (`sync status`, `sync log`) share the file (WAL), and key rotation opens it alone (<see cref="DirectoryLock"/>). The layout and
/// its versions are in <see cref="SqliteStateSchema"/>. SQLite's failures leave as <see cref="SyncStateUnavailableException"/>.
/// </remarks>
public sealed partial class SqliteSyncState : ISyncState
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly System.Threading.Channels.Channel<(Action<IStateWriter> Work, TaskCompletionSource Done)> _writes =
        System.Threading.Channels.Channel.CreateUnbounded<(Action<IStateWriter>, TaskCompletionSource)>(new() { SingleReader = true });
    private readonly Task _writer;
    private readonly KeyRing _keys;
    private readonly DirectoryLock _lock;

    private SqliteSyncState(SqliteConnection db, KeyRing keys, DirectoryLock directoryLock)
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
    public static SqliteSyncState Open(string directory, KeyRing? keys = null, bool exclusive = false)
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
            // Settings of the connection and the file, not of the layout: applied at every open.
            Exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA secure_delete = FAST;");
            SqliteStateSchema.Upgrade(db, path);
            SealLegacySecrets(db, keys);
            return new SqliteSyncState(db, keys, directoryLock);
        }
        catch (SqliteException e)
        {
            // Not a database, damaged, unreadable: the file is left as it is, for a person to look at.
            db?.Dispose();
            directoryLock.Dispose();
            throw new SyncStateUnavailableException($"{path}: the engine's state cannot be opened: {e.Message}", e);
        }
        catch
        {
            db?.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }

    private static void Exec(SqliteConnection db, string sql, params (string, object?)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs <paramref name="work"/> in one transaction (many small writes are cheap together).</summary>
    public void Batch(Action<IStateWriter> work)
    {
        lock (_gate)
        {
            try
            {
                using var tx = _db.BeginTransaction();
                work(new SqliteStateWriter(_db, tx, _statements, _keys));
                tx.Commit();
            }
            catch (SqliteException e)
            {
                throw Unavailable(e);
            }
        }
    }

    /// <summary>
    /// A read under the connection's lock (one connection: its prepared statements are not shared between threads),
    /// with SQLite's failures reported as the port's.
    /// </summary>
    private T Read<T>(Func<T> query)
    {
        lock (_gate)
        {
            try
            {
                return query();
            }
            catch (SqliteException e)
            {
                throw Unavailable(e);
            }
        }
    }

    private static SyncStateUnavailableException Unavailable(SqliteException e) =>
        new($"the engine's state failed: {e.Message}", e);

    /// <summary>
    /// Group commit for the many small writes of concurrent operations (a create's account, link and audit
    /// record): the work is queued, one writer applies everything queued so far in one transaction, and the
    /// task completes once that transaction has committed. Callers never block a thread on the store's
    /// lock, which with 16 operations in flight had been what bounded an initial load.
    /// </summary>
    public Task WriteAsync(Action<IStateWriter> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_writes.Writer.TryWrite((work, done))) throw new ObjectDisposedException(nameof(SqliteSyncState));
        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var group = new List<(Action<IStateWriter> Work, TaskCompletionSource Done)>();
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
        return Read(() =>
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
        });
    }

    /// <summary>
    /// The part of a target's state that concerns some source accounts: their linked accounts, and unlinked
    /// accounts that share a user name or externalId with them (so incremental work never creates a duplicate).
    /// </summary>
    public TargetState LoadStateFor(string target, IReadOnlyCollection<string> sourceIds, IReadOnlyCollection<string> userNames, IReadOnlyCollection<string> externalIds)
    {
        return Read(() =>
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
        });
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
        return Read(() =>
        {
            using var cmd = Command("SELECT target_id FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId));
            return cmd.ExecuteScalar() as string;
        });
    }

    /// <summary>The source account a target account is linked to, if any.</summary>
    public string? OwnerOf(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            return cmd.ExecuteScalar() as string;
        });
    }

    /// <summary>Ids and user names of a target's cached accounts (what reconciliation compares a fresh read with).</summary>
    public IReadOnlyDictionary<string, string> AccountNames(string target)
    {
        return Read(() =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT target_id, user_name FROM shadow_accounts WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) map[r.GetString(0)] = r.GetString(1);
            return map;
        });
    }

    public string? GetCheckpoint(string key)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT value FROM checkpoints WHERE key = @k", ("@k", key));
            return cmd.ExecuteScalar() as string;
        });
    }

    public void SetCheckpoint(string key, string? value) => Batch(w => w.SetCheckpoint(key, value));

    /// <summary>The source accounts that own an account on the target.</summary>
    public HashSet<string> LinkedSources(string target)
    {
        return Read(() =>
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        });
    }

    /// <summary>
    /// The source's group memberships as of the work the engine last queued or did: a resumed engine
    /// compares them with a fresh read, since replayed group events find its copy already up to date and
    /// could not tell who joined or left.
    /// </summary>
    public Dictionary<string, HashSet<string>> SourceGroupMembers()
    {
        return Read(() =>
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
        });
    }

    public IReadOnlyList<AuditRecord> Audit(int max, string? target = null)
    {
        return Read(() =>
        {
            using var cmd = Command($"""
                SELECT {AuditColumns} FROM audit
                WHERE @t IS NULL OR target = @t ORDER BY seq DESC LIMIT @m
                """, ("@t", target), ("@m", max));
            var list = ReadAudit(cmd);
            list.Reverse();
            return list;
        });
    }

    public (int Accounts, int Links, int Groups, int Pending) Counts(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("""
                SELECT (SELECT count(*) FROM shadow_accounts WHERE target = @t), (SELECT count(*) FROM links WHERE target = @t),
                       (SELECT count(*) FROM shadow_groups WHERE target = @t), (SELECT count(*) FROM pending WHERE target = @t)
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3));
        });
    }

    /// <summary>Up to <paramref name="max"/> queued source ids for a target, urgent first.</summary>
    /// <summary>
    /// The next queued keys, urgent first, then oldest first. <c>Changes</c> counts the changes queued for
    /// the key so far: dequeueing with it leaves the entry in place when another change arrived meanwhile.
    /// </summary>
    public IReadOnlyList<PendingChange> Pending(string target, int max, bool urgentOnly = false)
    {
        return Read(() =>
        {
            using var cmd = Command(urgentOnly
                ? "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t AND urgent = 1 ORDER BY urgent DESC, enqueued LIMIT @m"
                : "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t ORDER BY urgent DESC, enqueued LIMIT @m", ("@t", target), ("@m", max));
            using var r = cmd.ExecuteReader();
            var list = new List<PendingChange>();
            while (r.Read()) list.Add(new PendingChange(r.GetString(0), r.GetInt64(1) != 0, r.GetInt64(2)));
            return list;
        });
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
