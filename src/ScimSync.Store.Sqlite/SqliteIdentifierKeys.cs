using Microsoft.Data.Sqlite;
using ScimSync.Protocol.Resources;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Keeps <c>resources.user_name_key</c> computed by the rule the code has now (<see cref="ScimText.UniquenessKey"/>).
/// The unique index and every userName filter compare these keys, so a file written under an earlier rule
/// (NFKC and case folding, before RFC 8265) has its keys recomputed once, in the start-up transaction.
/// </summary>
internal static class SqliteIdentifierKeys
{
    /// <summary>Names the rule (<see cref="ScimText.UniquenessKeyRule"/>).</summary>
    public const string Rule = ScimText.UniquenessKeyRule;

    public static void EnsureCurrent(SqliteConnection db, SqliteTransaction tx)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            SELECT value FROM store_meta WHERE key = 'identifier_key_rule';
            """;
        if (cmd.ExecuteScalar() as string == Rule) return;

        var users = new List<(long Seq, string? UserName)>();
        cmd.CommandText = "SELECT seq, json_extract(data, '$.userName') FROM resources WHERE type = 'User'";
        using (var r = cmd.ExecuteReader())
            while (r.Read()) users.Add((r.GetInt64(0), r.IsDBNull(1) ? null : r.GetString(1)));
        // Cleared first: the unique index ignores NULL, so no row meets another's old key half-way.
        cmd.CommandText = "UPDATE resources SET user_name_key = NULL WHERE type = 'User'";
        cmd.ExecuteNonQuery();
        cmd.CommandText = "UPDATE resources SET user_name_key = @k WHERE seq = @s";
        var key = cmd.Parameters.Add("@k", SqliteType.Text);
        var seq = cmd.Parameters.Add("@s", SqliteType.Integer);
        foreach (var (s, name) in users)
        {
            key.Value = name is null ? DBNull.Value : ScimText.UniquenessKey(name);
            seq.Value = s;
            cmd.ExecuteNonQuery();
        }
        cmd.Parameters.Clear();
        cmd.CommandText = $"INSERT OR REPLACE INTO store_meta(key, value) VALUES ('identifier_key_rule', '{Rule}')";
        cmd.ExecuteNonQuery();
    }
}
