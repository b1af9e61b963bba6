using Npgsql;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// Key rotation of a shared state (<c>scimsync keys rotate --config FILE --state postgres://…</c>). Every engine
/// keeps the key file it loaded at start, so a rotation while one runs would seal with a key it does not have: the
/// command asks who is live first (<see cref="LiveHolders"/>) and refuses, and asks again before it retires the old key.
/// </summary>
public sealed partial class PostgresSyncState
{
    /// <summary>
    /// Key rotation: re-seals every secret with the key ring's current key in one transaction, then vacuums the table
    /// so that the row versions sealed with the old key leave it (PostgreSQL keeps them until VACUUM, and the retired
    /// key is what opens them). VACUUM removes only versions no open transaction may still see: with every engine
    /// stopped, that is all of them.
    /// </summary>
    public int ResealSecrets()
    {
        var count = 0;
        Batch(w =>
        {
            var rows = ((PostgresStateWriter)w).SecretsForReseal();
            foreach (var (key, stored) in rows) w.SetSecret(key, _keys.UnsealText(stored, StoredSecrets.Purpose(key)));
            count = rows.Count;
        });
        Read(db =>
        {
            using var vacuum = new NpgsqlCommand("VACUUM secrets", db);
            return vacuum.ExecuteNonQuery();
        });
        return count;
    }

    /// <summary>
    /// Who uses the state now: engines whose heartbeat has not lapsed, and holders of leases that have not (commands
    /// such as <c>sync confirm</c> among them), by the database's clock; empty when nobody does.
    /// </summary>
    public IReadOnlyList<string> LiveHolders() => Read(db =>
    {
        using var cmd = new NpgsqlCommand("""
            SELECT instance FROM engine_heartbeats WHERE expires > now()
            UNION SELECT owner FROM target_leases WHERE expires > now()
            ORDER BY 1
            """, db);
        using var r = cmd.ExecuteReader();
        var live = new List<string>();
        while (r.Read()) live.Add(r.GetString(0));
        return (IReadOnlyList<string>)live;
    });
}
