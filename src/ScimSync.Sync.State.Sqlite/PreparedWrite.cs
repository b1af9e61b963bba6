using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// One write statement of the state, prepared once on the connection and bound by position. Microsoft.Data.Sqlite
/// binds every parameter by name at every execution (a new parameter object, a UTF-8 copy of its name, a search of the
/// statement's names); an initial load runs the state's few writes 100,000 times each, and in a profile of such writes
/// that binding took about a third of the writer's time. Here the names are looked up once, when the statement is
/// prepared. Runs inside the
/// transaction the connection has open (SqliteSyncState.Batch), under the state's lock, like every other statement.
/// </summary>
internal sealed class PreparedWrite : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    private readonly string[] _names;

    private PreparedWrite(sqlite3 db, sqlite3_stmt statement, string[] names)
    {
        _db = db;
        _statement = statement;
        _names = names;
    }

    /// <summary>Prepares <paramref name="sql"/>, which must be one statement (SQLite's failures as <see cref="SqliteException"/>).</summary>
    public static PreparedWrite Prepare(SqliteConnection connection, string sql)
    {
        var db = connection.Handle ?? throw new InvalidOperationException("the state's connection is not open");
        var rc = raw.sqlite3_prepare_v2(db, sql, out var statement, out var tail);
        SqliteException.ThrowExceptionForRC(rc, db);
        if (!string.IsNullOrWhiteSpace(tail))
        {
            statement.Dispose();
            throw new ArgumentException("a prepared write is one statement: " + sql, nameof(sql));
        }
        // Parameters are numbered from 1; a name used twice in the statement is one parameter.
        var names = new string[raw.sqlite3_bind_parameter_count(statement)];
        for (var i = 0; i < names.Length; i++) names[i] = raw.sqlite3_bind_parameter_name(statement, i + 1).utf8_to_string();
        return new PreparedWrite(db, statement, names);
    }

    /// <summary>Runs the statement with these values (by name, as the SQL names them); returns the rows it changed.</summary>
    public int Execute((string Name, object? Value)[] args)
    {
        try
        {
            foreach (var (name, value) in args) Bind(Array.IndexOf(_names, name) + 1, name, value);
            var rc = raw.sqlite3_step(_statement);
            if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW) SqliteException.ThrowExceptionForRC(rc, _db);
            return raw.sqlite3_changes(_db);
        }
        finally
        {
            // Ready for the next execution, and never left in progress when the transaction ends (also after a failure).
            raw.sqlite3_reset(_statement);
            raw.sqlite3_clear_bindings(_statement);
        }
    }

    private void Bind(int index, string name, object? value)
    {
        if (index == 0) throw new ArgumentException($"the statement has no parameter {name}", nameof(name));
        var rc = value switch
        {
            null or DBNull => raw.sqlite3_bind_null(_statement, index),
            // As UTF-16, which SQLite converts to the file's UTF-8 itself: no UTF-8 copy of every document on the managed heap.
            string s => raw.sqlite3_bind_text16(_statement, index, s.AsSpan()),
            long l => raw.sqlite3_bind_int64(_statement, index, l),
            int i => raw.sqlite3_bind_int64(_statement, index, i),
            bool b => raw.sqlite3_bind_int64(_statement, index, b ? 1 : 0),
            double d => raw.sqlite3_bind_double(_statement, index, d),
            byte[] bytes => raw.sqlite3_bind_blob(_statement, index, bytes),
            _ => throw new ArgumentException($"{name}: a {value.GetType().Name} is not a value the state stores", nameof(value)),
        };
        SqliteException.ThrowExceptionForRC(rc, _db);
    }

    public void Dispose() => _statement.Dispose();
}
