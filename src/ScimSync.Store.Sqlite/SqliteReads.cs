using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;

namespace ScimSync.Store.Sqlite;

/// <summary>Read queries, shared by reader connections and the write session (which reads its own writes).</summary>
internal static class SqliteReads
{
    private const string FindSql = $"SELECT {SqliteSchema.ResourceColumns} FROM resources r WHERE r.id = @id AND r.type = @type";

    /// <summary>User.groups of one user: direct and indirect (SqliteGroupReach says how far, and why it ends).</summary>
    public static readonly string GroupsOfUserSql = SqliteGroupReach.Groups("m0.member_id = @id") + " ORDER BY g.id";

    public const string MembersOfGroupSql = "SELECT member_id, member_type, display FROM group_members WHERE group_seq = @s ORDER BY member_id";

    /// <summary>One resource by id, with members or groups when asked; shared by readers and the writer.</summary>
    public static StoredResource? Find(SqliteConnection c, SqliteTransaction? tx, string type, string id, LoadOptions load)
    {
        StoredResource? found;
        var cmd = PreparedCommands.Get(c, FindSql, tx, ("@id", id), ("@type", type));
        using (var r = cmd.ExecuteReader())
            found = r.Read() ? ReadResource(r) : null;
        return found is null ? null : WithRelations(c, tx, found, load);
    }

