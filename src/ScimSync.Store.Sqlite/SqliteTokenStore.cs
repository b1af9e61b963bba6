using ScimSync.Store.Tokens;

namespace ScimSync.Store.Sqlite;

internal sealed class SqliteTokenStore(SqliteConnectionPool pool) : ITokenStore
{
    public async Task AddAsync(AccessToken token, CancellationToken ct)
    {
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var cmd = w.Connection.CreateCommand();
        cmd.CommandText = "INSERT INTO tokens(id, name, hash, scopes, user_id, created, expires, revoked) VALUES (@id, @n, @h, @s, @u, @c, @e, NULL)";
        cmd.Parameters.AddWithValue("@id", token.Id);
        cmd.Parameters.AddWithValue("@n", token.Name);
        cmd.Parameters.AddWithValue("@h", token.Hash);
        cmd.Parameters.AddWithValue("@s", string.Join(' ', token.Scopes));
        cmd.Parameters.AddWithValue("@u", (object?)token.UserId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("@c", token.Created.UtcTicks);
        cmd.Parameters.AddWithValue("@e", (object?)token.Expires?.UtcTicks ?? DBNull.Value);
        try
        {
            cmd.ExecuteNonQuery();
        }
        catch (Microsoft.Data.Sqlite.SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new InvalidOperationException($"A token named \"{token.Name}\" already exists.");
        }
    }

    public async Task<AccessToken?> FindByHashAsync(string hash, CancellationToken ct)
    {
        using var lease = await pool.RentAsync(ct).ConfigureAwait(false);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT id, name, hash, scopes, user_id, created, expires, revoked FROM tokens WHERE hash = @h";
        cmd.Parameters.AddWithValue("@h", hash);
        using var r = cmd.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    public async Task<IReadOnlyList<AccessToken>> ListAsync(CancellationToken ct)
    {
        using var lease = await pool.RentAsync(ct).ConfigureAwait(false);
        using var cmd = lease.Connection.CreateCommand();
        cmd.CommandText = "SELECT id, name, hash, scopes, user_id, created, expires, revoked FROM tokens ORDER BY created";
        using var r = cmd.ExecuteReader();
        var list = new List<AccessToken>();
        while (r.Read()) list.Add(Read(r));
        return list;
    }

    public async Task<bool> RevokeAsync(string idOrName, DateTimeOffset when, CancellationToken ct)
    {
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var cmd = w.Connection.CreateCommand();
        cmd.CommandText = "UPDATE tokens SET revoked = @w WHERE (id = @k OR name = @k) AND revoked IS NULL";
        cmd.Parameters.AddWithValue("@w", when.UtcTicks);
        cmd.Parameters.AddWithValue("@k", idOrName);
        return cmd.ExecuteNonQuery() > 0;
    }

    public async Task<int> RevokeByScopeAsync(string scope, DateTimeOffset when, CancellationToken ct)
    {
        using var w = await pool.RentWriterAsync(ct).ConfigureAwait(false);
        using var cmd = w.Connection.CreateCommand();
        // Scopes are stored space-separated: a whole-word match, never a prefix of another scope.
        cmd.CommandText = "UPDATE tokens SET revoked = @w WHERE revoked IS NULL AND instr(' ' || scopes || ' ', ' ' || @s || ' ') > 0";
        cmd.Parameters.AddWithValue("@w", when.UtcTicks);
        cmd.Parameters.AddWithValue("@s", scope);
        return cmd.ExecuteNonQuery();
    }

    private static AccessToken Read(Microsoft.Data.Sqlite.SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2),
        r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.IsDBNull(4) ? null : r.GetString(4),
        new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero),
        r.IsDBNull(6) ? null : new DateTimeOffset(r.GetInt64(6), TimeSpan.Zero),
        r.IsDBNull(7) ? null : new DateTimeOffset(r.GetInt64(7), TimeSpan.Zero));
}
