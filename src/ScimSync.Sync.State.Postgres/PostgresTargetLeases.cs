using Npgsql;
using ScimSync.Sync.Leases;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// Leases on targets in the state's schema (tables <c>engine_heartbeats</c> and <c>target_leases</c>,
/// PostgresStateSchema), timed by the database's clock (<c>now()</c>) so that engines on machines whose clocks
/// disagree still agree on who holds what:
/// <list type="bullet">
/// <item>A heartbeat is one transaction: this engine's row in engine_heartbeats and its leases get
/// <c>now() + term</c>; the live engines are the heartbeats not yet lapsed; its share is ceil(targets / live); it
/// takes targets with no lease or a lapsed one, in name order, until it holds its share.</item>
/// <item>Taking is one statement, <c>INSERT … ON CONFLICT DO UPDATE … WHERE expires &lt; now()</c>: two engines taking
/// the same target meet on its row, and the second finds it taken.</item>
/// <item>A command that needs a target (sync confirm, run …: PostgresTargetClaims) leaves a request in
/// <c>lease_requests</c>: the owner is told at its next heartbeat (<see cref="LeaseRound.Requested"/>), and no engine
/// takes a target with a live request from someone else, so the command gets it once the owner released it.</item>
/// <item>A killed engine stops renewing: its leases lapse after the term and the next heartbeat of another engine
/// takes them (term + one interval: 6 s with the defaults).</item>
/// </list>
/// Not advisory locks as the server's feed leases (PostgresLeases) use: those tell who holds a lock but not how many
/// engines are alive, and the first engine to start would take every target.
/// </summary>
public sealed class PostgresTargetLeases : ITargetLeaseStore
{
    public static readonly TimeSpan DefaultTerm = TimeSpan.FromSeconds(5);

    private readonly NpgsqlDataSource _source;

    /// <param name="state">The shared state: the leases live in its schema.</param>
    /// <param name="instance">This engine's name among those sharing the state; two live engines must not share one.</param>
    public PostgresTargetLeases(PostgresSyncState state, string instance, TimeSpan? term = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instance);
        Instance = instance;
        Term = term ?? DefaultTerm;
        // Apart from the state's pool: a heartbeat never waits behind a full pool of state writes.
        _source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(state.ConnectionString) { MaxPoolSize = 2, Timeout = 3, CommandTimeout = 3 }.ConnectionString);
    }

    public string Instance { get; }

    public TimeSpan Term { get; }

    public async Task<LeaseRound> RenewAsync(IReadOnlyList<string> targets, CancellationToken ct)
    {
        try
        {
            await using var db = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await db.BeginTransactionAsync(ct).ConfigureAwait(false);
            async Task<List<string>> Strings(string sql, params (string, object)[] args)
            {
                await using var cmd = new NpgsqlCommand(sql, db, tx);
                foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var list = new List<string>();
                while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(r.GetValue(0).ToString()!);
                return list;
            }
            (string, object) me = ("@me", Instance), term = ("@term", Term);
            await Strings("""
                INSERT INTO engine_heartbeats(instance, expires, started) VALUES (@me, now() + @term, now())
                ON CONFLICT (instance) DO UPDATE SET expires = excluded.expires
                RETURNING instance
                """, me, term).ConfigureAwait(false);
            var held = await Strings("UPDATE target_leases SET expires = now() + @term WHERE owner = @me AND target = ANY(@targets) RETURNING target",
                me, term, ("@targets", targets.ToArray())).ConfigureAwait(false);
            // Held, but a command asked for it (PostgresTargetClaims): TargetOwnership stops the work, then releases it.
            var requested = await Strings("SELECT target FROM lease_requests WHERE target = ANY(@held) AND requester <> @me AND expires > now()",
                me, ("@held", held.ToArray())).ConfigureAwait(false);
            var live = int.Parse((await Strings("SELECT count(*) FROM engine_heartbeats WHERE expires > now()").ConfigureAwait(false))[0], System.Globalization.CultureInfo.InvariantCulture);
            var share = (targets.Count + live - 1) / Math.Max(1, live);
            foreach (var target in targets.Order(StringComparer.Ordinal))
            {
                if (held.Count >= share) break;
                if (held.Contains(target)) continue;
                var taken = await Strings("""
                    INSERT INTO target_leases(target, owner, expires, taken)
                    SELECT @t, @me, now() + @term, now()
                    WHERE NOT EXISTS (SELECT 1 FROM lease_requests r WHERE r.target = @t AND r.requester <> @me AND r.expires > now())
                    ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, taken = excluded.taken
                    WHERE target_leases.expires < now()
                    RETURNING target
                    """, ("@t", target), me, term).ConfigureAwait(false);
                held.AddRange(taken);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new LeaseRound(held, share, live, requested);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new SyncStateUnavailableException($"the target leases could not be renewed: {e.Message}", e);
        }
    }

    public Task ReleaseAsync(string target, CancellationToken ct) =>
        ExecAsync("DELETE FROM target_leases WHERE target = @t AND owner = @me", ct, ("@t", target));

    public Task ReleaseAllAsync(CancellationToken ct) =>
        ExecAsync("DELETE FROM target_leases WHERE owner = @me; DELETE FROM engine_heartbeats WHERE instance = @me", ct);

    private async Task ExecAsync(string sql, CancellationToken ct, params (string, object)[] args)
    {
        try
        {
            await using var db = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(sql, db);
            cmd.Parameters.AddWithValue("@me", Instance);
            foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new SyncStateUnavailableException($"the target leases could not be released: {e.Message}", e);
        }
    }

    public IReadOnlyList<TargetLease> Leases()
    {
        try
        {
            using var db = _source.OpenConnection();
            using var cmd = new NpgsqlCommand("SELECT target, owner, expires FROM target_leases ORDER BY target", db);
            using var r = cmd.ExecuteReader();
            var list = new List<TargetLease>();
            while (r.Read()) list.Add(new TargetLease(r.GetString(0), r.GetString(1), r.GetFieldValue<DateTimeOffset>(2)));
            return list;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new SyncStateUnavailableException($"the target leases could not be read: {e.Message}", e);
        }
    }
}