    private static StoredResource WithRelations(SqliteConnection c, SqliteTransaction? tx, StoredResource found, LoadOptions load)
    {
        if (load.Members && found.ResourceType == "Group")
        {
            var list = new List<MemberRef>();
            using var r = PreparedCommands.Get(c, MembersOfGroupSql, tx, ("@s", found.Seq)).ExecuteReader();
            while (r.Read()) list.Add(new MemberRef(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)));
            found = found with { Members = list };
        }
        if (load.Groups && found.ResourceType == "User")
        {
            var list = new List<GroupRef>();
            using var r = PreparedCommands.Get(c, GroupsOfUserSql, tx, ("@id", found.Id)).ExecuteReader();
            while (r.Read()) list.Add(new GroupRef(r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3) != 0));
            found = found with { Groups = list };
        }
        return found;
    }

    public static StoredResource ReadResource(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3),
        new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero), r.GetInt64(6))
    {
        PasswordHash = r.IsDBNull(7) ? null : r.GetString(7),
    };

    /// <summary>
    /// Runs the page, the count and the journal high-water mark in one read transaction: in WAL mode they
    /// then see one snapshot, so the position returned is exactly the state the page shows.
    /// </summary>
    public static QueryPage Query(SqliteConnection c, ResourceQuery q)
    {
        using var tx = c.BeginTransaction(deferred: true);
        var page = QueryInSnapshot(c, tx, q);
        var position = SqliteJournal.HighWater(c, tx);
        tx.Commit();
        return page with { JournalPosition = position };
    }

    private static QueryPage QueryInSnapshot(SqliteConnection c, SqliteTransaction tx, ResourceQuery q)
    {
        var compiler = new SqliteFilterCompiler();
        var where = new StringBuilder();
        var sortCases = new List<(string Type, string Key)>();
        foreach (var tf in q.Filters)
        {
            if (where.Length > 0) where.Append(" OR ");
            var type = compiler.Param(tf.ResourceType.Name);
            where.Append("(r.type = ").Append(type);
            if (tf.Filter is not null) where.Append(" AND ").Append(compiler.Compile(tf.Filter));
            where.Append(')');
            if (tf.SortAttribute is not null && SqliteFilterCompiler.SortKey(tf.SortAttribute) is { } key)
                sortCases.Add((type, key));
        }
        var whereSql = where.Length == 0 ? "0" : where.ToString();

        int Count() => Convert.ToInt32(
            PreparedCommands.Get(c, $"SELECT count(*) FROM resources r WHERE {whereSql}", tx, compiler.Parameters).ExecuteScalar(),
            CultureInfo.InvariantCulture);

        var page = q.Page;
        if (page.Count <= 0)
        {
            var all = Count();
            return new QueryPage([], all, all > 0, 0);
        }

        var orderBy = "r.seq";
        if (q.Sort is not null && sortCases.Count > 0 && page.AfterSeq is null)
        {
            var key = sortCases.Count == 1 && q.Filters.Count == 1
                ? sortCases[0].Key
                : "CASE r.type " + string.Concat(sortCases.Select(s => $"WHEN {s.Type} THEN {s.Key} ")) + "END";
            // RFC 7644 §3.4.2.3: missing values sort last ascending and first descending.
            orderBy = q.Sort.Descending
                ? $"(({key}) IS NULL) DESC, ({key}) DESC, r.seq"
                : $"(({key}) IS NULL), ({key}), r.seq";
        }

        var parameters = compiler.Parameters.ToList();
        string sql;
        if (page.AfterSeq is { } after)
        {
            sql = $"SELECT {SqliteSchema.ResourceColumns} FROM resources r WHERE ({whereSql}) AND r.seq > @after ORDER BY r.seq LIMIT @limit";
            parameters.Add(new SqliteParameter("@after", after));
        }
        else
        {
            sql = $"SELECT {SqliteSchema.ResourceColumns} FROM resources r WHERE {whereSql} ORDER BY {orderBy} LIMIT @limit OFFSET @offset";
            parameters.Add(new SqliteParameter("@offset", Math.Max(0, page.StartIndex - 1)));
        }
        // One extra row tells whether another page exists without a second count.
        parameters.Add(new SqliteParameter("@limit", page.Count + 1));
        var cmd = PreparedCommands.Get(c, sql, tx, parameters);
        var list = new List<StoredResource>(Math.Min(page.Count + 1, 1024));
        using (var r = cmd.ExecuteReader())
            while (r.Read()) list.Add(ReadResource(r));
        var hasMore = list.Count > page.Count;
        if (hasMore) list.RemoveAt(list.Count - 1);
        // A first page that holds everything already knows the total: the common lookup
        // (filter=userName eq "x") then costs one query, not two.
        var total = !hasMore && page.AfterSeq is null && page.StartIndex <= 1 ? list.Count : Count();
        return new QueryPage(Attach(c, tx, list, q.Load), total, hasMore, 0);
    }

    /// <summary>Loads members and groups for a page in two queries, not one per resource.</summary>
    public static IReadOnlyList<StoredResource> Attach(SqliteConnection c, SqliteTransaction? tx, IReadOnlyList<StoredResource> list, LoadOptions load)
    {
        if (list.Count == 0 || !(load.Members || load.Groups)) return list;
        if (list.Count == 1) return [WithRelations(c, tx, list[0], load)];
        var result = list.ToArray();
        var groups = list.Where(r => r.ResourceType == "Group").ToArray();
        if (load.Members && groups.Length > 0)
        {
            var bySeq = groups.ToDictionary(g => g.Seq, _ => new List<MemberRef>());
            foreach (var chunk in groups.Chunk(500))
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = $"SELECT group_seq, member_id, member_type, display FROM group_members WHERE group_seq IN ({string.Join(',', chunk.Select(g => g.Seq))}) ORDER BY group_seq, member_id";
                using var r = cmd.ExecuteReader();
                while (r.Read())
                    bySeq[r.GetInt64(0)].Add(new MemberRef(r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)));
            }
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "Group") result[i] = result[i] with { Members = bySeq[result[i].Seq] };
        }
        var users = list.Where(r => r.ResourceType == "User").ToArray();
        if (load.Groups && users.Length > 0)
        {
            var byId = users.ToDictionary(u => u.Id, _ => new List<GroupRef>());
            foreach (var chunk in users.Chunk(500))
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                var names = new List<string>();
                for (var i = 0; i < chunk.Length; i++)
                {
                    names.Add("@u" + i.ToString(CultureInfo.InvariantCulture));
                    cmd.Parameters.AddWithValue(names[^1], chunk[i].Id);
                }
                cmd.CommandText = SqliteGroupReach.Groups($"m0.member_id IN ({string.Join(',', names)})") + " ORDER BY reach.member_id, g.id";
                using var r = cmd.ExecuteReader();
                while (r.Read())
                    byId[r.GetString(0)].Add(new GroupRef(r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3) != 0));
            }
            for (var i = 0; i < result.Length; i++)
                if (result[i].ResourceType == "User") result[i] = result[i] with { Groups = byId[result[i].Id] };
        }
        return result;
    }
}
