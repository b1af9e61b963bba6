namespace ScimSync.Store.Feed;

/// <summary>A subscription as stored; <see cref="Config"/> is the feed layer's JSON, opaque here.</summary>
public sealed record SubscriptionRecord(
    string Id,
    string Name,
    string Config,
    string State,
    string SigningKey,
    long FanoutPosition,
    DateTimeOffset Created)
{
    /// <summary>
    /// The last urgent journal entry whose look-ahead is complete: it and the entries of its resource before
    /// it are queued although <see cref="FanoutPosition"/> may be far behind (see <see cref="FanoutCommit"/>).
    /// </summary>
    public long AheadPosition { get; init; }
}

/// <summary>
/// Whether a queued event may be replaced by a later routine change of the same resource carrying the whole
/// latest state (coalescing), and what it then stands for: a creation or an update.
/// </summary>
public enum Coalescible { No = 0, Create = 1, Update = 2 }

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

    public Coalescible Coalescible { get; init; }
}

/// <summary>
/// One fan-out step for one subscription, committed atomically and only if both positions are still what
/// the step was computed from (compare-and-set): a step redone after a crash or a lost race computes the
/// same result from the same positions, so nothing is lost or queued twice.
/// </summary>
/// <param name="FanoutFrom">The in-order scan's position the step started from.</param>
/// <param name="FanoutTo">Its new position: every entry up to here is fanned out (or was fanned out ahead).</param>
/// <param name="AheadFrom">The look-ahead position the step started from.</param>
/// <param name="AheadTo">Its new position.</param>
public sealed record FanoutCommit(long FanoutFrom, long FanoutTo, long AheadFrom, long AheadTo, IReadOnlyList<DeliveryRecord> Deliveries)
{
    /// <summary>Resources that entered the subscription's filter.</summary>
    public IReadOnlyCollection<string> Entered { get; init; } = [];

    /// <summary>Resources that left it.</summary>
    public IReadOnlyCollection<string> Left { get; init; } = [];

    /// <summary>
    /// Entries fanned out ahead of <see cref="FanoutTo"/> (positions and their resources): the in-order scan
    /// skips them when it gets there.
    /// </summary>
    public IReadOnlyList<(long Position, string ResourceId)> FannedAhead { get; init; } = [];

    /// <summary>
    /// Queued events that <see cref="Deliveries"/> replace (coalescing). Each must still be pending (not
    /// claimed); if one is not, the commit writes nothing and returns false, and fan-out redoes the step.
    /// </summary>
    public IReadOnlyCollection<string> Superseded { get; init; } = [];
}

/// <summary>What became of a round of claimed events, settled in one transaction.</summary>
/// <param name="Acknowledged">Accepted by the receiver: removed.</param>
/// <param name="DeadLettered">Rejected, or out of time: jti → the reason.</param>
/// <param name="Retries">To be delivered again, not before the given time.</param>
public sealed record DeliveryOutcome(
    IReadOnlyCollection<string> Acknowledged,
    IReadOnlyDictionary<string, string> DeadLettered,
    IReadOnlyList<(string Jti, DateTimeOffset VisibleAt, string Error)> Retries);

/// <summary>
/// How much a subscription's dead-letter list may hold: <paramref name="MaxCount"/> events and
/// <paramref name="MaxBytes"/> bytes of SETs and reasons. The first dead letter always fits, however large.
/// </summary>
public sealed record DeadLetterLimit(int MaxCount, long MaxBytes);

/// <summary>
/// What dead-lettering came to: <paramref name="Held"/> events did not fit under the <see cref="DeadLetterLimit"/>
/// and went back to the queue, pending, with their reason (never dropped).
/// </summary>
public readonly record struct DeadLetterResult(int DeadLettered, int Held);

public sealed record FeedStats(long Pending, long InFlight, long DeadLetters, DateTimeOffset? OldestPending, long FanoutPosition)
{
    public FanoutLag Lag { get; init; } = FanoutLag.None;
}

