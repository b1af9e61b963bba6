using Npgsql;
using ScimSync.Postgres;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// The engine's durable state in a PostgreSQL schema, the same state as SqliteSyncState through the same port, for
/// several engine processes: each works on the targets it holds a lease on (<see cref="PostgresTargetLeases"/>),
/// and what it wrote is what the next owner of a target reads.
/// </summary>
/// <remarks>
/// Reads take a pooled connection each and see what has committed. A unit of work (<see cref="Batch"/>,
/// <see cref="WriteAsync"/>) is one PostgreSQL transaction. Engines writing at the same time can meet on the same
/// rows (each queues every change for every target), and PostgreSQL then aborts one of them (deadlock,
/// serialization): nothing of it was written, and it is run again, a few times, before it fails. The layout is in
/// <see cref="PostgresStateSchema"/>. PostgreSQL's failures leave as <see cref="SyncStateUnavailableException"/>.
/// </remarks>
public sealed partial class PostgresSyncState : ISyncState
{
    private const int Attempts = 4;

    private readonly NpgsqlDataSource _source;
    private readonly KeyRing _keys;
    private readonly string _display;
    private readonly GroupCommit _writes;

    private PostgresSyncState(NpgsqlDataSource source, KeyRing keys, string display, string connectionString)
    {
        _source = source;
        _keys = keys;
        _display = display;
        ConnectionString = connectionString;
        _writes = new GroupCommit(Batch, nameof(PostgresSyncState));
    }

    /// <summary>Where the state is, as people may see it (no password).</summary>
    public string Display => _display;

    /// <summary>For the leases, which live in the same schema.</summary>
    internal string ConnectionString { get; }

