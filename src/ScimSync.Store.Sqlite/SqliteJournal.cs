using System.Text.Json;
using Microsoft.Data.Sqlite;
using ScimSync.Store.Journal;

namespace ScimSync.Store.Sqlite;

internal static class SqliteJournal
{
    private const string AppendSql = """
        INSERT INTO journal(txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, urgent, writer)
        VALUES (@txn, @type, @id, @op, @version, @attrs, @data, @request, @actor, @time, @urgent, @writer) RETURNING position
        """;

    private const string Columns = "position, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, writer";

    private const string ReadSql = $"SELECT {Columns} FROM journal WHERE position > @after ORDER BY position LIMIT @limit";

    // The literal "urgent = 1" lets SQLite answer from the partial index ix_journal_urgent. Only columns stored
    // before "data" are read, so a large document's overflow pages are not.
    private const string ReadUrgentSql = "SELECT position, resource_type, resource_id FROM journal WHERE urgent = 1 AND position > @after ORDER BY position LIMIT @limit";

    private const string ReadResourceSql = $"""
        SELECT {Columns} FROM journal WHERE resource_id = @id AND position > @after AND position <= @through
        ORDER BY position LIMIT @limit
        """;

    public const string HighWaterSql = "SELECT coalesce(max(position), 0) FROM journal";

    public static long Append(SqliteConnection c, SqliteTransaction tx, JournalAppend e) =>
        (long)PreparedCommands.Get(c, AppendSql, tx,
            ("@txn", e.Txn), ("@type", e.ResourceType), ("@id", e.ResourceId), ("@op", e.Operation.ToString().ToLowerInvariant()),
            ("@version", e.Version), ("@attrs", JsonSerializer.Serialize(e.Attributes)), ("@data", e.Data), ("@request", e.Request),
            ("@actor", e.Actor), ("@time", e.Time.UtcTicks), ("@urgent", JournalUrgency.IsUrgent(e) ? 1 : 0), ("@writer", e.Writer)).ExecuteScalar()!;

    public static IReadOnlyList<JournalEntry> Read(SqliteConnection c, long after, int limit) =>
        ReadEntries(PreparedCommands.Get(c, ReadSql, null, ("@after", after), ("@limit", limit)), limit);

    public static IReadOnlyList<JournalMarker> ReadUrgent(SqliteConnection c, long after, int limit)
    {
        var list = new List<JournalMarker>();
        using var r = PreparedCommands.Get(c, ReadUrgentSql, null, ("@after", after), ("@limit", limit)).ExecuteReader();
        while (r.Read()) list.Add(new JournalMarker(r.GetInt64(0), r.GetString(1), r.GetString(2)));
        return list;
    }

    public static IReadOnlyList<JournalEntry> ReadResource(SqliteConnection c, string resourceId, long after, long through, int limit) =>
        ReadEntries(PreparedCommands.Get(c, ReadResourceSql, null, ("@id", resourceId), ("@after", after), ("@through", through), ("@limit", limit)), limit);

    private static List<JournalEntry> ReadEntries(SqliteCommand cmd, int limit)
    {
        var list = new List<JournalEntry>(Math.Min(limit, 1024));
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            list.Add(new JournalEntry(r.GetInt64(0), new JournalAppend(
                r.GetString(1), r.GetString(2), r.GetString(3),
                Enum.Parse<JournalOperation>(r.GetString(4), ignoreCase: true), r.GetInt64(5),
                JsonSerializer.Deserialize<string[]>(r.GetString(6)) ?? [],
                r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
                new DateTimeOffset(r.GetInt64(10), TimeSpan.Zero)) { Writer = r.IsDBNull(11) ? null : r.GetString(11) }));
        }
        return list;
    }

    /// <summary>
    /// Sets the urgent flag on entries journaled before the column existed (schema version 2), so that
    /// fan-out's look-ahead sees them too. The LIKE prefilter only narrows which rows are read; whether an
    /// entry is urgent is decided by <see cref="JournalUrgency"/>, as for every new entry.
    /// </summary>
    public static int BackfillUrgent(SqliteConnection c, SqliteTransaction tx)
    {
        List<JournalEntry> candidates;
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"""
                SELECT {Columns} FROM journal
                WHERE operation = 'delete' OR attributes LIKE '%"password"%' OR attributes LIKE '%"members"%' OR attributes LIKE '%"active"%'
                """;
            candidates = ReadEntries(cmd, 1024);
        }
        var n = 0;
        using var update = c.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE journal SET urgent = 1 WHERE position = @p";
        var p = update.Parameters.Add("@p", SqliteType.Integer);
        foreach (var e in candidates.Where(e => JournalUrgency.IsUrgent(e.Change)))
        {
            p.Value = e.Position;
            n += update.ExecuteNonQuery();
        }
        return n;
    }

    public static long HighWater(SqliteConnection c, SqliteTransaction? tx) =>
        (long)PreparedCommands.Get(c, HighWaterSql, tx).ExecuteScalar()!;
}
