using Npgsql;
using ScimSync.Sync.Leases;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// A command's leases on targets (<see cref="ITargetClaimStore"/>), in the same <c>target_leases</c> rows the engines
/// hold (PostgresTargetLeases), so one owner per target at a time holds for commands and engines alike: a target is
/// taken only when it has no lease or a lapsed one (or already is this holder's), in one statement. A target a live
/// owner holds gets a row in <c>lease_requests</c> instead, which the owner's next heartbeat reads; the row lapses
/// after one term unless the command renews it by asking again. The command writes no heartbeat: it is no engine,
/// and the engines' shares stay as they were.
/// </summary>
public sealed class PostgresTargetClaims : ITargetClaimStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _source;

    /// <param name="holder">This command as owners are shown, unique among live holders (verb, host and process id).</param>
    public PostgresTargetClaims(PostgresSyncState state, string holder, TimeSpan? term = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(holder);
        Holder = holder;
        Term = term ?? PostgresTargetLeases.DefaultTerm;
        // Apart from the state's pool: a renewal never waits behind the command's state writes.
        _source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(state.ConnectionString) { MaxPoolSize = 2, Timeout = 3, CommandTimeout = 3 }.ConnectionString);
    }

    public string Holder { get; }

    public TimeSpan Term { get; }

    public Task<string?> TryClaimAsync(string target, bool request, CancellationToken ct) => RunAsync<string?>(async (db, tx) =>
    {
        var taken = await ScalarAsync(db, tx, """
            INSERT INTO target_leases(target, owner, expires, taken) VALUES (@t, @me, now() + @term, now())
            ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, taken = excluded.taken
            WHERE target_leases.expires < now() OR target_leases.owner = excluded.owner
            RETURNING owner
            """, ct, ("@t", target)).ConfigureAwait(false);
        if (taken is not null)
        {
            await ScalarAsync(db, tx, "DELETE FROM lease_requests WHERE target = @t AND requester = @me", ct, ("@t", target)).ConfigureAwait(false);
            return null;
        }
        var owner = (string?)await ScalarAsync(db, tx, "SELECT owner FROM target_leases WHERE target = @t", ct, ("@t", target)).ConfigureAwait(false);
        // Another command's live request stands: both wait, and whoever asks first once the owner let go takes it.
        if (request)
            await ScalarAsync(db, tx, """
                INSERT INTO lease_requests(target, requester, expires) VALUES (@t, @me, now() + @term)
                ON CONFLICT (target) DO UPDATE SET requester = excluded.requester, expires = excluded.expires
                WHERE lease_requests.expires < now() OR lease_requests.requester = excluded.requester
                """, ct, ("@t", target)).ConfigureAwait(false);
        // Released between the two statements: nobody is named, and the next attempt takes it.
        return owner ?? "nobody (just released)";
    }, "taken");

    public Task<IReadOnlyList<string>> RenewAsync(CancellationToken ct) => RunAsync<IReadOnlyList<string>>(async (db, tx) =>
    {
        await using var cmd = Command(db, tx, "UPDATE target_leases SET expires = now() + @term WHERE owner = @me RETURNING target");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var renewed = new List<string>();
        while (await r.ReadAsync(ct).ConfigureAwait(false)) renewed.Add(r.GetString(0));
        return renewed;
    }, "renewed");

    public Task WithdrawRequestsAsync(CancellationToken ct) =>
        RunAsync((db, tx) => ScalarAsync(db, tx, "DELETE FROM lease_requests WHERE requester = @me", ct), "withdrawn");

    public Task ReleaseAllAsync(CancellationToken ct) =>
        RunAsync((db, tx) => ScalarAsync(db, tx, "DELETE FROM target_leases WHERE owner = @me; DELETE FROM lease_requests WHERE requester = @me", ct), "released");

    private NpgsqlCommand Command(NpgsqlConnection db, NpgsqlTransaction tx, string sql, params (string, object)[] args)
    {
        var cmd = new NpgsqlCommand(sql, db, tx);
        cmd.Parameters.AddWithValue("@me", Holder);
        cmd.Parameters.AddWithValue("@term", Term);
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        return cmd;
    }

    private async Task<object?> ScalarAsync(NpgsqlConnection db, NpgsqlTransaction tx, string sql, CancellationToken ct, params (string, object)[] args)
    {
        await using var cmd = Command(db, tx, sql, args);
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    /// <summary>One transaction; the database's failures as the state's (<see cref="SyncStateUnavailableException"/>).</summary>
    private async Task<T> RunAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, string what)
    {
        try
        {
            await using var db = await _source.OpenConnectionAsync().ConfigureAwait(false);
            await using var tx = await db.BeginTransactionAsync().ConfigureAwait(false);
            var result = await work(db, tx).ConfigureAwait(false);
            await tx.CommitAsync().ConfigureAwait(false);
            return result;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new SyncStateUnavailableException($"the target leases could not be {what}: {e.Message}", e);
        }
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
