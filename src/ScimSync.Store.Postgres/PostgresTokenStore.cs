using Npgsql;
using ScimSync.Store.Tokens;

namespace ScimSync.Store.Postgres;

/// <summary>Bearer tokens, as SqliteTokenStore: only the hash of a secret is stored.</summary>
internal sealed class PostgresTokenStore(NpgsqlDataSource source) : ITokenStore
{
    private const string Columns = "id, name, hash, scopes, user_id, created, expires, revoked";

    public async Task AddAsync(AccessToken token, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"INSERT INTO tokens({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)");
        cmd.Parameters.Add(new() { Value = token.Id });
        cmd.Parameters.Add(new() { Value = token.Name });
        cmd.Parameters.Add(new() { Value = token.Hash });
        cmd.Parameters.Add(new() { Value = string.Join(' ', token.Scopes) });
        cmd.Parameters.Add(new() { Value = (object?)token.UserId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = token.Created.UtcTicks });
        cmd.Parameters.Add(new() { Value = (object?)token.Expires?.UtcTicks ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        try
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new InvalidOperationException($"A token named \"{token.Name}\" already exists.");
        }
    }

    public async Task<AccessToken?> FindByHashAsync(string hash, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"SELECT {Columns} FROM tokens WHERE hash = $1");
        cmd.Parameters.Add(new() { Value = hash });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false) ? Read(r) : null;
    }

    public async Task<IReadOnlyList<AccessToken>> ListAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand($"SELECT {Columns} FROM tokens ORDER BY created, id");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<AccessToken>();
        while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(Read(r));
        return list;
    }

    public async Task<bool> RevokeAsync(string idOrName, DateTimeOffset when, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("UPDATE tokens SET revoked = $1 WHERE (id = $2 OR name = $2) AND revoked IS NULL");
        cmd.Parameters.Add(new() { Value = when.UtcTicks });
        cmd.Parameters.Add(new() { Value = idOrName });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
    }

    public async Task<int> RevokeByScopeAsync(string scope, DateTimeOffset when, CancellationToken ct)
    {
        // Scopes are stored space-separated: a whole-word match, never a prefix of another scope.
        await using var cmd = source.CreateCommand("UPDATE tokens SET revoked = $1 WHERE revoked IS NULL AND $2 = ANY(string_to_array(scopes, ' '))");
        cmd.Parameters.Add(new() { Value = when.UtcTicks });
        cmd.Parameters.Add(new() { Value = scope });
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static AccessToken Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2),
        r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.IsDBNull(4) ? null : r.GetString(4),
        new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero),
        r.IsDBNull(6) ? null : new DateTimeOffset(r.GetInt64(6), TimeSpan.Zero),
        r.IsDBNull(7) ? null : new DateTimeOffset(r.GetInt64(7), TimeSpan.Zero));
}
