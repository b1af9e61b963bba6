namespace ScimSync.Sync.Intake;

/// <summary>
/// Where the engine learns the source's changes after a snapshot: the source's RFC 8936 feed
/// (<see cref="SourceFeed"/>) or a JetStream stream the source relays its journal to (<see cref="JetStreamChanges"/>).
/// Each starts exactly after the snapshot's journal position and hands back changes until they are acknowledged,
/// which the engine does only once they are durably queued for every target.
/// </summary>
public interface ISourceChanges
{
    /// <summary>The engine has a subscription or consumer to resume from.</summary>
    bool Exists { get; }

    /// <summary>Creates the engine's subscription or consumer after <paramref name="position"/> unless it exists already.</summary>
    Task EnsureAsync(long position, CancellationToken ct);

    /// <summary>
    /// Acknowledges <paramref name="ack"/> (jtis of changes the engine queued), reports <paramref name="errors"/> (jti →
    /// "err: description", changes the engine refuses: never delivered again) and waits a bounded time for the next
    /// changes; what cannot be believed comes back apart, in <see cref="FeedPoll.Refused"/>.
    /// </summary>
    Task<FeedPoll> PollAsync(IReadOnlyCollection<string> ack, IReadOnlyDictionary<string, string> errors, bool returnImmediately, CancellationToken ct);
}
