using Npgsql;

namespace ScimSync.Store.Postgres;

/// <summary>
/// Wakes other instances without waiting for their next tick: after this instance commits journal entries or
/// queues deliveries it sends a NOTIFY, and every instance LISTENs and passes it on to its local signals (fan-out
/// on the lease holder, long polls and push loops anywhere). NOTIFY is sent after commit from a pooled connection,
/// at most one in flight per channel (pokes while one is in flight are folded into one more), so request
/// transactions never take PostgreSQL's notification lock. A lost notification costs latency only: every waiter
/// also wakes on its own tick and reads the tables themselves.
/// </summary>
internal sealed class PostgresNotifications : IAsyncDisposable
{
    public const string JournalChannel = "scimsync_journal";
    public const string DeliveriesChannel = "scimsync_deliveries";

    private readonly NpgsqlDataSource _pool;
    private readonly NpgsqlDataSource _listenSource;
    private readonly Action? _onJournal;
    private readonly Action? _onDeliveries;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, int> _pending = new(StringComparer.Ordinal) { [JournalChannel] = 0, [DeliveriesChannel] = 0 };
    private readonly string _channelSuffix;
    private Task? _listen;

    public PostgresNotifications(NpgsqlDataSource pool, string connectionString, string schema, Action? onJournal, Action? onDeliveries)
    {
        _pool = pool;
        _onJournal = onJournal;
        _onDeliveries = onDeliveries;
        // Stores in different schemas of one database do not wake each other.
        _channelSuffix = schema;
        _listenSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "scimsync-listen", KeepAlive = 10 });
    }

    private string Channel(string name) => name + ":" + _channelSuffix;

    public void Start()
    {
        if (_onJournal is null && _onDeliveries is null) return;
        _listen = Task.Run(ListenAsync);
    }

    private async Task ListenAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var c = await _listenSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                c.Notification += (_, e) =>
                {
                    if (e.Channel == Channel(JournalChannel)) _onJournal?.Invoke();
                    else if (e.Channel == Channel(DeliveriesChannel)) _onDeliveries?.Invoke();
                };
                await using (var cmd = new NpgsqlCommand($"LISTEN \"{Channel(JournalChannel)}\"; LISTEN \"{Channel(DeliveriesChannel)}\"", c))
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                // Whatever happened while not listening: waiters re-read the tables.
                _onJournal?.Invoke();
                _onDeliveries?.Invoke();
                while (!ct.IsCancellationRequested) await c.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    public void JournalChanged() => Poke(JournalChannel);

    public void DeliveriesQueued() => Poke(DeliveriesChannel);

    private void Poke(string channel)
    {
        lock (_pending)
        {
            // 0 idle, 1 one in flight, 2 one in flight and another asked for.
            if (_pending[channel]++ > 0)
            {
                _pending[channel] = 2;
                return;
            }
        }
        _ = Task.Run(() => SendAsync(channel));
    }

    private async Task SendAsync(string channel)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await using var cmd = _pool.CreateCommand("SELECT pg_notify($1, '')");
                cmd.Parameters.Add(new() { Value = Channel(channel) });
                await cmd.ExecuteNonQueryAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or ObjectDisposedException)
            {
                // Latency only: the others wake on their tick.
            }
            lock (_pending)
            {
                if (_pending[channel] == 1)
                {
                    _pending[channel] = 0;
                    return;
                }
                _pending[channel] = 1;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listen is not null) await _listen.ConfigureAwait(false);
        await _listenSource.DisposeAsync().ConfigureAwait(false);
    }
}
