using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// Journal retention. Entries every subscription has received (fanned out) are removed once older than
/// the retention period; entries some subscription still needs are kept, unless the operator set a
/// maximum age, in which case they go and that subscription is told to resnapshot (by the fan-out,
/// which notices the gap). A journal relay (<see cref="IJournalRelay"/>) counts as one more reader that must
/// have an entry before it goes.
/// </summary>
public sealed partial class JournalCompactor(IResourceStore store, SubscriptionService subscriptions, FeedOptions options, TimeProvider time, ILogger<JournalCompactor> logger,
    IEnumerable<IJournalRelay>? relays = null) : BackgroundService
{
    public async Task<long> RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var all = await subscriptions.ListAsync(ct).ConfigureAwait(false);
        var needed = all.Where(s => s.State != SubscriptionState.Resnapshot).Select(s => s.FanoutPosition).DefaultIfEmpty(long.MaxValue).Min();
        foreach (var relay in relays ?? [])
            needed = Math.Min(needed, await relay.RelayedThroughAsync(ct).ConfigureAwait(false));
        var floor = await store.CompactJournalAsync(needed, now - options.JournalRetention, ct).ConfigureAwait(false);
        if (options.JournalMaxAge is { } maxAge)
            floor = await store.CompactJournalAsync(long.MaxValue, now - maxAge, ct).ConfigureAwait(false);
        return floor;
    }

    /// <summary>The lease under which one instance at a time compacts (LeasedWork).</summary>
    public const string Lease = "feed.compaction";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => LeasedWork.RunAsync(store.Leases, Lease, CompactAsync, logger, stoppingToken);

    private async Task CompactAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(logger, e);
            }
            try
            {
                await Task.Delay(options.CompactionInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 2200, Level = LogLevel.Error, Message = "Journal compaction failed; retrying at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception e);
}