/// <summary>
/// How far fan-out is behind the journal for one subscription: entries past its in-order fan-out position, and
/// when the first of them was written (null when none is waiting).
/// </summary>
public sealed record FanoutLag(long Entries, DateTimeOffset? OldestUnfanned)
{
    public static FanoutLag None { get; } = new(0, null);
}

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
    /// Atomically: insert the deliveries, record filter entries and exits and entries fanned out ahead, forget
    /// those the in-order position has passed, and move both positions. Returns false (and writes nothing)
    /// when either position was not what <paramref name="commit"/> started from. An urgent delivery lifts the
    /// undelivered events of its resource before it into the urgent lane: it cannot overtake them, so they
    /// must not wait behind routine events of other resources.
    /// </summary>
    Task<bool> CommitFanoutAsync(string subscriptionId, FanoutCommit commit, CancellationToken ct);

    /// <summary>
    /// For each of <paramref name="resourceIds"/> whose latest undelivered event is pending (not claimed) and
    /// coalescible, that event (jti, position, kind and creation time; no token).
    /// </summary>
    Task<IReadOnlyDictionary<string, DeliveryRecord>> CoalescibleAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct);

    /// <summary>Positions in (<paramref name="after"/>, <paramref name="through"/>] that were fanned out ahead.</summary>
    Task<IReadOnlySet<long>> FannedAheadAsync(string subscriptionId, long after, long through, CancellationToken ct);

    /// <summary>
    /// For each of <paramref name="resourceIds"/> with entries fanned out ahead, the last such position. Ahead
    /// fan-out takes a resource's entries in order, so every entry of it up to there is queued.
    /// </summary>
    Task<IReadOnlyDictionary<string, long>> LastFannedAheadAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct);

    /// <summary>
    /// Up to <paramref name="max"/> deliverable events: pending, or in flight past their visibility
    /// deadline; urgent first, then by position; never an event while an earlier one for the same resource
    /// is still undelivered. They become invisible for <paramref name="visibility"/>.
    /// </summary>
    Task<IReadOnlyList<DeliveryRecord>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct);

    /// <summary>Subscription ids with events due now, for dispatchers that sleep between rounds.</summary>
    Task<DateTimeOffset?> NextDueAsync(string subscriptionId, CancellationToken ct);

    /// <summary>Removes acknowledged events; returns how many were known.</summary>
    Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> jtis, CancellationToken ct);

    /// <summary>
    /// Acknowledges, dead-letters and reschedules in one transaction: one commit for a whole push round instead
    /// of one per event. Returns how many were acknowledged, and what dead-lettering came to.
    /// </summary>
    Task<(int Acknowledged, DeadLetterResult Dead)> SettleAsync(string subscriptionId, DeliveryOutcome outcome, DeadLetterLimit limit, CancellationToken ct);

    /// <summary>
    /// Moves events the receiver rejected (or that ran out of retries) to the dead-letter list, as far as
    /// <paramref name="limit"/> allows; the rest go back to the queue (see <see cref="DeadLetterResult"/>).
    /// </summary>
    Task<DeadLetterResult> DeadLetterAsync(string subscriptionId, IReadOnlyDictionary<string, string> errors, DeadLetterLimit limit, CancellationToken ct);

    /// <summary>Puts dead letters back in the queue.</summary>
    Task<int> ReplayDeadLettersAsync(string subscriptionId, CancellationToken ct);

    /// <summary>Deletes the dead letters: the operator's decision that they will not be delivered.</summary>
    Task<int> DiscardDeadLettersAsync(string subscriptionId, CancellationToken ct);

    Task<IReadOnlyList<DeliveryRecord>> DeadLettersAsync(string subscriptionId, int max, CancellationToken ct);

    /// <summary>Queue counts and ages, and the fan-out lag: counts whole queues, so asked every few seconds, not per request.</summary>
    Task<FeedStats> StatsAsync(string subscriptionId, CancellationToken ct);

    /// <summary>The fan-out lag alone, from two index seeks: cheap enough for every readiness probe.</summary>
    Task<FanoutLag> FanoutLagAsync(string subscriptionId, CancellationToken ct);

    /// <summary>Whether any event waits to be claimed (cheap: stops at the first row).</summary>
    Task<bool> HasPendingAsync(string subscriptionId, CancellationToken ct);
}
