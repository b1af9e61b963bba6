using System.Text.Json;
using Microsoft.Data.Sqlite;
using ScimSync.Store.Journal;

namespace ScimSync.Store.Sqlite;

internal static class SqliteJournal
{
    private const string AppendSql = """
        INSERT INTO journal(txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time)
        VALUES (@txn, @type, @id, @op, @version, @attrs, @data, @request, @actor, @time) RETURNING position
        """;

    private const string ReadSql = """
        SELECT position, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time
        FROM journal WHERE position > @after ORDER BY position LIMIT @limit
        """;

    public const string HighWaterSql = "SELECT coalesce(max(position), 0) FROM journal";

    public static long Append(SqliteConnection c, SqliteTransaction tx, JournalAppend e) =>
        (long)PreparedCommands.Get(c, AppendSql, tx,
            ("@txn", e.Txn), ("@type", e.ResourceType), ("@id", e.ResourceId), ("@op", e.Operation.ToString().ToLowerInvariant()),
            ("@version", e.Version), ("@attrs", JsonSerializer.Serialize(e.Attributes)), ("@data", e.Data), ("@request", e.Request),
            ("@actor", e.Actor), ("@time", e.Time.UtcTicks)).ExecuteScalar()!;

    public static IReadOnlyList<JournalEntry> Read(SqliteConnection c, long after, int limit)
    {
        var list = new List<JournalEntry>(Math.Min(limit, 1024));
        using var r = PreparedCommands.Get(c, ReadSql, null, ("@after", after), ("@limit", limit)).ExecuteReader();
        while (r.Read())
        {
            list.Add(new JournalEntry(r.GetInt64(0), new JournalAppend(
                r.GetString(1), r.GetString(2), r.GetString(3),
                Enum.Parse<JournalOperation>(r.GetString(4), ignoreCase: true), r.GetInt64(5),
                JsonSerializer.Deserialize<string[]>(r.GetString(6)) ?? [],
                r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
                new DateTimeOffset(r.GetInt64(10), TimeSpan.Zero))));
        }
        return list;
    }

    public static long HighWater(SqliteConnection c, SqliteTransaction? tx) =>
        (long)PreparedCommands.Get(c, HighWaterSql, tx).ExecuteScalar()!;
}
