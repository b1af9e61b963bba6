using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Journal;
using ScimSync.Store.Resources;

namespace ScimSync.Store.Postgres;

/// <summary>
/// One request's writes: one PostgreSQL transaction (READ COMMITTED) on a connection of its own. PostgreSQL
/// commits concurrent transactions' WAL together (its own group commit), so nothing like the SQLite store's
/// savepoint groups is needed. What SQLite's single writer gave for free is made explicit:
/// <list type="bullet">
/// <item>the resource a session reads is locked (FOR UPDATE) until it commits, and the resources it names as
/// members are locked against deletion (FOR SHARE), so concurrent writers from any instance take turns;</item>
/// <item>a uniqueness check of an attribute without a unique index takes a transaction lock on the value first;</item>
/// <item>journal positions are made of the transaction's id, so that readers see them in order (PostgresJournal).</item>
/// </list>
/// After any failed statement PostgreSQL refuses the rest of the transaction; every caller ends the session then
/// (the request answers with the error), and disposing rolls back.
/// </summary>
internal sealed class PostgresWriteSession : IWriteSession
{
    private readonly NpgsqlConnection _c;
    private NpgsqlTransaction? _tx;

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private PostgresWriteSession(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _c = connection;
        _tx = transaction;
    }

    public static async Task<PostgresWriteSession> BeginAsync(NpgsqlDataSource source, CancellationToken ct)
    {
        var c = await source.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            return new PostgresWriteSession(c, await c.BeginTransactionAsync(ct).ConfigureAwait(false));
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private NpgsqlTransaction Tx => _tx ?? throw new InvalidOperationException("The write session is closed");

    private NpgsqlCommand Command(string sql, params object?[] args)
    {
        var cmd = new NpgsqlCommand(sql, _c, Tx);
        foreach (var a in args) cmd.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a ?? DBNull.Value });
        return cmd;
    }

    private static NpgsqlParameter Text(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text };

    private static NpgsqlParameter Jsonb(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Jsonb };

    public Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct) =>
        PostgresErrors.Guard(() => PostgresReads.FindAsync(_c, Tx, rt.Name, id, load, forUpdate: true, ct));

    /// <summary>Locks the row against deletion until commit: a member named now still exists when the write commits.</summary>
    public Task<string?> FindResourceTypeAsync(string id, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        await using var cmd = Command("SELECT type FROM resources WHERE id = $1 FOR SHARE", id);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    });

    public Task<bool> ValueTakenAsync(ResourceTypeDefinition rt, ResolvedAttribute attribute, string value, string? exceptId, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        var compiler = new PostgresFilterCompiler();
        var target = attribute.Target;
        var bound = new BoundComparison(attribute, ComparisonOperator.Eq,
            new BoundValue(AttributeType.String, target.CaseExact ? value : ScimText.Fold(value), 0, false, default) { CaseExact = target.CaseExact });
        var sql = compiler.Compile(bound);
        var type = compiler.Param(rt.Name);
        var except = compiler.Param((object?)exceptId ?? DBNull.Value);
        if (!IsUserName(attribute))
        {
            // No unique index answers for this attribute: two sessions checking the same value take turns, and the
            // second one's check (a new statement, a new snapshot) sees the first one's row once it committed.
            await using var lk = Command("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                $"scimsync:unique:{rt.Name}:{attribute.Attribute.Name}:{(target.CaseExact ? value : ScimText.Fold(value))}");
            await lk.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using var cmd = new NpgsqlCommand($"SELECT 1 FROM resources r WHERE r.type = {type} AND r.id IS DISTINCT FROM {except}::text AND {sql} LIMIT 1", _c, Tx);
        foreach (var p in compiler.Parameters) cmd.Parameters.Add(p);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
    });

    private static bool IsUserName(ResolvedAttribute a) =>
        a.ContainerUrn is null && a.SubAttribute is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User && a.Attribute.Name == "userName";

    public Task<StoredResource> InsertAsync(ResourceTypeDefinition rt, string id, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(rt.Name, data);
        var (attrs, values) = IndexedValues(rt.Name, data);
        // One round trip: the resource and its indexed values.
        await using var cmd = Command("""
            WITH r AS (
                INSERT INTO resources(id, type, user_name_key, user_name_fold, external_id, display_name_fold, created, modified, version, password_hash, data, folded, instants)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9, $10, $11) RETURNING seq),
            v AS (INSERT INTO resource_values(seq, attr, value_fold) SELECT r.seq, u.a, u.v FROM r, unnest($12::text[], $13::text[]) AS u(a, v))
            SELECT seq, pg_current_xact_id()::text::bigint FROM r
            """, id, rt.Name, Text(cols.UserNameKey), Text(cols.UserNameFold), Text(cols.ExternalId), Text(cols.DisplayNameFold), now.UtcTicks,
            Text(passwordHash), json, Jsonb(DerivedDocuments.Folded(data)), Jsonb(DerivedDocuments.Instants(data)), attrs, values);
        long seq;
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            seq = r.GetInt64(0);
            _xid = r.GetInt64(1);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw UniquenessError(data);
        }
        if (members is { Count: > 0 }) await InsertMembersAsync(seq, members, ct).ConfigureAwait(false);
        return new StoredResource(seq, id, rt.Name, json, now, now, 1) { PasswordHash = passwordHash };
    });

    public Task<StoredResource> UpdateAsync(StoredResource existing, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(existing.ResourceType, data);
        var (attrs, values) = IndexedValues(existing.ResourceType, data);
        await using var cmd = Command("""
            WITH u AS (
                UPDATE resources SET user_name_key = $1, user_name_fold = $2, external_id = $3, display_name_fold = $4,
                    modified = $5, version = version + 1, password_hash = coalesce($6, password_hash), data = $7, folded = $8, instants = $9
                WHERE seq = $10 RETURNING version, password_hash),
            d AS (DELETE FROM resource_values WHERE seq = $10),
            i AS (INSERT INTO resource_values(seq, attr, value_fold) SELECT $10, x.a, x.v FROM unnest($11::text[], $12::text[]) AS x(a, v))
            SELECT version, password_hash, pg_current_xact_id()::text::bigint FROM u
            """, Text(cols.UserNameKey), Text(cols.UserNameFold), Text(cols.ExternalId), Text(cols.DisplayNameFold), now.UtcTicks, Text(passwordHash),
            json, Jsonb(DerivedDocuments.Folded(data)), Jsonb(DerivedDocuments.Instants(data)), existing.Seq, attrs, values);
        long version;
        string? hash;
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) throw ScimException.NotFound($"Resource {existing.Id} not found");
            version = r.GetInt64(0);
            hash = r.IsDBNull(1) ? null : r.GetString(1);
            _xid = r.GetInt64(2);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw UniquenessError(data);
        }
        if (members is not null)
        {
            await using (var del = Command("DELETE FROM group_members WHERE group_seq = $1", existing.Seq))
                await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            if (members.Count > 0) await InsertMembersAsync(existing.Seq, members, ct).ConfigureAwait(false);
        }
        return existing with { Data = json, LastModified = now, Version = version, PasswordHash = hash, Members = members ?? existing.Members };
    });

    private static ScimException UniquenessError(JsonObject data) =>
        ScimException.Uniqueness($"userName \"{data["userName"]?.GetValue<string>()}\" is already taken");

    /// <summary>All members in one statement (arrays, not one row per round trip); returns how many were new.</summary>
    private async Task<int> InsertMembersAsync(long seq, IReadOnlyList<MemberRef> members, CancellationToken ct)
    {
        await using var cmd = Command("""
            INSERT INTO group_members(group_seq, member_id, member_type, display, type_fold, display_fold)
            SELECT $1, m.id, m.type, m.display, m.type_fold, m.display_fold
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS m(id, type, display, type_fold, display_fold)
            ON CONFLICT DO NOTHING
            """, seq,
            members.Select(m => m.Value).ToArray(), members.Select(m => m.Type).ToArray(), members.Select(m => m.Display).ToArray(),
            members.Select(m => ScimText.Fold(m.Type)).ToArray(), members.Select(m => m.Display is null ? null : ScimText.Fold(m.Display)).ToArray());
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public Task<int> AddMembersAsync(StoredResource group, IReadOnlyList<MemberRef> members, CancellationToken ct) =>
        members.Count == 0 ? Task.FromResult(0) : PostgresErrors.Guard(() => InsertMembersAsync(group.Seq, members, ct));

    public Task<int> RemoveMembersAsync(StoredResource group, IReadOnlyCollection<string> memberIds, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        await using var cmd = Command("DELETE FROM group_members WHERE group_seq = $1 AND member_id = ANY($2)", group.Seq, memberIds.Distinct().ToArray());
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    });

    public Task<int> ClearMembersAsync(StoredResource group, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        await using var cmd = Command("DELETE FROM group_members WHERE group_seq = $1", group.Seq);
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<(string Id, long Version)>> DeleteAsync(StoredResource existing, DateTimeOffset now, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        var affected = new List<(string, long)>();
        await using (var cmd = Command("""
            UPDATE resources SET version = version + 1, modified = $2
            WHERE seq IN (SELECT group_seq FROM group_members WHERE member_id = $1) RETURNING id, version
            """, existing.Id, now.UtcTicks))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) affected.Add((r.GetString(0), r.GetInt64(1)));
        await using var batch = new NpgsqlBatch(_c, Tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("DELETE FROM group_members WHERE member_id = $1") { Parameters = { new() { Value = existing.Id } } },
                new NpgsqlBatchCommand("DELETE FROM group_members WHERE group_seq = $1") { Parameters = { new() { Value = existing.Seq } } },
                new NpgsqlBatchCommand("DELETE FROM resource_values WHERE seq = $1") { Parameters = { new() { Value = existing.Seq } } },
                new NpgsqlBatchCommand("DELETE FROM resources WHERE seq = $1") { Parameters = { new() { Value = existing.Seq } } },
            },
        };
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        affected.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return (IReadOnlyList<(string, long)>)affected;
    });

    /// <summary>This transaction's id, once known (<see cref="PostgresJournal.Position"/>).</summary>
    private long? _xid;

    /// <summary>Entries appended, written with the commit.</summary>
    private readonly List<(long Position, JournalAppend Entry)> _journal = [];

    public Task AddPendingPasswordsAsync(IReadOnlyList<Passwords.PendingPassword> passwords, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        foreach (var p in passwords)
        {
            await using var cmd = Command("""
                INSERT INTO password_deliveries(subscription_id, id, resource_id, jwe, created, expires, visible_at)
                VALUES ($1, $2, $3, $4, $5, $6, 0)
                """, p.SubscriptionId, p.Id, p.ResourceId, Text(p.Jwe), p.Created.UtcTicks, p.Expires.UtcTicks);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    });

    /// <summary>
    /// Gives the entry its position now and writes it with the commit (<see cref="CommitAsync"/>): the position
    /// needs only this transaction's id, which the insert or update before it returned, so appending costs no
    /// round trip of its own.
    /// </summary>
    public Task<long> AppendJournalAsync(JournalAppend entry, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        _ = Tx;
        if (_xid is null)
        {
            await using var cmd = Command(PostgresJournal.CurrentTransactionSql);
            _xid = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        var position = PostgresJournal.Position(_xid.Value, _journal.Count);
        _journal.Add((position, entry));
        return position;
    });

    /// <summary>
    /// Writes the journal entries and commits, in one round trip; returns once PostgreSQL has committed (with
    /// synchronous_commit on, the WAL is flushed). Should the entries be refused, PostgreSQL skips the COMMIT that
    /// follows them in the batch, and the transaction is rolled back as on any failed statement.
    /// </summary>
    public async Task CommitAsync(CancellationToken ct)
    {
        var tx = Tx;
        _tx = null;
        try
        {
            // Not cancellable: once asked to commit, the outcome must be known before the request answers.
            if (_journal.Count == 0)
            {
                await PostgresErrors.Guard(() => tx.CommitAsync(CancellationToken.None)).ConfigureAwait(false);
            }
            else
            {
                await using var batch = new NpgsqlBatch(_c, tx) { BatchCommands = { PostgresJournal.Append(_journal), new NpgsqlBatchCommand("COMMIT") } };
                await PostgresErrors.Guard(() => batch.ExecuteNonQueryAsync(CancellationToken.None)).ConfigureAwait(false);
            }
        }
        finally
        {
            await tx.DisposeAsync().ConfigureAwait(false);
            await _c.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Without a commit: rolls back this session's writes (the connection goes back to the pool either way).</summary>
    public async ValueTask DisposeAsync()
    {
        var tx = _tx;
        _tx = null;
        if (tx is not null)
        {
            try
            {
                await tx.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // A broken connection: PostgreSQL rolls the transaction back when the connection closes.
            }
            await tx.DisposeAsync().ConfigureAwait(false);
        }
        if (_c.State != System.Data.ConnectionState.Closed) await _c.DisposeAsync().ConfigureAwait(false);
    }

    private readonly record struct IndexColumns(string? UserNameKey, string? UserNameFold, string? ExternalId, string? DisplayNameFold);

    private static IndexColumns Columns(string type, JsonObject data)
    {
        var userName = type == "User" ? TextOf(data["userName"]) : null;
        return new IndexColumns(
            userName is null ? null : ScimText.UniquenessKey(userName),
            userName is null ? null : ScimText.Fold(userName),
            TextOf(data["externalId"]),
            TextOf(data["displayName"]) is { } dn ? ScimText.Fold(dn) : null);
    }

    private static string? TextOf(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>The rows of resource_values for a document: (attribute, folded value) for each indexed multi-value.</summary>
    private static (string[] Attributes, string[] Values) IndexedValues(string type, JsonObject data)
    {
        var attrs = new List<string>();
        var values = new List<string>();
        if (type == "User")
        {
            foreach (var (attr, sub) in PostgresSchema.IndexedMultiValues)
            {
                if (data[attr] is not JsonArray arr) continue;
                foreach (var item in arr)
                {
                    if (TextOf(item?[sub]) is not { } v) continue;
                    attrs.Add(attr + "." + sub);
                    values.Add(ScimText.Fold(v));
                }
            }
        }
        return (attrs.ToArray(), values.ToArray());
    }
}
