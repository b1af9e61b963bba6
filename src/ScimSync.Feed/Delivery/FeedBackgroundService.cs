using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store.Journal;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// Keeps every active subscription's queue filled from the journal: wakes on each commit (or every
/// second), fans out until caught up, then signals waiting pollers. Journal relays (<see cref="IJournalRelay"/>)
/// run beside the fan-out under the same lease.
/// </summary>
public sealed partial class FeedBackgroundService(
    SubscriptionService subscriptions, FanoutWorker fanout, ChangeSignal journal, DeliverySignal deliveries,
    Store.IResourceStore store, FeedMetrics metrics, TimeProvider time, ILogger<FeedBackgroundService> logger,
    IEnumerable<IJournalRelay>? relays = null) : BackgroundService
{
    private static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(5);

    /// <summary>The lease under which one instance at a time fans out (LeasedWork).</summary>
    public const string Lease = "feed.fanout";

    private readonly IJournalRelay[] _relays = relays?.ToArray() ?? [];

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => LeasedWork.RunAsync(store.Leases, Lease, LeasedAsync, logger, stoppingToken);

    // One lease for both: the relay reads the same journal in the same order, and on PostgreSQL the instance that
    // fans out is the one that relays.
    private Task LeasedAsync(CancellationToken leaseHeld) =>
        _relays.Length == 0 ? FanOutAsync(leaseHeld) : Task.WhenAll([FanOutAsync(leaseHeld), .. _relays.Select(r => r.RunAsync(leaseHeld))]);

    private async Task FanOutAsync(CancellationToken stoppingToken)
    {
        var statsTakenAt = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            var waitForNext = journal.WaitAsync(TimeSpan.FromSeconds(1), time, stoppingToken);
            try
            {
                var any = false;
                var all = await subscriptions.ListAsync(stoppingToken).ConfigureAwait(false);
                // One round per subscription per pass: one far behind must not hold up the others' urgent
                // entries while it works through its backlog.
                foreach (var s in all)
                {
                    if (s.State == SubscriptionState.Disabled) continue;
                    if (await fanout.RunOnceAsync(s, stoppingToken).ConfigureAwait(false) == 0) continue;
                    any = true;
                    deliveries.Signal.Notify();
                }
                // Queue statistics count whole queues: refreshed every few seconds, not on every commit.
                if (time.GetUtcNow() - statsTakenAt >= StatsInterval)
                {
                    var stats = new Dictionary<string, Store.Feed.FeedStats>();
                    foreach (var s in all) stats[s.Name] = await store.Feed.StatsAsync(s.Id, stoppingToken).ConfigureAwait(false);
                    metrics.Observe(stats);
                    statsTakenAt = time.GetUtcNow();
                }
                if (any) continue;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFanoutFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false);
            }
            await waitForNext.ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 2000, Level = LogLevel.Error, Message = "Event fan-out failed; retrying in 1 s")]
    private static partial void LogFanoutFailed(ILogger logger, Exception e);
}
