using ScimSync.Store.Passwords;

namespace ScimSync.Store.Sqlite;

/// <summary>The sealed passwords waiting for their subscriptions (<see cref="IPasswordDeliveries"/>), in table password_deliveries.</summary>
internal sealed class SqlitePasswordDeliveries(SqliteConnectionPool pool) : IPasswordDeliveries
{
    public async Task<IReadOnlyList<PendingPassword>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct)
    {
        if (max <= 0) return [];
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var tx = w.Connection.BeginTransaction(deferred: false);
        // An expired ciphertext is dropped before anything is handed out: past its expiry it is never delivered.
        Exec(w, tx, "UPDATE password_deliveries SET jwe = NULL WHERE subscription_id = @s AND expires <= @now AND jwe IS NOT NULL",
            ("@s", subscriptionId), ("@now", now.UtcTicks));
        var list = new List<PendingPassword>();
        using (var cmd = w.Connection.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                SELECT id, resource_id, jwe, created, expires FROM password_deliveries
                WHERE subscription_id = @s AND visible_at <= @now ORDER BY created, id LIMIT @max
                """;
            cmd.Parameters.AddWithValue("@s", subscriptionId);
            cmd.Parameters.AddWithValue("@now", now.UtcTicks);
            cmd.Parameters.AddWithValue("@max", max);
            using var r = cmd.ExecuteReader();
            while (r.Read())
                list.Add(new PendingPassword(r.GetString(0), subscriptionId, r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2),
                    new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero)));
        }
        var until = (now + visibility).UtcTicks;
        foreach (var p in list)
            Exec(w, tx, "UPDATE password_deliveries SET visible_at = @v WHERE subscription_id = @s AND id = @id", ("@v", until), ("@s", subscriptionId), ("@id", p.Id));
        tx.Commit();
        return list;
    }

    public async Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> ids, CancellationToken ct)
    {
        if (ids.Count == 0) return 0;
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var tx = w.Connection.BeginTransaction(deferred: false);
        var n = 0;
        foreach (var id in ids)
            n += Exec(w, tx, "DELETE FROM password_deliveries WHERE subscription_id = @s AND id = @id", ("@s", subscriptionId), ("@id", id));
        tx.Commit();
        return n;
    }

    public async Task<IReadOnlyList<PendingPassword>> ExpireAsync(DateTimeOffset now, DateTimeOffset forgetBefore, CancellationToken ct)
    {
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var tx = w.Connection.BeginTransaction(deferred: false);
        var list = new List<PendingPassword>();
        using (var cmd = w.Connection.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                UPDATE password_deliveries SET jwe = NULL WHERE expires <= @now AND jwe IS NOT NULL
                RETURNING subscription_id, id, resource_id, created, expires
                """;
            cmd.Parameters.AddWithValue("@now", now.UtcTicks);
            using var r = cmd.ExecuteReader();
            while (r.Read())
                list.Add(new PendingPassword(r.GetString(1), r.GetString(0), r.GetString(2), null,
                    new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero)));
        }
        Exec(w, tx, "DELETE FROM password_deliveries WHERE expires < @before AND jwe IS NULL", ("@before", forgetBefore.UtcTicks));
        tx.Commit();
        return list;
    }

    private static int Exec(SqliteConnectionPool.WriterLease w, Microsoft.Data.Sqlite.SqliteTransaction tx, string sql, params ReadOnlySpan<(string, object?)> args) =>
        PreparedCommands.Get(w.Connection, sql, tx, args).ExecuteNonQuery();
}
