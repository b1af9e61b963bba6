using Microsoft.Data.Sqlite;
using ScimSync.Secrets;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// The engine's secrets (DESIGN.md invariant 9): the HS256 key of its feed subscription on the source, kept in
/// the <c>secrets</c> table sealed with the key file that lives apart from the state directory. Nothing else in
/// the state is a secret: the targets' credentials stay in the configuration (from the environment).
/// </summary>
public sealed partial class SqliteSyncState
{
    /// <summary>
    /// Checkpoints that earlier builds kept in clear and that are secrets: moved into <c>secrets</c>, sealed,
    /// when the state is opened (the feed's HS256 key, which SourceFeed keeps under the same name).
    /// </summary>
    private static readonly string[] LegacyClearSecrets = ["feed.secret"];

    /// <summary>A secret kept with <see cref="IStateWriter.SetSecret"/>, opened; null when none is kept.</summary>
    public string? GetSecret(string key)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT value FROM secrets WHERE key = @k", ("@k", key));
            return cmd.ExecuteScalar() is string stored ? _keys.UnsealText(stored, StoredSecrets.Purpose(key)) : null;
        });
    }

    /// <summary>
    /// Key rotation: re-seals every secret with the key ring's current key in one transaction, then rewrites the
    /// file so no copy sealed with the old key stays in it. Needs the store opened exclusively. Returns the count.
    /// </summary>
    public int ResealSecrets()
    {
        return Read(() =>
        {
            int count;
            using (var tx = _db.BeginTransaction())
            {
                count = Reseal(_db, tx, _keys);
                tx.Commit();
            }
            Scrub(_db);
            return count;
        });
    }

    private static int Reseal(SqliteConnection db, SqliteTransaction tx, KeyRing keys)
    {
        var rows = new List<(string Key, string Value)>();
        using (var read = db.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT key, value FROM secrets";
            using var r = read.ExecuteReader();
            while (r.Read()) rows.Add((r.GetString(0), r.GetString(1)));
        }
        foreach (var (key, stored) in rows)
            Write(db, tx, key, keys.Seal(keys.Unseal(stored, StoredSecrets.Purpose(key)), StoredSecrets.Purpose(key)));
        return rows.Count;
    }

    /// <summary>
    /// Moves the secrets a previous build kept in <c>checkpoints</c> in clear into <c>secrets</c>, sealed, and
    /// rewrites the file (VACUUM, WAL emptied) so the clear copy does not linger in free space; then checks that
    /// every sealed secret opens, so an engine pointed at the wrong key file stops now, not at its first poll.
    /// </summary>
    private static void SealLegacySecrets(SqliteConnection db, KeyRing keys)
    {
        var moved = 0;
        using (var tx = db.BeginTransaction())
        {
            foreach (var key in LegacyClearSecrets)
            {
                using var read = db.CreateCommand();
                read.Transaction = tx;
                read.CommandText = "SELECT value FROM checkpoints WHERE key = @k";
                read.Parameters.AddWithValue("@k", key);
                if (read.ExecuteScalar() is not string clear) continue;
                Write(db, tx, key, keys.Seal(clear, StoredSecrets.Purpose(key)));
                using var delete = db.CreateCommand();
                delete.Transaction = tx;
                delete.CommandText = "DELETE FROM checkpoints WHERE key = @k";
                delete.Parameters.AddWithValue("@k", key);
                delete.ExecuteNonQuery();
                moved++;
            }
            using (var all = db.CreateCommand())
            {
                all.Transaction = tx;
                all.CommandText = "SELECT key, value FROM secrets";
                using var r = all.ExecuteReader();
                while (r.Read()) keys.Unseal(r.GetString(1), StoredSecrets.Purpose(r.GetString(0)));
            }
            tx.Commit();
        }
        if (moved > 0) Scrub(db);
    }

    private static void Write(SqliteConnection db, SqliteTransaction tx, string key, string sealedValue)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR REPLACE INTO secrets(key, value) VALUES (@k, @v)";
        cmd.Parameters.AddWithValue("@k", key);
        cmd.Parameters.AddWithValue("@v", sealedValue);
        cmd.ExecuteNonQuery();
    }

    private static void Scrub(SqliteConnection db) => Exec(db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
}
