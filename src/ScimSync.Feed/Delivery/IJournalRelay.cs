namespace ScimSync.Feed.Delivery;

/// <summary>
/// Carries the journal somewhere else (a message broker: docs/nats.md), in order, from after the last position it
/// carried. The feed runs it under its own lease (<see cref="FeedBackgroundService.Lease"/>), so on a store several
/// instances share one instance at a time relays, and asks it what the journal must keep before compacting.
/// </summary>
public interface IJournalRelay
{
    /// <summary>
    /// Relays until <paramref name="leaseHeld"/> is cancelled. Handles its own failures (a broker that is down is
    /// retried, never thrown out of here): the fan-out that runs beside it under the same lease must go on.
    /// </summary>
    Task RunAsync(CancellationToken leaseHeld);

    /// <summary>
    /// The position through which the journal is relayed: compaction keeps every entry after it. 0 (keep
    /// everything) when the relay cannot tell, such as while its broker is unreachable.
    /// </summary>
    Task<long> RelayedThroughAsync(CancellationToken ct);
}
