using Npgsql;
using ScimSync.Secrets;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The secrets the database holds, and the one place that seals and opens them (DESIGN.md invariant 9), as
/// SqliteSecrets: each subscription's SET signing key, sealed with the key ring and bound to the subscription's
/// id; and the secrets every instance must share (the cursor key), bound to their names. Every instance opens
/// them with the same key file, so instances share it (docs/postgres.md).
/// </summary>
internal sealed class PostgresSecrets(KeyRing? keys)
{
    private KeyRing Keys => keys ?? throw new InvalidOperationException("This store was opened without a key ring, so it cannot read or write sealed secrets");

    public bool HasKeys => keys is not null;

    private static string Purpose(string subscriptionId) => "subscriptions.signing_key/" + subscriptionId;

    private static string SharedPurpose(string name) => "shared_secrets/" + name;

    public string SealSigningKey(string subscriptionId, string clear) => Keys.Seal(clear, Purpose(subscriptionId));

    public string OpenSigningKey(string subscriptionId, string stored) =>
        KeyRing.IsSealed(stored)
            ? Keys.UnsealText(stored, Purpose(subscriptionId))
            : throw new PrivateDataException($"subscription {subscriptionId} has a clear-text signing key; this store never writes one");

    /// <summary>
    /// Re-seals every value with the ring's current key (<paramref name="all"/>), or only checks that each value's
    /// key is in the ring, so a server pointed at the wrong key file stops at start. In the caller's transaction;
    /// returns how many values were written.
    /// </summary>
    public async Task<int> SealAsync(NpgsqlConnection c, NpgsqlTransaction tx, bool all, CancellationToken ct)
    {
        var written = 0;
        foreach (var (table, key, column, purpose) in new (string, string, string, Func<string, string>)[]
                 { ("subscriptions", "id", "signing_key", Purpose), ("shared_secrets", "name", "value", SharedPurpose) })
        {
            var rows = new List<(string Id, string Stored)>();
            await using (var cmd = new NpgsqlCommand($"SELECT {key}, {column} FROM {table} FOR UPDATE", c, tx))
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false)) rows.Add((r.GetString(0), r.GetString(1)));
            foreach (var (id, stored) in rows)
            {
                if (!(all && KeyRing.KeyIdOf(stored) != Keys.CurrentKeyId))
                {
                    Keys.Unseal(stored, purpose(id)); // throws, naming the key file, when the key is not there
                    continue;
                }
                var clear = Keys.Unseal(stored, purpose(id));
                await using var update = new NpgsqlCommand($"UPDATE {table} SET {column} = $1 WHERE {key} = $2", c, tx)
                {
                    Parameters = { new() { Value = Keys.Seal(clear, purpose(id)) }, new() { Value = id } },
                };
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                written++;
            }
        }
        return written;
    }

    /// <summary>
    /// The shared secret <paramref name="name"/>, created from <paramref name="create"/> by whichever instance asks
    /// first; the others read that one (INSERT … ON CONFLICT DO NOTHING, then read back).
    /// </summary>
    public async Task<byte[]> SharedAsync(NpgsqlDataSource source, string name, Func<byte[]> create, CancellationToken ct)
    {
        await using (var insert = source.CreateCommand("INSERT INTO shared_secrets(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"))
        {
            insert.Parameters.Add(new() { Value = name });
            insert.Parameters.Add(new() { Value = Keys.Seal(create(), SharedPurpose(name)) });
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using var read = source.CreateCommand("SELECT value FROM shared_secrets WHERE name = $1");
        read.Parameters.Add(new() { Value = name });
        return Keys.Unseal((string)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!, SharedPurpose(name));
    }
}
