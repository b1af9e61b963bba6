using System.Globalization;
using System.Text;
using Npgsql;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;

namespace ScimSync.Store.Postgres;

/// <summary>Read queries, shared by reader connections and the write session (which reads its own writes).</summary>
internal static class PostgresReads
{
    private const string FindSql = $"SELECT {PostgresSchema.ResourceColumns} FROM resources r WHERE r.id = $1 AND r.type = $2";

    // A write session locks the row it reads: concurrent writes of one resource (from any instance) take turns,
    // so a read-modify-write (PATCH, PUT, If-Match) never loses another's change. SQLite gets this from its
    // single writer.
    private const string FindForUpdateSql = FindSql + " FOR UPDATE";

    private const string MembersOfGroupSql = "SELECT member_id, member_type, display FROM group_members WHERE group_seq = $1 ORDER BY member_id";

    /// <summary>User.groups of one user: direct and indirect (PostgresGroupReach says how far, and why it ends).</summary>
    private static readonly string GroupsOfUserSql = PostgresGroupReach.Groups("m0.member_id = $1") + " ORDER BY g.id";

    public static async Task<StoredResource?> FindAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string type, string id, LoadOptions load, bool forUpdate, CancellationToken ct)
    {
        if (type == "User" && load.Groups && !forUpdate) return await FindUserWithGroupsAsync(c, tx, id, ct).ConfigureAwait(false);
        StoredResource? found;
        await using (var cmd = new NpgsqlCommand(forUpdate ? FindForUpdateSql : FindSql, c, tx) { Parameters = { new() { Value = id }, new() { Value = type } } })
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            found = await r.ReadAsync(ct).ConfigureAwait(false) ? ReadResource(r) : null;
        return found is null ? null : await WithRelationsAsync(c, tx, found, load, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A user and the groups it is in, in one round trip (GET by id of a user, the most frequent read): the groups
    /// are keyed by the id asked for, so both statements go together as one batch.
    /// </summary>
    private static async Task<StoredResource?> FindUserWithGroupsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string id, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(c, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(FindSql) { Parameters = { new() { Value = id }, new() { Value = "User" } } },
                new NpgsqlBatchCommand(GroupsOfUserSql) { Parameters = { new() { Value = id } } },
            },
        };
        await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
        var found = ReadResource(r);
        await r.NextResultAsync(ct).ConfigureAwait(false);
        var groups = new List<GroupRef>();
        while (await r.ReadAsync(ct).ConfigureAwait(false)) groups.Add(ReadGroup(r));
        return found with { Groups = groups };
    }

    private static async Task<StoredResource> WithRelationsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, StoredResource found, LoadOptions load, CancellationToken ct)
    {
        if (load.Members && found.ResourceType == "Group")
        {
            var list = new List<MemberRef>();
            await using var cmd = new NpgsqlCommand(MembersOfGroupSql, c, tx) { Parameters = { new() { Value = found.Seq } } };
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(new MemberRef(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)));
            found = found with { Members = list };
        }
        if (load.Groups && found.ResourceType == "User")
        {
            var list = new List<GroupRef>();
            await using var cmd = new NpgsqlCommand(GroupsOfUserSql, c, tx) { Parameters = { new() { Value = found.Id } } };
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadGroup(r));
            found = found with { Groups = list };
        }
        return found;
    }

    /// <summary>One row of <see cref="PostgresGroupReach.Groups"/>.</summary>
    private static GroupRef ReadGroup(NpgsqlDataReader r) => new(r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetBoolean(4));

    public static StoredResource ReadResource(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3),
        new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero), r.GetInt64(6))
    {
        PasswordHash = r.IsDBNull(7) ? null : r.GetString(7),
    };

    /// <summary>
    /// Runs the page, the count and the journal position in one REPEATABLE READ transaction: one snapshot, so the
    /// position returned is consistent with the page (PostgresJournal says what "consistent" means here).
    /// </summary>
    public static async Task<QueryPage> QueryAsync(NpgsqlConnection c, ResourceQuery q, CancellationToken ct)
    {
        await using var tx = await c.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        var page = await QueryInSnapshotAsync(c, tx, q, ct).ConfigureAwait(false);
        long position;
        await using (var cmd = new NpgsqlCommand(PostgresJournal.HighWaterSql, c, tx))
            position = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return page with { JournalPosition = position };
    }

    private static NpgsqlCommand Command(string sql, NpgsqlConnection c, NpgsqlTransaction tx, IEnumerable<NpgsqlParameter> parameters)
    {
        var cmd = new NpgsqlCommand(sql, c, tx);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p.Value });
        return cmd;
    }

    private static async Task<QueryPage> QueryInSnapshotAsync(NpgsqlConnection c, NpgsqlTransaction tx, ResourceQuery q, CancellationToken ct)
    {
        var compiler = new PostgresFilterCompiler();
        var where = new StringBuilder();
        var sortCases = new List<(string Type, string Key, string SqlType)>();
        foreach (var tf in q.Filters)
        {
            if (where.Length > 0) where.Append(" OR ");
            var type = compiler.Param(tf.ResourceType.Name);
            where.Append("(r.type = ").Append(type);
            if (tf.Filter is not null) where.Append(" AND ").Append(compiler.Compile(tf.Filter));
            where.Append(')');
            if (tf.SortAttribute is not null && compiler.SortKey(tf.SortAttribute) is { } key)
                sortCases.Add((type, key.Sql, key.Type));
        }
        var whereSql = where.Length == 0 ? "false" : where.ToString();
        var filterParameters = compiler.Parameters.ToArray();

        async Task<int> CountAsync()
        {
            await using var cmd = Command($"SELECT count(*) FROM resources r WHERE {whereSql}", c, tx, filterParameters);
            return Convert.ToInt32(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }

        var page = q.Page;
        if (page.Count <= 0)
        {
            var all = await CountAsync().ConfigureAwait(false);
            return new QueryPage([], all, all > 0, 0);
        }

        var orderBy = "r.seq";
        if (q.Sort is not null && sortCases.Count > 0 && page.AfterSeq is null)
        {
            string key;
            if (sortCases.Count == 1 && q.Filters.Count == 1)
            {
                key = sortCases[0].Key;
            }
            else
            {
                // One CASE needs one type: keys of different types (a root query) are compared as text.
                var asText = sortCases.Select(s => s.SqlType).Distinct().Count() > 1;
                key = "CASE r.type " + string.Concat(sortCases.Select(s => $"WHEN {s.Type} THEN {(asText ? $"({s.Key})::text COLLATE \"C\"" : s.Key)} ")) + "END";
            }
            // RFC 7644 §3.4.2.3: missing values sort last ascending and first descending.
            orderBy = q.Sort.Descending
                ? $"(({key}) IS NULL) DESC, ({key}) DESC, r.seq"
                : $"(({key}) IS NULL), ({key}), r.seq";
        }

        var parameters = filterParameters.ToList();
        string Next(object value)
        {
            parameters.Add(new NpgsqlParameter { Value = value });
            return "$" + parameters.Count.ToString(CultureInfo.InvariantCulture);
        }
        string sql;
        if (page.AfterSeq is { } after)
            sql = $"SELECT {PostgresSchema.ResourceColumns} FROM resources r WHERE ({whereSql}) AND r.seq > {Next(after)} ORDER BY r.seq LIMIT {Next((long)page.Count + 1)}";
        else
            sql = $"SELECT {PostgresSchema.ResourceColumns} FROM resources r WHERE {whereSql} ORDER BY {orderBy} LIMIT {Next((long)page.Count + 1)} OFFSET {Next((long)Math.Max(0, page.StartIndex - 1))}";
        // One extra row tells whether another page exists without a second count.
        var list = new List<StoredResource>(Math.Min(page.Count + 1, 1024));
        await using (var cmd = Command(sql, c, tx, parameters))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadResource(r));
        var hasMore = list.Count > page.Count;
        if (hasMore) list.RemoveAt(list.Count - 1);
        // A first page that holds everything already knows the total: the common lookup
        // (filter=userName eq "x") then costs one query, not two.
        var total = !hasMore && page.AfterSeq is null && page.StartIndex <= 1 ? list.Count : await CountAsync().ConfigureAwait(false);
        return new QueryPage(await AttachAsync(c, tx, list, q.Load, ct).ConfigureAwait(false), total, hasMore, 0);
    }

    /// <summary>Loads members and groups for a page in two queries, not one per resource.</summary>
    private static async Task<IReadOnlyList<StoredResource>> AttachAsync(NpgsqlConnection c, NpgsqlTransaction tx, IReadOnlyList<StoredResource> list, LoadOptions load, CancellationToken ct)
    {
        if (list.Count == 0 || !(load.Members || load.Groups)) return list;
        if (list.Count == 1) return [await WithRelationsAsync(c, tx, list[0], load, ct).ConfigureAwait(false)];
        var result = list.ToArray();
        var groups = list.Where(r => r.ResourceType == "Group").ToArray();
        if (load.Members && groups.Length > 0)
        {
            var bySeq = groups.ToDictionary(g => g.Seq, _ => new List<MemberRef>());
            await using (var cmd = new NpgsqlCommand("""
                SELECT group_seq, member_id, member_type, display FROM group_members WHERE group_seq = ANY($1) ORDER BY group_seq, member_id
                """, c, tx) { Parameters = { new() { Value = groups.Select(g => g.Seq).ToArray() } } })
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    bySeq[r.GetInt64(0)].Add(new MemberRef(r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)));
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "Group") result[i] = result[i] with { Members = bySeq[result[i].Seq] };
        }
        var users = list.Where(r => r.ResourceType == "User").ToArray();
        if (load.Groups && users.Length > 0)
        {
            var byId = users.ToDictionary(u => u.Id, _ => new List<GroupRef>());
            await using (var cmd = new NpgsqlCommand(PostgresGroupReach.Groups("m0.member_id = ANY($1)") + " ORDER BY reach.member_id, g.id",
                c, tx) { Parameters = { new() { Value = users.Select(u => u.Id).ToArray() } } })
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    byId[r.GetString(0)].Add(ReadGroup(r));
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "User") result[i] = result[i] with { Groups = byId[result[i].Id] };
        }
        return result;
    }
}
