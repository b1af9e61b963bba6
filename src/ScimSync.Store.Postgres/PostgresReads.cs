using System.Globalization;
using System.Text;
using Npgsql;
using ScimSync.Protocol.Resources;
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

    /// <summary>
    /// User.groups, first as the groups the users are directly in (PostgresGroupReach.Direct says why), in no order:
    /// the lists are short and sorted here, which spares PostgreSQL setting up a sort on every read.
    /// </summary>
    private static readonly string DirectGroupsSql = PostgresGroupReach.Direct("m0.member_id = ANY($1)");

    /// <summary>
    /// The same for one user. Not ANY of a one-element array: PostgreSQL's estimate for ANY($1) of an unknown array
    /// made its plan cache plan every execution anew (the generic plan looked dearer than each custom one), which
    /// cost more than the read itself; for <c>= $1</c> it keeps one plan.
    /// </summary>
    private static readonly string DirectGroupsOfOneSql = PostgresGroupReach.Direct("m0.member_id = $1");

    /// <summary>User.groups of the users whose direct groups are nested: direct and indirect, walked.</summary>
    private static readonly string WalkedGroupsSql = PostgresGroupReach.Groups("m0.member_id = ANY($1)");

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
    /// A user and the groups it is directly in, in one round trip (GET by id of a user, the most frequent read): the
    /// groups are keyed by the id asked for, so both statements go together as one batch. A second round trip
    /// walks nested groups, only when one of those groups is itself in a group.
    /// </summary>
    private static async Task<StoredResource?> FindUserWithGroupsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string id, CancellationToken ct)
    {
        StoredResource found;
        var byId = new Dictionary<string, List<GroupRef>>(1, StringComparer.Ordinal) { [id] = [] };
        HashSet<string>? nested;
        await using (var batch = new NpgsqlBatch(c, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(FindSql) { Parameters = { new() { Value = id }, new() { Value = "User" } } },
                new NpgsqlBatchCommand(DirectGroupsOfOneSql) { Parameters = { new() { Value = id } } },
            },
        })
        await using (var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
            found = ReadResource(r);
            await r.NextResultAsync(ct).ConfigureAwait(false);
            nested = await ReadDirectAsync(r, byId, ct).ConfigureAwait(false);
        }
        if (nested is not null) await WalkAsync(c, tx, nested, byId, ct).ConfigureAwait(false);
        return found with { Groups = Ordered(byId[id]) };
    }

    /// <summary>User.groups of <paramref name="ids"/> (distinct), each list ordered by group id.</summary>
    private static async Task<Dictionary<string, List<GroupRef>>> GroupsOfAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string[] ids, CancellationToken ct)
    {
        var byId = ids.ToDictionary(id => id, _ => new List<GroupRef>(), StringComparer.Ordinal);
        HashSet<string>? nested;
        await using (var cmd = ids.Length == 1
            ? new NpgsqlCommand(DirectGroupsOfOneSql, c, tx) { Parameters = { new() { Value = ids[0] } } }
            : new NpgsqlCommand(DirectGroupsSql, c, tx) { Parameters = { new() { Value = ids } } })
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            nested = await ReadDirectAsync(r, byId, ct).ConfigureAwait(false);
        if (nested is not null) await WalkAsync(c, tx, nested, byId, ct).ConfigureAwait(false);
        foreach (var list in byId.Values) Ordered(list);
        return byId;
    }

    /// <summary>Adds the rows of <see cref="PostgresGroupReach.Direct"/> to their members' lists; returns the members that reach a nested group.</summary>
    private static async Task<HashSet<string>?> ReadDirectAsync(NpgsqlDataReader r, Dictionary<string, List<GroupRef>> byId, CancellationToken ct)
    {
        HashSet<string>? nested = null;
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var member = r.GetString(0);
            byId[member].Add(ReadGroup(r));
            if (r.GetBoolean(5)) (nested ??= new HashSet<string>(StringComparer.Ordinal)).Add(member);
        }
        return nested;
    }

    /// <summary>By group id in code point order, the order of <c>ORDER BY g.id</c> (COLLATE "C") and of the SQLite store.</summary>
    private static List<GroupRef> Ordered(List<GroupRef> list)
    {
        if (list.Count > 1) list.Sort((a, b) => ScimText.CompareCodePoints(a.Value, b.Value));
        return list;
    }

    /// <summary>Replaces the lists of <paramref name="members"/> by the walk of their groups, direct and indirect.</summary>
    private static async Task WalkAsync(NpgsqlConnection c, NpgsqlTransaction? tx, HashSet<string> members, Dictionary<string, List<GroupRef>> byId, CancellationToken ct)
    {
        foreach (var m in members) byId[m] = [];
        await using var cmd = new NpgsqlCommand(WalkedGroupsSql, c, tx) { Parameters = { new() { Value = members.ToArray() } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) byId[r.GetString(0)].Add(ReadGroup(r));
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
            found = found with { Groups = (await GroupsOfAsync(c, tx, [found.Id], ct).ConfigureAwait(false))[found.Id] };
        return found;
    }

    /// <summary>One row of <see cref="PostgresGroupReach.Groups"/> or <see cref="PostgresGroupReach.Direct"/>.</summary>
    private static GroupRef ReadGroup(NpgsqlDataReader r) => new(r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetBoolean(4));

    public static StoredResource ReadResource(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3),
        new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero), r.GetInt64(6))
    {
        PasswordHash = r.IsDBNull(7) ? null : r.GetString(7),
    };

    /// <summary>
    /// The journal position, then the page, in one round trip: each statement reads its own snapshot (READ
    /// COMMITTED), the position's taken first, so every entry up to the position is in the page, which is what a
    /// list response's position promises (PostgresJournal); the page may also hold changes past it, as the promise
    /// allows. A count, when the page cannot tell the total, comes from a snapshot of its own, as it would on any
    /// later page.
    /// </summary>
    public static async Task<QueryPage> QueryAsync(NpgsqlConnection c, ResourceQuery q, CancellationToken ct)
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

        var countSql = $"SELECT count(*) FROM resources r WHERE {whereSql}";
        async Task<int> CountAsync()
        {
            await using var cmd = new NpgsqlCommand(countSql, c);
            foreach (var p in filterParameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p.Value });
            return Convert.ToInt32(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }

        var page = q.Page;
        long position;
        if (page.Count <= 0)
        {
            int all;
            await using (var counted = Batch(c, (PostgresJournal.HighWaterSql, []), (countSql, filterParameters)))
            await using (var r = await counted.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                position = await ReadPositionAsync(r, ct).ConfigureAwait(false);
                await r.ReadAsync(ct).ConfigureAwait(false);
                all = Convert.ToInt32(r.GetInt64(0), CultureInfo.InvariantCulture);
            }
            return new QueryPage([], all, all > 0, position);
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
        await using (var paged = Batch(c, (PostgresJournal.HighWaterSql, []), (sql, parameters)))
        await using (var r = await paged.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            position = await ReadPositionAsync(r, ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadResource(r));
        }
        var hasMore = list.Count > page.Count;
        if (hasMore) list.RemoveAt(list.Count - 1);
        // A first page that holds everything already knows the total: the common lookup
        // (filter=userName eq "x") then costs one query, not two.
        var total = !hasMore && page.AfterSeq is null && page.StartIndex <= 1 ? list.Count : await CountAsync().ConfigureAwait(false);
        return new QueryPage(await AttachAsync(c, list, q.Load, ct).ConfigureAwait(false), total, hasMore, position);
    }

    /// <summary>Statements sent together; parameters are copied, since a parameter belongs to one statement.</summary>
    private static NpgsqlBatch Batch(NpgsqlConnection c, params (string Sql, IEnumerable<NpgsqlParameter> Parameters)[] statements)
    {
        var batch = new NpgsqlBatch(c);
        foreach (var (sql, parameters) in statements)
        {
            var command = new NpgsqlBatchCommand(sql);
            foreach (var p in parameters) command.Parameters.Add(new NpgsqlParameter { Value = p.Value });
            batch.BatchCommands.Add(command);
        }
        return batch;
    }

    /// <summary>Reads the first result of a batch (<see cref="PostgresJournal.HighWaterSql"/>) and moves to the next.</summary>
    private static async Task<long> ReadPositionAsync(NpgsqlDataReader r, CancellationToken ct)
    {
        await r.ReadAsync(ct).ConfigureAwait(false);
        var position = r.GetInt64(0);
        await r.NextResultAsync(ct).ConfigureAwait(false);
        return position;
    }

    /// <summary>Loads members and groups for a page in two queries, not one per resource.</summary>
    private static async Task<IReadOnlyList<StoredResource>> AttachAsync(NpgsqlConnection c, IReadOnlyList<StoredResource> list, LoadOptions load, CancellationToken ct)
    {
        if (list.Count == 0 || !(load.Members || load.Groups)) return list;
        if (list.Count == 1) return [await WithRelationsAsync(c, null, list[0], load, ct).ConfigureAwait(false)];
        var result = list.ToArray();
        var groups = list.Where(r => r.ResourceType == "Group").ToArray();
        if (load.Members && groups.Length > 0)
        {
            var bySeq = groups.ToDictionary(g => g.Seq, _ => new List<MemberRef>());
            await using (var cmd = new NpgsqlCommand("""
                SELECT group_seq, member_id, member_type, display FROM group_members WHERE group_seq = ANY($1) ORDER BY group_seq, member_id
                """, c) { Parameters = { new() { Value = groups.Select(g => g.Seq).ToArray() } } })
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    bySeq[r.GetInt64(0)].Add(new MemberRef(r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)));
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "Group") result[i] = result[i] with { Members = bySeq[result[i].Seq] };
        }
        var users = list.Where(r => r.ResourceType == "User").ToArray();
        if (load.Groups && users.Length > 0)
        {
            var byId = await GroupsOfAsync(c, null, users.Select(u => u.Id).ToArray(), ct).ConfigureAwait(false);
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "User") result[i] = result[i] with { Groups = byId[result[i].Id] };
        }
        return result;
    }
}
