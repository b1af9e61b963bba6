using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Journal;
using ScimSync.Store.Resources;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// One request's writes: a savepoint inside the writer's group transaction (group commit, see
/// SqliteConnectionPool.Group.cs). Committing releases the savepoint and waits for the group's COMMIT;
/// disposing without committing rolls back to it, undoing this session's writes and no one else's.
/// </summary>
internal sealed class SqliteWriteSession : IWriteSession
{
    private readonly SqliteConnectionPool _pool;
    private readonly SqliteConnection _c;
    private SqliteTransaction? _tx;

    // Stored text stays readable (no \u escapes for non-ASCII); it is never embedded in HTML.
    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private SqliteWriteSession(SqliteConnectionPool pool, SqliteConnection connection, SqliteTransaction transaction)
    {
        _pool = pool;
        _c = connection;
        _tx = transaction;
    }

    public static async Task<SqliteWriteSession> BeginAsync(SqliteConnectionPool pool, CancellationToken ct)
    {
        var (connection, transaction) = await pool.JoinGroupAsync(ct).ConfigureAwait(false);
        return new SqliteWriteSession(pool, connection, transaction);
    }

    private SqliteCommand Command(string sql)
    {
        var cmd = _c.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = sql;
        return cmd;
    }

    public Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct) =>
        Task.FromResult(SqliteReads.Find(_c, _tx, rt.Name, id, load));

    /// <summary>One indexed lookup each: in-process, there is no round trip to save.</summary>
    public Task<IReadOnlyDictionary<string, string>> FindResourceTypesAsync(IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        var found = new Dictionary<string, string>(ids.Count, StringComparer.Ordinal);
        using var cmd = Command("SELECT type FROM resources WHERE id = @id");
        var id = cmd.Parameters.Add("@id", SqliteType.Text);
        foreach (var value in ids)
        {
            id.Value = value;
            if (cmd.ExecuteScalar() is string type) found[value] = type;
        }
        return Task.FromResult<IReadOnlyDictionary<string, string>>(found);
    }

    public Task<bool> ValueTakenAsync(ResourceTypeDefinition rt, ResolvedAttribute attribute, string value, string? exceptId, CancellationToken ct)
    {
        var compiler = new SqliteFilterCompiler();
        var target = attribute.Target;
        var bound = new BoundComparison(attribute, ComparisonOperator.Eq,
            new BoundValue(AttributeType.String, target.CaseExact ? value : ScimText.Fold(value), 0, false, default) { CaseExact = target.CaseExact });
        var sql = compiler.Compile(bound);
        using var cmd = Command($"SELECT 1 FROM resources r WHERE r.type = @type AND r.id IS NOT @except AND {sql} LIMIT 1");
        cmd.Parameters.AddRange(compiler.Parameters);
        cmd.Parameters.AddWithValue("@type", rt.Name);
        cmd.Parameters.AddWithValue("@except", (object?)exceptId ?? DBNull.Value);
        return Task.FromResult(cmd.ExecuteScalar() is not null);
    }

    private const string InsertSql = """
        INSERT INTO resources(id, type, user_name_key, user_name_fold, external_id, display_name_fold, created, modified, version, password_hash, data)
        VALUES (@id, @type, @unk, @unf, @ext, @dn, @now, @now, 1, @pw, @data) RETURNING seq
        """;

    public Task<StoredResource> InsertAsync(ResourceTypeDefinition rt, string id, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct)
    {
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(rt.Name, data);
        var cmd = PreparedCommands.Get(_c, InsertSql, _tx,
            ("@id", id), ("@type", rt.Name), ("@unk", cols.UserNameKey), ("@unf", cols.UserNameFold), ("@ext", cols.ExternalId),
            ("@dn", cols.DisplayNameFold), ("@now", now.UtcTicks), ("@pw", passwordHash), ("@data", json));
        long seq;
        try
        {
            seq = (long)cmd.ExecuteScalar()!;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19) // SQLITE_CONSTRAINT
        {
            throw UniquenessError(data);
        }
        WriteValues(seq, rt.Name, data, replace: false);
        var stored = new StoredResource(seq, id, rt.Name, json, now, now, 1) { PasswordHash = passwordHash };
        if (members is not null) InsertMembers(seq, members);
        return Task.FromResult(stored);
    }

    public Task<StoredResource> UpdateAsync(StoredResource existing, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct)
    {
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(existing.ResourceType, data);
        using var cmd = Command("""
            UPDATE resources SET user_name_key = @unk, user_name_fold = @unf, external_id = @ext, display_name_fold = @dn,
                modified = @now, version = version + 1, password_hash = coalesce(@pw, password_hash), data = @data
            WHERE seq = @seq RETURNING version, password_hash
            """);
        AddColumns(cmd, cols);
        cmd.Parameters.AddWithValue("@now", now.UtcTicks);
        cmd.Parameters.AddWithValue("@pw", (object?)passwordHash ?? DBNull.Value);
        cmd.Parameters.AddWithValue("@data", json);
        cmd.Parameters.AddWithValue("@seq", existing.Seq);
        long version;
        string? hash;
        try
        {
            using var r = cmd.ExecuteReader();
            if (!r.Read()) throw ScimException.NotFound($"Resource {existing.Id} not found");
            version = r.GetInt64(0);
            hash = r.IsDBNull(1) ? null : r.GetString(1);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw UniquenessError(data);
        }
        WriteValues(existing.Seq, existing.ResourceType, data, replace: true);
        if (members is not null)
        {
            using var del = Command("DELETE FROM group_members WHERE group_seq = @s");
            del.Parameters.AddWithValue("@s", existing.Seq);
            del.ExecuteNonQuery();
            InsertMembers(existing.Seq, members);
        }
        return Task.FromResult(existing with { Data = json, LastModified = now, Version = version, PasswordHash = hash, Members = members ?? existing.Members });
    }

    private static ScimException UniquenessError(JsonObject data) =>
        ScimException.Uniqueness($"userName \"{data["userName"]?.GetValue<string>()}\" is already taken");

    private void InsertMembers(long seq, IReadOnlyList<MemberRef> members)
    {
        using var cmd = Command("INSERT OR IGNORE INTO group_members(group_seq, member_id, member_type, display) VALUES (@s, @m, @t, @d)");
        var s = cmd.Parameters.AddWithValue("@s", seq);
        var m = cmd.Parameters.Add("@m", SqliteType.Text);
        var t = cmd.Parameters.Add("@t", SqliteType.Text);
        var d = cmd.Parameters.Add("@d", SqliteType.Text);
        cmd.Prepare();
        foreach (var member in members)
        {
            m.Value = member.Value;
            t.Value = member.Type;
            d.Value = (object?)member.Display ?? DBNull.Value;
            cmd.ExecuteNonQuery();
        }
    }

    public Task<int> AddMembersAsync(StoredResource group, IReadOnlyList<MemberRef> members, CancellationToken ct)
    {
        using var cmd = Command("INSERT OR IGNORE INTO group_members(group_seq, member_id, member_type, display) VALUES (@s, @m, @t, @d)");
        cmd.Parameters.AddWithValue("@s", group.Seq);
        var m = cmd.Parameters.Add("@m", SqliteType.Text);
        var t = cmd.Parameters.Add("@t", SqliteType.Text);
        var d = cmd.Parameters.Add("@d", SqliteType.Text);
        var added = 0;
        foreach (var member in members)
        {
            m.Value = member.Value;
            t.Value = member.Type;
            d.Value = (object?)member.Display ?? DBNull.Value;
            added += cmd.ExecuteNonQuery();
        }
        return Task.FromResult(added);
    }

    public Task<int> RemoveMembersAsync(StoredResource group, IReadOnlyCollection<string> memberIds, CancellationToken ct)
    {
        using var cmd = Command("DELETE FROM group_members WHERE group_seq = @s AND member_id = @m");
        cmd.Parameters.AddWithValue("@s", group.Seq);
        var m = cmd.Parameters.Add("@m", SqliteType.Text);
        var removed = 0;
        foreach (var id in memberIds)
        {
            m.Value = id;
            removed += cmd.ExecuteNonQuery();
        }
        return Task.FromResult(removed);
    }

    public Task<int> ClearMembersAsync(StoredResource group, CancellationToken ct)
    {
        using var cmd = Command("DELETE FROM group_members WHERE group_seq = @s");
        cmd.Parameters.AddWithValue("@s", group.Seq);
        return Task.FromResult(cmd.ExecuteNonQuery());
    }

    public Task<IReadOnlyList<(string Id, long Version)>> DeleteAsync(StoredResource existing, DateTimeOffset now, CancellationToken ct)
    {
        var affected = new List<(string, long)>();
        using (var cmd = Command("""
            UPDATE resources SET version = version + 1, modified = @now
            WHERE seq IN (SELECT group_seq FROM group_members WHERE member_id = @id) RETURNING id, version
            """))
        {
            cmd.Parameters.AddWithValue("@id", existing.Id);
            cmd.Parameters.AddWithValue("@now", now.UtcTicks);
            using var r = cmd.ExecuteReader();
            while (r.Read()) affected.Add((r.GetString(0), r.GetInt64(1)));
        }
        using (var cmd = Command("""
            DELETE FROM group_members WHERE member_id = @id;
            DELETE FROM group_members WHERE group_seq = @seq;
            DELETE FROM resource_values WHERE seq = @seq;
            DELETE FROM resources WHERE seq = @seq;
            """))
        {
            cmd.Parameters.AddWithValue("@id", existing.Id);
            cmd.Parameters.AddWithValue("@seq", existing.Seq);
            cmd.ExecuteNonQuery();
        }
        return Task.FromResult<IReadOnlyList<(string, long)>>(affected);
    }

    public Task AppendJournalAsync(JournalAppend entry, CancellationToken ct)
    {
        using var activity = StoreMetrics.Source.StartActivity("journal.append");
        var position = SqliteJournal.Append(_c, _tx ?? throw new InvalidOperationException("The write session is closed"), entry);
        activity?.SetTag("scimsync.journal.position", position);
        activity?.SetTag("scimsync.txn", entry.Txn);
        return Task.CompletedTask;
    }

    public Task AddPendingPasswordsAsync(IReadOnlyList<Passwords.PendingPassword> passwords, CancellationToken ct)
    {
        foreach (var p in passwords)
        {
            using var cmd = Command("""
                INSERT INTO password_deliveries(subscription_id, id, resource_id, jwe, created, expires, visible_at)
                VALUES (@s, @id, @r, @jwe, @created, @expires, 0)
                """);
            cmd.Parameters.AddWithValue("@s", p.SubscriptionId);
            cmd.Parameters.AddWithValue("@id", p.Id);
            cmd.Parameters.AddWithValue("@r", p.ResourceId);
            cmd.Parameters.AddWithValue("@jwe", (object?)p.Jwe ?? DBNull.Value);
            cmd.Parameters.AddWithValue("@created", p.Created.UtcTicks);
            cmd.Parameters.AddWithValue("@expires", p.Expires.UtcTicks);
            cmd.ExecuteNonQuery();
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Completes once the group transaction holding this session's writes has committed (with synchronous=FULL,
    /// is on disk), and fails if it did not. Not cancellable: once the writes are in a group, they commit with
    /// it whether or not this caller still listens.
    /// </summary>
    public Task CommitAsync(CancellationToken ct)
    {
        if (_tx is null) throw new InvalidOperationException("The write session is closed");
        _tx = null;
        // The span covers waiting for the group's commit (and its fsync); no state machine unless someone listens.
        // Started in this synchronous method, it would stay the caller's current span: the caller's is put back.
        var caller = System.Diagnostics.Activity.Current;
        var activity = StoreMetrics.Source.StartActivity("store.commit");
        var committed = _pool.EndMember(keep: true);
        if (activity is null) return committed;
        System.Diagnostics.Activity.Current = caller;
        return Traced(committed, activity);

        static async Task Traced(Task committed, System.Diagnostics.Activity activity)
        {
            using (activity) await committed.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Without a commit: undoes this session's writes. Either way, returns only after the group it read from has
    /// committed, so an answer built on what earlier members wrote is not sent before that is durable.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_tx is null) return;
        _tx = null;
        try
        {
            await _pool.EndMember(keep: false).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            // The group failed; this session kept nothing in it, and whatever it is answering is already an error
            // or a no-op. The members that committed get the failure.
        }
    }

    private readonly record struct IndexColumns(string? UserNameKey, string? UserNameFold, string? ExternalId, string? DisplayNameFold);

    private static IndexColumns Columns(string type, JsonObject data)
    {
        var userName = type == "User" ? Text(data["userName"]) : null;
        return new IndexColumns(
            userName is null ? null : ScimText.UniquenessKey(userName),
            userName is null ? null : ScimText.Fold(userName),
            Text(data["externalId"]),
            Text(data["displayName"]) is { } dn ? ScimText.Fold(dn) : null);
    }

    private static string? Text(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static void AddColumns(SqliteCommand cmd, IndexColumns c)
    {
        cmd.Parameters.AddWithValue("@unk", (object?)c.UserNameKey ?? DBNull.Value);
        cmd.Parameters.AddWithValue("@unf", (object?)c.UserNameFold ?? DBNull.Value);
        cmd.Parameters.AddWithValue("@ext", (object?)c.ExternalId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("@dn", (object?)c.DisplayNameFold ?? DBNull.Value);
    }

    private void WriteValues(long seq, string type, JsonObject data, bool replace)
    {
        if (type != "User") return;
        if (replace)
        {
            using var del = Command("DELETE FROM resource_values WHERE seq = @s");
            del.Parameters.AddWithValue("@s", seq);
            del.ExecuteNonQuery();
        }
        foreach (var (attr, sub) in SqliteSchema.IndexedMultiValues)
        {
            if (data[attr] is not JsonArray arr) continue;
            foreach (var item in arr)
            {
                if (Text(item?[sub]) is not { } v) continue;
                PreparedCommands.Get(_c, "INSERT INTO resource_values(seq, attr, value_fold) VALUES (@s, @a, @v)", _tx,
                    ("@s", seq), ("@a", attr + "." + sub), ("@v", ScimText.Fold(v))).ExecuteNonQuery();
            }
        }
    }
}
