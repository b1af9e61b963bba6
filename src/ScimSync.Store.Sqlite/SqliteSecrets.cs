using Microsoft.Data.Sqlite;
using ScimSync.Secrets;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// The secrets the database holds, and the one place that seals and opens them (DESIGN.md invariant 9):
/// <c>subscriptions.signing_key</c>, each subscription's SET signing key (the HS256 secret, or the RS256/ES256
/// private key), sealed with the key ring and bound to the subscription's id. Token secrets and passwords are
/// never stored, only their hashes, so they need no key.
/// </summary>
internal sealed class SqliteSecrets(KeyRing? keys)
{
    private KeyRing Keys => keys ?? throw new InvalidOperationException("This store was opened without a key ring, so it cannot read or write subscription signing keys");

    public bool HasKeys => keys is not null;

    private static string Purpose(string subscriptionId) => "subscriptions.signing_key/" + subscriptionId;

    public string SealSigningKey(string subscriptionId, string clear) => Keys.Seal(clear, Purpose(subscriptionId));

    public string OpenSigningKey(string subscriptionId, string stored) =>
        KeyRing.IsSealed(stored)
            ? Keys.UnsealText(stored, Purpose(subscriptionId))
            // Initialization seals every clear key it finds, so one here means it did not run.
            : throw new PrivateDataException($"subscription {subscriptionId} has a clear-text signing key; start the server once to seal it");

    /// <summary>
    /// Seals what a previous build stored in clear (<paramref name="all"/> false), or re-seals everything with
    /// the current key (key rotation), in the caller's transaction. Then checks that every key a value names is in
    /// the ring, so a server pointed at the wrong key file stops at start rather than at its first event. Returns
    /// how many values were written.
    /// </summary>
    public int Seal(SqliteConnection c, SqliteTransaction tx, bool all)
    {
        var rows = new List<(string Id, string Stored)>();
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT id, signing_key FROM subscriptions";
            using var r = cmd.ExecuteReader();
            while (r.Read()) rows.Add((r.GetString(0), r.GetString(1)));
        }
        var written = 0;
        using var update = c.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE subscriptions SET signing_key = @k WHERE id = @id";
        var k = update.Parameters.Add("@k", SqliteType.Text);
        var id = update.Parameters.Add("@id", SqliteType.Text);
        foreach (var (subscription, stored) in rows)
        {
            var isSealed = KeyRing.IsSealed(stored);
            if (isSealed && !(all && KeyRing.KeyIdOf(stored) != Keys.CurrentKeyId))
            {
                Keys.Unseal(stored, Purpose(subscription)); // throws, naming the key file, when the key is not there
                continue;
            }
            var clear = isSealed ? Keys.UnsealText(stored, Purpose(subscription)) : stored;
            k.Value = SealSigningKey(subscription, clear);
            id.Value = subscription;
            update.ExecuteNonQuery();
            written++;
        }
        return written;
    }

    /// <summary>
    /// After sealing: rewrites the database file (VACUUM) and empties the WAL, so that no earlier copy of a value
    /// (the page image before the update, free space a previous build left in a page, a WAL frame) stays in
    /// the files. Slow on a large database (it copies the file), so it runs only when something was sealed or
    /// re-sealed: once when a previous build's data is migrated, and at key rotation.
    /// </summary>
    public static void Scrub(SqliteConnection c)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";
        cmd.ExecuteNonQuery();
    }
}
