using Npgsql;
using ScimSync.Store.Passwords;

namespace ScimSync.Store.Postgres;

/// <summary>The sealed passwords waiting for their subscriptions (<see cref="IPasswordDeliveries"/>), in table password_deliveries.</summary>
internal sealed class PostgresPasswordDeliveries(NpgsqlDataSource source) : IPasswordDeliveries
{
    public Task<IReadOnlyList<PendingPassword>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        if (max <= 0) return (IReadOnlyList<PendingPassword>)[];
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        // An expired ciphertext is dropped before anything is handed out: past its expiry it is never delivered.
        await using (var drop = new NpgsqlCommand("UPDATE password_deliveries SET jwe = NULL WHERE subscription_id = $1 AND expires <= $2 AND jwe IS NOT NULL", c, tx))
        {
            drop.Parameters.Add(new() { Value = subscriptionId });
            drop.Parameters.Add(new() { Value = now.UtcTicks });
            await drop.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        var list = new List<PendingPassword>();
        // SKIP LOCKED: two instances answering the same subscriber's polls never hand out one password twice.
        await using (var cmd = new NpgsqlCommand("""
            UPDATE password_deliveries d SET visible_at = $3 FROM (
                SELECT id FROM password_deliveries WHERE subscription_id = $1 AND visible_at <= $2
                ORDER BY created, id LIMIT $4 FOR UPDATE SKIP LOCKED) c
            WHERE d.subscription_id = $1 AND d.id = c.id
            RETURNING d.id, d.resource_id, d.jwe, d.created, d.expires
            """, c, tx))
        {
            cmd.Parameters.Add(new() { Value = subscriptionId });
            cmd.Parameters.Add(new() { Value = now.UtcTicks });
            cmd.Parameters.Add(new() { Value = (now + visibility).UtcTicks });
            cmd.Parameters.Add(new() { Value = max });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                list.Add(new PendingPassword(r.GetString(0), subscriptionId, r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2),
                    new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero)));
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (IReadOnlyList<PendingPassword>)list.OrderBy(p => p.Created).ThenBy(p => p.Id, StringComparer.Ordinal).ToList();
    });

    public Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> ids, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        if (ids.Count == 0) return 0;
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("DELETE FROM password_deliveries WHERE subscription_id = $1 AND id = ANY($2)", c);
        cmd.Parameters.Add(new() { Value = subscriptionId });
        cmd.Parameters.Add(new() { Value = ids.ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    });

    public Task<IReadOnlyList<PendingPassword>> ExpireAsync(DateTimeOffset now, DateTimeOffset forgetBefore, CancellationToken ct) => PostgresErrors.Guard(async () =>
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        var list = new List<PendingPassword>();
        await using (var cmd = new NpgsqlCommand("""
            UPDATE password_deliveries SET jwe = NULL WHERE expires <= $1 AND jwe IS NOT NULL
            RETURNING subscription_id, id, resource_id, created, expires
            """, c, tx))
        {
            cmd.Parameters.Add(new() { Value = now.UtcTicks });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                list.Add(new PendingPassword(r.GetString(1), r.GetString(0), r.GetString(2), null,
                    new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(4), TimeSpan.Zero)));
        }
        await using (var forget = new NpgsqlCommand("DELETE FROM password_deliveries WHERE expires < $1 AND jwe IS NULL", c, tx))
        {
            forget.Parameters.Add(new() { Value = forgetBefore.UtcTicks });
            await forget.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return (IReadOnlyList<PendingPassword>)list;
    });
}
