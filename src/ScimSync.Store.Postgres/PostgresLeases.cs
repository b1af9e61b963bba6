using Npgsql;
using ScimSync.Store.Coordination;

namespace ScimSync.Store.Postgres;

/// <summary>
/// Leases held as PostgreSQL session-level advisory locks, all on one dedicated connection of this instance
/// (application_name "scimsync-lease:…", so operators see the holder in pg_stat_activity and pg_locks).
/// <list type="bullet">
/// <item>Acquire: <c>pg_try_advisory_lock</c> on a key derived from the schema and the lease's name, retried every
/// <see cref="RetryInterval"/> until granted.</item>
/// <item>Holder killed (kill -9, a crash): its socket closes, PostgreSQL ends the session and with it the lock;
/// the next instance's retry gets it, within one retry interval. A holder cut off without its socket closing
/// (a network partition) is noticed by TCP keepalives; the connection string can shorten them.</item>
/// <item>Session lost while the process lives (terminated backend, database restart): a check every
/// <see cref="CheckInterval"/> notices, every lease's <see cref="IWorkLease.Lost"/> is cancelled, and the work
/// stops and asks again.</item>
/// </list>
/// </summary>
internal sealed class PostgresLeases : IWorkLeases, IAsyncDisposable
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly NpgsqlDataSource _source;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Lease> _held = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposed = new();
    private NpgsqlConnection? _session;
    private CancellationTokenSource _sessionLost = new();
    private Task? _watch;

    public PostgresLeases(string connectionString, string instance, TimeProvider time)
    {
        _time = time;
        // A connection of its own, outside the pool: its life is the leases' life.
        _source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = "scimsync-lease:" + instance,
            Timeout = 5,
            CommandTimeout = 5,
        });
    }

    public async Task<IWorkLease> AcquireAsync(string name, CancellationToken ct)
    {
        while (true)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_held.ContainsKey(name)) throw new InvalidOperationException($"The lease \"{name}\" is already held by this instance");
                var session = _session ??= await OpenSessionAsync(ct).ConfigureAwait(false);
                await using var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))", session)
                {
                    Parameters = { new() { Value = name } },
                };
                if ((bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                {
                    var lease = new Lease(this, name, _sessionLost.Token);
                    _held[name] = lease;
                    return lease;
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // The database is unreachable or the session broke: nobody holds anything through it; try again.
                await DropSessionAsync().ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
            await Task.Delay(RetryInterval, _time, ct).ConfigureAwait(false);
        }
    }

    private async Task<NpgsqlConnection> OpenSessionAsync(CancellationToken ct)
    {
        var c = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
        _sessionLost = new CancellationTokenSource();
        _watch ??= Task.Run(WatchAsync);
        return c;
    }

    /// <summary>Notices a session that died under held leases, and tells their holders.</summary>
    private async Task WatchAsync()
    {
        var ct = _disposed.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CheckInterval, _time, ct).ConfigureAwait(false);
                await _gate.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                if (_session is null || _held.Count == 0) continue;
                await using var cmd = new NpgsqlCommand("SELECT 1", _session);
                await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                await DropSessionAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>With the gate held: every lease held through the session is lost.</summary>
    private async Task DropSessionAsync()
    {
        var session = _session;
        _session = null;
        _held.Clear();
        await _sessionLost.CancelAsync().ConfigureAwait(false);
        if (session is not null)
        {
            try
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
            }
        }
    }

    private async ValueTask ReleaseAsync(Lease lease)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_held.TryGetValue(lease.Name, out var held) || held != lease || _session is null) return;
            _held.Remove(lease.Name);
            await using var cmd = new NpgsqlCommand("SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || $1, 0))", _session)
            {
                Parameters = { new() { Value = lease.Name } },
            };
            await cmd.ExecuteScalarAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            await DropSessionAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (_watch is not null) await _watch.ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            // Closing the session releases every lock it holds.
            await DropSessionAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
        await _source.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Lease(PostgresLeases owner, string name, CancellationToken lost) : IWorkLease
    {
        public string Name => name;

        public CancellationToken Lost => lost;

        public ValueTask DisposeAsync() => owner.ReleaseAsync(this);
    }
}
