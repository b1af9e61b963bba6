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
/// <para><b>Round trips.</b> A round trip to PostgreSQL costs both processes CPU of its own (a send, a wake-up and a
/// context switch on each side; one less per create saved about a tenth of both's CPU per create, docs/postgres.md).
/// So writes whose answer the request does not need wait in this session (<see cref="_deferred"/>) and are sent
/// before the next statement that needs an answer, or with the journal and the COMMIT: a create is one round trip,
/// a PUT or PATCH of a user two (the locked read, then everything else). What a deferred write would have answered
/// is known without asking: an insert's version is 1; an update's row is locked by this session, so its version
/// and password are the ones read plus this session's change. A conflict of a deferred write (a taken userName) is
/// reported when it is sent, at the latest by <see cref="CommitAsync"/>.</para>
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

    /// <summary>Writes waiting for the next round trip, in order.</summary>
    private readonly List<NpgsqlBatchCommand> _deferred = [];

    /// <summary>
    /// The document of the resource write among them, if any. At most one waits (a second one sends the first), so a
    /// taken userName found when they are sent is this one's.
    /// </summary>
    private JsonObject? _deferredDocument;

    /// <summary>Rows this session has locked (FOR UPDATE), with the version and password hash they now hold.</summary>
    private readonly Dictionary<long, (long Version, string? PasswordHash)> _locked = [];

    /// <summary>Entries appended, written with the commit.</summary>
    private readonly List<JournalAppend> _journal = [];

    /// <summary>
    /// Set when a statement failed: PostgreSQL has aborted the transaction, and a COMMIT would answer ROLLBACK without
    /// an error, so <see cref="CommitAsync"/> refuses rather than let a caller that caught the error report success.
    /// </summary>
    private bool _failed;

    private bool Failed()
    {
        _failed = true;
        return false;
    }

    /// <summary>Work that needs an answer from the database: the deferred writes are sent first, so it sees them.</summary>
    private Task<T> Run<T>(Func<Task<T>> work, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        try
        {
            await SendDeferredAsync(ct).ConfigureAwait(false);
            return await work().ConfigureAwait(false);
        }
        catch (Exception) when (Failed())
        {
            throw; // never: Failed() only records it
        }
    });

    private async Task SendDeferredAsync(CancellationToken ct)
    {
        if (_deferred.Count == 0) return;
        await using var batch = new NpgsqlBatch(_c, Tx);
        await SendAsync(batch, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the deferred writes ahead of <paramref name="batch"/>'s own statements. PostgreSQL skips every statement
    /// after a failed one (one Sync for the batch), and the session then ends: disposing rolls back.
    /// </summary>
    private async Task SendAsync(NpgsqlBatch batch, CancellationToken ct)
    {
        var document = _deferredDocument;
        for (var i = 0; i < _deferred.Count; i++) batch.BatchCommands.Insert(i, _deferred[i]);
        _deferred.Clear();
        _deferredDocument = null;
        try
        {
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (Exception) when (Failed())
        {
            throw; // never: Failed() only records it
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == PostgresSchema.UserNameIndex && document is not null)
        {
            throw UniquenessError(document);
        }
    }

    private void Defer(string sql, params object?[] args)
    {
        _ = Tx;
        var cmd = new NpgsqlBatchCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a ?? DBNull.Value });
        _deferred.Add(cmd);
    }

    /// <summary>Defers the write of a resource's document; one already waiting is sent first (<see cref="_deferredDocument"/>).</summary>
    private async Task DeferDocumentAsync(JsonObject data, string sql, object?[] args, CancellationToken ct)
    {
        if (_deferredDocument is not null) await PostgresErrors.Guard(() => SendDeferredAsync(ct)).ConfigureAwait(false);
        Defer(sql, args);
        _deferredDocument = data;
    }

    /// <summary>A statement sent now (whoever builds one is inside <see cref="Run{T}"/>, after the deferred writes).</summary>
    private NpgsqlCommand Command(string sql, params object?[] args)
    {
        var cmd = new NpgsqlCommand(sql, _c, Tx);
        foreach (var a in args) cmd.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a ?? DBNull.Value });
        return cmd;
    }

    private static NpgsqlParameter Text(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text };

    private static NpgsqlParameter Jsonb(string? value) => new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Jsonb };

    public Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct) => Run(async () =>
    {
        var found = await PostgresReads.FindAsync(_c, Tx, rt.Name, id, load, forUpdate: true, ct).ConfigureAwait(false);
        if (found is not null) _locked[found.Seq] = (found.Version, found.PasswordHash);
        return found;
    }, ct);

    /// <summary>All in one statement; the rows are locked against deletion (FOR SHARE) until the commit.</summary>
    public Task<IReadOnlyDictionary<string, string>> FindResourceTypesAsync(IReadOnlyCollection<string> ids, CancellationToken ct) => Run(async () =>
    {
        var found = new Dictionary<string, string>(ids.Count, StringComparer.Ordinal);
        if (ids.Count == 0) return (IReadOnlyDictionary<string, string>)found;
        await using var cmd = Command("SELECT id, type FROM resources WHERE id = ANY($1) FOR SHARE", (object)ids.ToArray()); // one text[] parameter, not one per id
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) found[r.GetString(0)] = r.GetString(1);
        return found;
    }, ct);

    public Task<bool> ValueTakenAsync(ResourceTypeDefinition rt, ResolvedAttribute attribute, string value, string? exceptId, CancellationToken ct) => Run(async () =>
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
    }, ct);

    private static bool IsUserName(ResolvedAttribute a) =>
        a.ContainerUrn is null && a.SubAttribute is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User && a.Attribute.Name == "userName";

    private const string InsertResourceSql = """
        WITH r AS (
            INSERT INTO resources(id, type, user_name_key, user_name_fold, external_id, display_name_fold, created, modified, version, password_hash, data, folded, instants)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9, $10, $11) RETURNING seq)
        INSERT INTO resource_values(seq, attr, value_fold) SELECT r.seq, u.a, u.v FROM r, unnest($12::text[], $13::text[]) AS u(a, v)
        """;

    private const string InsertGroupSql = """
        WITH r AS (
            INSERT INTO resources(id, type, user_name_key, user_name_fold, external_id, display_name_fold, created, modified, version, password_hash, data, folded, instants)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9, $10, $11) RETURNING seq),
        v AS (INSERT INTO resource_values(seq, attr, value_fold) SELECT r.seq, u.a, u.v FROM r, unnest($12::text[], $13::text[]) AS u(a, v))
        INSERT INTO group_members(group_seq, member_id, member_type, display, type_fold, display_fold)
        SELECT r.seq, m.id, m.type, m.display, m.type_fold, m.display_fold
        FROM r, unnest($14::text[], $15::text[], $16::text[], $17::text[], $18::text[]) AS m(id, type, display, type_fold, display_fold)
        ON CONFLICT DO NOTHING
        """;

    /// <summary>
    /// Deferred: the resource, its indexed values and its members, as one statement sent with the commit. The row's
    /// seq is not known until then, so the resource returned has <see cref="StoredResource.Seq"/> 0; a session that
    /// writes it again has its row found by id (<see cref="SeqAsync"/>).
    /// </summary>
    public async Task<StoredResource> InsertAsync(ResourceTypeDefinition rt, string id, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct)
    {
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(rt.Name, data);
        var (attrs, values) = IndexedValues(rt.Name, data);
        object?[] args = [id, rt.Name, Text(cols.UserNameKey), Text(cols.UserNameFold), Text(cols.ExternalId), Text(cols.DisplayNameFold), now.UtcTicks,
            Text(passwordHash), json, Jsonb(DerivedDocuments.Folded(data)), Jsonb(DerivedDocuments.Instants(data)), attrs, values];
        if (members is { Count: > 0 }) await DeferDocumentAsync(data, InsertGroupSql, [.. args, .. MemberArrays(members)], ct).ConfigureAwait(false);
        else await DeferDocumentAsync(data, InsertResourceSql, args, ct).ConfigureAwait(false);
        return new StoredResource(0, id, rt.Name, json, now, now, 1) { PasswordHash = passwordHash };
    }

    /// <summary>
    /// Deferred. The row is locked by this session (read FOR UPDATE, or locked here first), so the version and the
    /// password hash it will hold are known now, and are written as such rather than computed by PostgreSQL.
    /// </summary>
    public async Task<StoredResource> UpdateAsync(StoredResource existing, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct)
    {
        var seq = await SeqAsync(existing, ct).ConfigureAwait(false);
        if (!_locked.TryGetValue(seq, out var held)) held = await LockAsync(seq, existing.Id, ct).ConfigureAwait(false);
        var json = data.ToJsonString(JsonOptions);
        var cols = Columns(existing.ResourceType, data);
        var (attrs, values) = IndexedValues(existing.ResourceType, data);
        var version = held.Version + 1;
        var hash = passwordHash ?? held.PasswordHash;
        await DeferDocumentAsync(data, """
            WITH u AS (
                UPDATE resources SET user_name_key = $1, user_name_fold = $2, external_id = $3, display_name_fold = $4,
                    modified = $5, version = $6, password_hash = $7, data = $8, folded = $9, instants = $10
                WHERE seq = $11),
            d AS (DELETE FROM resource_values WHERE seq = $11)
            INSERT INTO resource_values(seq, attr, value_fold) SELECT $11, x.a, x.v FROM unnest($12::text[], $13::text[]) AS x(a, v)
            """, [Text(cols.UserNameKey), Text(cols.UserNameFold), Text(cols.ExternalId), Text(cols.DisplayNameFold), now.UtcTicks, version, Text(hash),
            json, Jsonb(DerivedDocuments.Folded(data)), Jsonb(DerivedDocuments.Instants(data)), seq, attrs, values], ct).ConfigureAwait(false);
        if (members is not null)
        {
            Defer("DELETE FROM group_members WHERE group_seq = $1", seq);
            if (members.Count > 0) Defer(InsertMembersSql, [seq, .. MemberArrays(members)]);
        }
        _locked[seq] = (version, hash);
        return existing with { Data = json, LastModified = now, Version = version, PasswordHash = hash, Members = members ?? existing.Members };
    }

    /// <summary>Locks a row this session has not read (what the update will leave must be known before it is sent).</summary>
    private Task<(long Version, string? PasswordHash)> LockAsync(long seq, string id, CancellationToken ct) => Run(async () =>
    {
        await using var cmd = Command("SELECT version, password_hash FROM resources WHERE seq = $1 FOR UPDATE", seq);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) throw ScimException.NotFound($"Resource {id} not found");
        return _locked[seq] = (r.GetInt64(0), r.IsDBNull(1) ? null : r.GetString(1));
    }, ct);

    /// <summary>
    /// The row of a resource: the seq it was read with, or, for one this session inserted (seq 0 until the commit),
    /// its row found by id once the deferred writes are sent, and locked like a row read.
    /// </summary>
    private async Task<long> SeqAsync(StoredResource resource, CancellationToken ct)
    {
        if (resource.Seq > 0) return resource.Seq;
        return await Run(async () =>
        {
            await using var cmd = Command("SELECT seq, version, password_hash FROM resources WHERE id = $1 FOR UPDATE", resource.Id);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) throw ScimException.NotFound($"Resource {resource.Id} not found");
            _locked[r.GetInt64(0)] = (r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2));
            return r.GetInt64(0);
        }, ct).ConfigureAwait(false);
    }

    private static ScimException UniquenessError(JsonObject data) =>
        ScimException.Uniqueness($"userName \"{data["userName"]?.GetValue<string>()}\" is already taken");

    private const string InsertMembersSql = """
        INSERT INTO group_members(group_seq, member_id, member_type, display, type_fold, display_fold)
        SELECT $1, m.id, m.type, m.display, m.type_fold, m.display_fold
        FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS m(id, type, display, type_fold, display_fold)
        ON CONFLICT DO NOTHING
        """;

    /// <summary>Members as five arrays (one statement for all of them, not one row per round trip).</summary>
    private static object[] MemberArrays(IReadOnlyList<MemberRef> members) =>
    [
        members.Select(m => m.Value).ToArray(), members.Select(m => m.Type).ToArray(), members.Select(m => m.Display).ToArray(),
        members.Select(m => ScimText.Fold(m.Type)).ToArray(), members.Select(m => m.Display is null ? null : ScimText.Fold(m.Display)).ToArray(),
    ];

    /// <summary>Not deferred: the caller learns how many were new.</summary>
    public Task<int> AddMembersAsync(StoredResource group, IReadOnlyList<MemberRef> members, CancellationToken ct) =>
        members.Count == 0 ? Task.FromResult(0) : Run(async () =>
        {
            await using var cmd = Command(InsertMembersSql, [await SeqAsync(group, ct).ConfigureAwait(false), .. MemberArrays(members)]);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct);

    public Task<int> RemoveMembersAsync(StoredResource group, IReadOnlyCollection<string> memberIds, CancellationToken ct) => Run(async () =>
    {
        await using var cmd = Command("DELETE FROM group_members WHERE group_seq = $1 AND member_id = ANY($2)", await SeqAsync(group, ct).ConfigureAwait(false), memberIds.Distinct().ToArray());
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }, ct);

    public Task<int> ClearMembersAsync(StoredResource group, CancellationToken ct) => Run(async () =>
    {
        await using var cmd = Command("DELETE FROM group_members WHERE group_seq = $1", await SeqAsync(group, ct).ConfigureAwait(false));
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }, ct);

    /// <summary>The groups that lose the member are updated now (the caller journals their new versions); the rows go with the commit.</summary>
    public Task<IReadOnlyList<(string Id, long Version)>> DeleteAsync(StoredResource existing, DateTimeOffset now, CancellationToken ct) => Run(async () =>
    {
        var seq = await SeqAsync(existing, ct).ConfigureAwait(false);
        var affected = new List<(string, long)>();
        await using (var cmd = Command("""
            UPDATE resources SET version = version + 1, modified = $2
            WHERE seq IN (SELECT group_seq FROM group_members WHERE member_id = $1) RETURNING seq, id, version
            """, existing.Id, now.UtcTicks))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                affected.Add((r.GetString(1), r.GetInt64(2)));
                if (_locked.TryGetValue(r.GetInt64(0), out var held)) _locked[r.GetInt64(0)] = (r.GetInt64(2), held.PasswordHash);
            }
        }
        Defer("DELETE FROM group_members WHERE member_id = $1", existing.Id);
        Defer("DELETE FROM group_members WHERE group_seq = $1", seq);
        Defer("DELETE FROM resource_values WHERE seq = $1", seq);
        Defer("DELETE FROM resources WHERE seq = $1", seq);
        _locked.Remove(seq);
        affected.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return (IReadOnlyList<(string, long)>)affected;
    }, ct);

    /// <summary>Deferred, with the write that set them.</summary>
    public Task AddPendingPasswordsAsync(IReadOnlyList<Passwords.PendingPassword> passwords, CancellationToken ct)
    {
        foreach (var p in passwords)
        {
            Defer("""
                INSERT INTO password_deliveries(subscription_id, id, resource_id, jwe, created, expires, visible_at)
                VALUES ($1, $2, $3, $4, $5, $6, 0)
                """, p.SubscriptionId, p.Id, p.ResourceId, Text(p.Jwe), p.Created.UtcTicks, p.Expires.UtcTicks);
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Kept here and written with the commit (<see cref="CommitAsync"/>); the statement makes each position from this
    /// transaction's own id (<see cref="PostgresJournal.Append"/>), so appending costs no round trip.
    /// </summary>
    public Task AppendJournalAsync(JournalAppend entry, CancellationToken ct)
    {
        _ = Tx;
        _journal.Add(entry);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Sends the deferred writes, the journal entries and the COMMIT in one round trip; returns once PostgreSQL has
    /// committed (with synchronous_commit on, the WAL is flushed). Should any of them be refused, PostgreSQL skips
    /// the COMMIT after it, and the transaction is rolled back as on any failed statement.
    /// </summary>
    public async Task CommitAsync(CancellationToken ct)
    {
        var tx = Tx;
        if (_failed) throw new InvalidOperationException("A statement of this write session failed; PostgreSQL has rolled it back, and it cannot commit");
        try
        {
            // Not cancellable: once asked to commit, the outcome must be known before the request answers.
            _tx = null;
            if (_deferred.Count == 0 && _journal.Count == 0)
            {
                await PostgresErrors.Guard(() => tx.CommitAsync(CancellationToken.None)).ConfigureAwait(false);
            }
            else
            {
                await using var batch = new NpgsqlBatch(_c, tx);
                if (_journal.Count > 0) batch.BatchCommands.Add(PostgresJournal.Append(_journal));
                batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                await PostgresErrors.Guard(() => SendAsync(batch, CancellationToken.None)).ConfigureAwait(false);
            }
        }
        finally
        {
            _tx = null;
            await tx.DisposeAsync().ConfigureAwait(false);
            await _c.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Without a commit: rolls back this session's writes (the connection goes back to the pool either way); deferred writes were never sent.</summary>
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
