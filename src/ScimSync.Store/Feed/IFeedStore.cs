namespace ScimSync.Store.Feed;

/// <summary>A subscription as stored; <see cref="Config"/> is the feed layer's JSON, opaque here.</summary>
public sealed record SubscriptionRecord(
    string Id,
    string Name,
    string Config,
    string State,
    string SigningKey,
    long FanoutPosition,
    DateTimeOffset Created);

/// <summary>One signed event waiting for (or in) delivery to one subscription.</summary>
public sealed record DeliveryRecord(
    string SubscriptionId,
    string Jti,
    long Position,
    string ResourceId,
    bool Urgent,
    string Token,
    int Attempts,
    string? LastError)
{
    /// <summary>When fan-out queued the event: the start of its delivery time budget.</summary>
    public DateTimeOffset Created { get; init; }
}

public sealed record FeedStats(long Pending, long InFlight, long DeadLetters, DateTimeOffset? OldestPending, long FanoutPosition);

/// <summary>
/// Durable state of the event feed. Fan-out commits the deliveries for a journal range together with the
/// subscription's new fan-out position (compare-and-set), so a crash at any point neither loses nor
/// duplicates an event.
/// </summary>
public interface IFeedStore
{
    Task CreateSubscriptionAsync(SubscriptionRecord subscription, CancellationToken ct);
    Task<IReadOnlyList<SubscriptionRecord>> ListSubscriptionsAsync(CancellationToken ct);
    Task<SubscriptionRecord?> FindSubscriptionAsync(string idOrName, CancellationToken ct);
    Task<bool> UpdateSubscriptionAsync(string id, string config, string state, CancellationToken ct);
    Task<bool> DeleteSubscriptionAsync(string id, CancellationToken ct);

    /// <summary>Drops undelivered events and restarts fan-out after <paramref name="position"/>.</summary>
    Task<bool> RewindAsync(string id, long position, IReadOnlyCollection<string> members, CancellationToken ct);

    /// <summary>Which of <paramref name="resourceIds"/> are currently inside the subscription's filter.</summary>
    Task<IReadOnlySet<string>> MembersAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct);

    /// <summary>
    /// Atomically: insert <paramref name="deliveries"/>, record filter entries and exits, and move the fan-out
    /// position from <paramref name="from"/> to <paramref name="to"/>. Returns false (and writes nothing)
    /// when the position was not <paramref name="from"/> any more.
    /// </summary>
    Task<bool> CommitFanoutAsync(string subscriptionId, long from, long to, IReadOnlyList<DeliveryRecord> deliveries,
        IReadOnlyCollection<string> entered, IReadOnlyCollection<string> left, CancellationToken ct);

    /// <summary>
    /// Up to <paramref name="max"/> deliverable events: pending, or in flight past their visibility
    /// deadline; urgent first, then by position; never an event while an earlier one for the same resource
    /// is still undelivered. They become invisible for <paramref name="visibility"/>.
    /// </summary>
    Task<IReadOnlyList<DeliveryRecord>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct);

    /// <summary>Makes an in-flight event deliverable again at <paramref name="visibleAt"/> (retry with backoff).</summary>
    Task RescheduleAsync(string subscriptionId, string jti, DateTimeOffset visibleAt, string? error, CancellationToken ct);

    /// <summary>Subscription ids with events due now, for dispatchers that sleep between rounds.</summary>
    Task<DateTimeOffset?> NextDueAsync(string subscriptionId, CancellationToken ct);

    /// <summary>Removes acknowledged events; returns how many were known.</summary>
    Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> jtis, CancellationToken ct);

    /// <summary>Moves events the receiver rejected (or that ran out of retries) to the dead-letter list.</summary>
    Task<int> DeadLetterAsync(string subscriptionId, IReadOnlyDictionary<string, string> errors, CancellationToken ct);

    /// <summary>Puts dead letters back in the queue.</summary>
    Task<int> ReplayDeadLettersAsync(string subscriptionId, CancellationToken ct);

    Task<IReadOnlyList<DeliveryRecord>> DeadLettersAsync(string subscriptionId, int max, CancellationToken ct);

    Task<FeedStats> StatsAsync(string subscriptionId, CancellationToken ct);

    /// <summary>Whether any event waits to be claimed (cheap: stops at the first row).</summary>
    Task<bool> HasPendingAsync(string subscriptionId, CancellationToken ct);
}
