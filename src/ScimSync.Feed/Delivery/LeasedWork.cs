using Microsoft.Extensions.Logging;
using ScimSync.Store.Coordination;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// Runs a background service's work only while this instance holds its lease (IWorkLeases): on a store several
/// instances share, one instance at a time fans out, pushes and compacts, and another takes over when it dies.
/// When the lease is lost the work is cancelled and the lease asked for again; what the work had started is safe
/// to redo (the feed store's writes are compare-and-set or row-locked).
/// </summary>
internal static partial class LeasedWork
{
    public static async Task RunAsync(IWorkLeases leases, string name, Func<CancellationToken, Task> work, ILogger logger, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            IWorkLease lease;
            try
            {
                lease = await leases.AcquireAsync(name, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            await using (lease.ConfigureAwait(false))
            {
                if (lease.Lost.CanBeCanceled) LogAcquired(logger, name);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lease.Lost);
                try
                {
                    await work(both.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (both.IsCancellationRequested)
                {
                }
            }
            if (lease.Lost.IsCancellationRequested && !stoppingToken.IsCancellationRequested) LogLost(logger, name);
        }
    }

    [LoggerMessage(EventId = 2300, Level = LogLevel.Information, Message = "This instance holds the lease {Lease} and does its work")]
    private static partial void LogAcquired(ILogger logger, string lease);

    [LoggerMessage(EventId = 2301, Level = LogLevel.Warning, Message = "Lease {Lease} lost (its database session ended); its work stopped and the lease is asked for again")]
    private static partial void LogLost(ILogger logger, string lease);
}