    /// <summary>
    /// Opens (creating or upgrading its tables) the state in the database named by <paramref name="connection"/>, a
    /// <c>postgres://</c> URL or an Npgsql connection string; <c>?schema=</c> names the schema (default
    /// <c>scimsync_sync</c>, so that the state never mixes with the server's tables in <c>public</c>).
    /// </summary>
    /// <param name="keys">Seals the secrets; every engine sharing the state needs the same key file.</param>
    /// <param name="instance">This process's name in pg_stat_activity (application_name).</param>
    public static PostgresSyncState Open(string connection, KeyRing keys, string? instance = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString(connection));
        if (string.IsNullOrEmpty(builder.SearchPath)) builder.SearchPath = "scimsync_sync";
        builder.ApplicationName ??= "scimsync-sync:" + (instance ?? $"{Environment.MachineName}:{Environment.ProcessId}");
        // A connection that cannot be had fails the work that wanted it, within seconds: never a hang.
        if (builder.Timeout == 15) builder.Timeout = 10;
        builder.Options = (builder.Options + " -c idle_in_transaction_session_timeout=60000").Trim();
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 128;
        var display = PostgresUrl.Describe(builder);
        var source = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            using (var db = source.OpenConnection())
            {
                PostgresStateSchema.Upgrade(db, builder.SearchPath, display);
                // A key file that does not open the secrets stops the engine now, not at its first poll.
                using var cmd = new NpgsqlCommand("SELECT key, value FROM secrets", db);
                using var r = cmd.ExecuteReader();
                while (r.Read()) keys.Unseal(r.GetString(1), StoredSecrets.Purpose(r.GetString(0)));
            }
            return new PostgresSyncState(source, keys, display, builder.ConnectionString);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            source.Dispose();
            throw new SyncStateUnavailableException($"{display}: the engine's state cannot be opened: {e.Message}", e);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> as one transaction, again when PostgreSQL aborted it for a concurrent writer.</summary>
    public void Batch(Action<IStateWriter> work)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var db = _source.OpenConnection();
                using var tx = db.BeginTransaction();
                work(new PostgresStateWriter(db, tx, _keys));
                tx.Commit();
                return;
            }
            catch (PostgresException e) when (attempt < Attempts && e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
            {
                // Rolled back whole: running the work again writes it once.
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                throw Unavailable(e);
            }
        }
    }

    /// <summary>Group commit, as on SQLite: what was queued meanwhile is applied in one transaction.</summary>
    public Task WriteAsync(Action<IStateWriter> work) => _writes.WriteAsync(work);

    /// <summary>A read on a pooled connection, with PostgreSQL's failures reported as the port's.</summary>
    private T Read<T>(Func<NpgsqlConnection, T> query)
    {
        try
        {
            using var db = _source.OpenConnection();
            return query(db);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw Unavailable(e);
        }
    }

    private SyncStateUnavailableException Unavailable(Exception e) => new($"{_display}: the engine's state failed: {e.Message}", e);

    internal static NpgsqlCommand Command(NpgsqlConnection db, NpgsqlTransaction? tx, string sql, params (string, object?)[] args)
    {
        var cmd = new NpgsqlCommand(sql, db, tx);
        foreach (var (n, v) in args)
            // A null's type comes from where it is used; text where nothing says (a comparison with a text column).
            cmd.Parameters.Add(v is null ? new NpgsqlParameter(n, NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value } : new NpgsqlParameter(n, v));
        return cmd;
    }

    private static List<T> Rows<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> row)
    {
        using (cmd)
        using (var r = cmd.ExecuteReader())
        {
            var list = new List<T>();
            while (r.Read()) list.Add(row(r));
            return list;
        }
    }

    private static object? Scalar(NpgsqlCommand cmd)
    {
        using (cmd) return cmd.ExecuteScalar() is var v && v is DBNull ? null : v;
    }

    private static string? Text(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    private static int Int(object? value) => Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The account without its meta (location, timestamps, version play no part in planning or drift), as SQLite's
    /// json_remove gives it; the text is parsed only when it has a meta at all.
    /// </summary>
    private static byte[] WithoutMeta(string json)
    {
        if (!json.Contains("\"meta\"", StringComparison.Ordinal)) return System.Text.Encoding.UTF8.GetBytes(json);
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node.Remove("meta");
        return System.Text.Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    public TargetState LoadState(string target) => Read(db =>
    {
        var links = Pairs(db, "SELECT target_id, source_id FROM links WHERE target = @t", target);
        var linkIds = links.Keys.ToHashSet(StringComparer.Ordinal);
        var accounts = Rows(Command(db, null, "SELECT target_id, data, synced FROM shadow_accounts WHERE target = @t", ("@t", target)), r =>
        {
            var data = r.GetString(1);
            var bytes = WithoutMeta(data);
            // Usually the synced copy is the data itself: one array serves both.
            var synced = r.IsDBNull(2) ? null : r.GetString(2) is var sy && sy == data ? bytes : WithoutMeta(sy);
            var id = r.GetString(0);
            return new TargetAccount(linkIds.TryGetValue(id, out var shared) ? shared : id, bytes, synced);
        });
        return new TargetState(accounts, LoadGroups(db, target), links, Pairs(db, "SELECT target_id, source_id FROM group_links WHERE target = @t", target));
    });

    public TargetState LoadStateFor(string target, IReadOnlyCollection<string> sourceIds, IReadOnlyCollection<string> userNames, IReadOnlyCollection<string> externalIds) => Read(db =>
    {
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        var accounts = new Dictionary<string, TargetAccount>(StringComparer.Ordinal);
        // One round trip per kind of key (arrays), not one per key.
        foreach (var (tid, sid) in Rows(Command(db, null, "SELECT target_id, source_id FROM links WHERE target = @t AND source_id = ANY(@s)", ("@t", target), ("@s", sourceIds.ToArray())),
                     r => (r.GetString(0), r.GetString(1))))
            links[tid] = sid;
        void Add(string sql, string[] values)
        {
            foreach (var a in Rows(Command(db, null, sql, ("@t", target), ("@v", values)), r => new TargetAccount(r.GetString(0), System.Text.Encoding.UTF8.GetBytes(r.GetString(1)))))
                accounts[a.Id] = a;
        }
        Add("SELECT target_id, data FROM shadow_accounts WHERE target = @t AND target_id = ANY(@v)", links.Keys.ToArray());
        Add("SELECT target_id, data FROM shadow_accounts WHERE target = @t AND lower(user_name) = ANY(SELECT lower(u) FROM unnest(@v) AS u)", userNames.ToArray());
        Add("SELECT target_id, data FROM shadow_accounts WHERE target = @t AND external_id = ANY(@v)", externalIds.ToArray());
        // Unlinked accounts found by name may be linked to someone else: the planner must know.
        var unlinked = accounts.Keys.Where(k => !links.ContainsKey(k)).ToArray();
        foreach (var (tid, sid) in Rows(Command(db, null, "SELECT target_id, source_id FROM links WHERE target = @t AND target_id = ANY(@v)", ("@t", target), ("@v", unlinked)),
                     r => (r.GetString(0), r.GetString(1))))
            links[tid] = sid;
        var managed = Int(Scalar(Command(db, null, "SELECT count(*) FROM links WHERE target = @t", ("@t", target))));
        // Besides the accounts concerned, the managed groups as members of groups: nested groups are few, and the
        // planner needs them to add or remove a nested group without reading every member.
        var groupLinks = Pairs(db, "SELECT target_id, source_id FROM group_links WHERE target = @t", target);
        return new TargetState(accounts.Values.ToArray(), LoadGroups(db, target, [.. links.Keys, .. groupLinks.Keys]), links, groupLinks) { ManagedAccounts = managed };
    });

    private static List<TargetGroup> LoadGroups(NpgsqlConnection db, string target, string[]? onlyMembers = null)
    {
        var members = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var rows = onlyMembers is null
            ? Rows(Command(db, null, "SELECT group_id, member_id FROM shadow_group_members WHERE target = @t", ("@t", target)), r => (r.GetString(0), r.GetString(1)))
            : Rows(Command(db, null, "SELECT group_id, member_id FROM shadow_group_members WHERE target = @t AND member_id = ANY(@m)", ("@t", target), ("@m", onlyMembers)), r => (r.GetString(0), r.GetString(1)));
        foreach (var (g, m) in rows)
        {
            if (!members.TryGetValue(g, out var list)) members[g] = list = [];
            list.Add(m);
        }
        return Rows(Command(db, null, "SELECT target_id, display_name, external_id FROM shadow_groups WHERE target = @t", ("@t", target)),
            r => new TargetGroup(r.GetString(0), r.GetString(1), Text(r, 2), members.GetValueOrDefault(r.GetString(0)) ?? []));
    }

    private static Dictionary<string, string> Pairs(NpgsqlConnection db, string sql, string target)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in Rows(Command(db, null, sql, ("@t", target)), r => (r.GetString(0), r.GetString(1)))) map[k] = v;
        return map;
    }

    public string? TargetIdOf(string target, string sourceId) =>
        Read(db => Scalar(Command(db, null, "SELECT target_id FROM links WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId))) as string);

    public string? OwnerOf(string target, string targetId) =>
        Read(db => Scalar(Command(db, null, "SELECT source_id FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId))) as string);

    public IReadOnlyDictionary<string, string> AccountNames(string target) =>
        Read(db => Pairs(db, "SELECT target_id, user_name FROM shadow_accounts WHERE target = @t", target));

    public string? GetCheckpoint(string key) => Read(db => Scalar(Command(db, null, "SELECT value FROM checkpoints WHERE key = @k", ("@k", key))) as string);

    public void SetCheckpoint(string key, string? value) => Batch(w => w.SetCheckpoint(key, value));

    public HashSet<string> LinkedSources(string target) =>
        Read(db => Rows(Command(db, null, "SELECT source_id FROM links WHERE target = @t", ("@t", target)), r => r.GetString(0)).ToHashSet(StringComparer.Ordinal));

    public Dictionary<string, HashSet<string>> SourceGroupMembers() => Read(db =>
    {
        var groups = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (g, m) in Rows(Command(db, null, "SELECT group_id, member_id FROM source_group_members"), r => (r.GetString(0), r.GetString(1))))
        {
            if (!groups.TryGetValue(g, out var set)) groups[g] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(m);
        }
        return groups;
    });

    public (int Accounts, int Links, int Groups, int Pending) Counts(string target) => Read(db => Rows(Command(db, null, """
        SELECT (SELECT count(*) FROM shadow_accounts WHERE target = @t), (SELECT count(*) FROM links WHERE target = @t),
               (SELECT count(*) FROM shadow_groups WHERE target = @t), (SELECT count(*) FROM pending WHERE target = @t)
        """, ("@t", target)), r => ((int)r.GetInt64(0), (int)r.GetInt64(1), (int)r.GetInt64(2), (int)r.GetInt64(3)))[0]);

    public IReadOnlyList<PendingChange> Pending(string target, int max, bool urgentOnly = false) => Read(db => Rows(Command(db, null, urgentOnly
            ? "SELECT source_id, urgent, changes FROM pending WHERE target = @t AND urgent ORDER BY urgent DESC, enqueued, source_id LIMIT @m"
            : "SELECT source_id, urgent, changes FROM pending WHERE target = @t ORDER BY urgent DESC, enqueued, source_id LIMIT @m", ("@t", target), ("@m", max)),
        r => new PendingChange(r.GetString(0), r.GetBoolean(1), r.GetInt64(2))));

    public void Dispose()
    {
        // Queued writes are committed before the connections close.
        _writes.Dispose();
        _source.Dispose();
    }
}
