using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Hot statements stay prepared per connection: Microsoft.Data.Sqlite keeps a command's compiled
/// statement while its text is unchanged, so reusing the command object skips sqlite3_prepare on every
/// request. Connections are never shared between threads at the same time (one lease each).
/// </summary>
internal static class PreparedCommands
{
    private const int MaxPerConnection = 256;

    public static SqliteCommand Get(SqliteConnection c, string sql, SqliteTransaction? tx, IReadOnlyList<SqliteParameter> parameters)
    {
        var args = new (string, object?)[parameters.Count];
        for (var i = 0; i < parameters.Count; i++) args[i] = (parameters[i].ParameterName, parameters[i].Value);
        return Get(c, sql, tx, args);
    }

    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> Cache = new();

    public static SqliteCommand Get(SqliteConnection c, string sql, SqliteTransaction? tx, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        var commands = Cache.GetOrCreateValue(c);
        if (!commands.TryGetValue(sql, out var cmd))
        {
            // Filters compile to a bounded family of texts in practice, but a client could send endless
            // shapes; past the bound the cache starts over rather than growing.
            if (commands.Count >= MaxPerConnection)
            {
                foreach (var old in commands.Values) old.Dispose();
                commands.Clear();
            }
            cmd = c.CreateCommand();
            cmd.CommandText = sql;
            foreach (var (name, _) in args) cmd.Parameters.Add(new SqliteParameter { ParameterName = name });
            commands[sql] = cmd;
        }
        cmd.Transaction = tx;
        for (var i = 0; i < args.Length; i++) cmd.Parameters[i].Value = args[i].Value ?? DBNull.Value;
        return cmd;
    }
}
