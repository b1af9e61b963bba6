using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.Feed.Delivery;
using ScimSync.Store;

namespace ScimSync.Feed.Passwords;

/// <summary>
/// Passwords nobody took before their expiry lose their ciphertext and are logged (the subscriber is told too, at
/// its next poll); expired ones nobody asks about are forgotten after <see cref="Forget"/>.
/// </summary>
public sealed partial class PasswordExpiry(IResourceStore store, FeedOptions options, TimeProvider time, ILogger<PasswordExpiry> logger) : BackgroundService
{
    /// <summary>How long an expired delivery waits for its subscriber to learn of it.</summary>
    public static readonly TimeSpan Forget = TimeSpan.FromDays(7);

    public const string Lease = "feed.passwords";

    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var expired = await store.Passwords.ExpireAsync(now, now - Forget, ct).ConfigureAwait(false);
        foreach (var p in expired) LogExpired(logger, p.SubscriptionId, p.ResourceId, p.Created, p.Expires);
        return expired.Count;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => LeasedWork.RunAsync(store.Leases, Lease, RunAsync, logger, stoppingToken);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(options.PasswordExpiryInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogFailed(logger, e);
                try
                {
                    await Task.Delay(options.PasswordExpiryInterval, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(EventId = 2500, Level = LogLevel.Warning, Message = "A password set for {ResourceId} at {Created} expired at {Expires} before subscription {Subscription} took it; it will not be delivered")]
    private static partial void LogExpired(ILogger logger, string subscription, string resourceId, DateTimeOffset created, DateTimeOffset expires);

    [LoggerMessage(EventId = 2501, Level = LogLevel.Error, Message = "Expiring undelivered passwords failed; retrying")]
    private static partial void LogFailed(ILogger logger, Exception e);
}
