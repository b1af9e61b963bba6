using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Intake;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// The dead letters of the engine's feed subscription at the source, and replaying them: the source delivers them
/// again on the engine's next poll, through the same validation as any SET. Both go through the engine's own source
/// connection and credential: the subscription's dead letters need the source's admin scope, which the engine's
/// credential has whenever it owns a subscription (creating one and polling it with writers named need it too).
/// </summary>
public sealed partial class SyncEngine
{
    /// <summary>The audit target of a decision about the source (not about one target).</summary>
    public const string SourceAuditTarget = "source";

    /// <exception cref="SourceFeedUnavailableException">The engine has no feed subscription, or its credential may not read the dead letters (said why).</exception>
    public async Task<IReadOnlyList<DeadLetter>> DeadLettersAsync(CancellationToken ct)
    {
        try
        {
            return await Subscription().DeadLettersAsync(ct).ConfigureAwait(false);
        }
        catch (ScimClientException e) when (e.Status is 401 or 403)
        {
            throw CredentialRefused(e, "read");
        }
    }

    /// <summary>Asks the source to deliver the subscription's dead letters again, and audits who asked and how many.</summary>
    /// <exception cref="SourceFeedUnavailableException">As <see cref="DeadLettersAsync"/>; the refusal is audited too.</exception>
    public async Task<int> ReplayDeadLettersAsync(string who, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(who);
        const string decision = "replay the dead letters of the engine's feed subscription";
        try
        {
            var replayed = await Subscription().ReplayDeadLettersAsync(ct).ConfigureAwait(false);
            RecordDecision(SourceAuditTarget, decision, who, "ok", $"{replayed} SETs to be delivered again");
            return replayed;
        }
        catch (Exception e) when (e is ScimClientException or SourceFeedUnavailableException)
        {
            var error = e is ScimClientException { Status: 401 or 403 } refused ? CredentialRefused(refused, "replay") : e;
            RecordDecision(SourceAuditTarget, decision, who, "failed", error.Message);
            throw error is SourceFeedUnavailableException unavailable ? unavailable : new SourceFeedUnavailableException($"the source refused the replay: {e.Message}", e);
        }
    }

    private SourceFeed Subscription() =>
        _source is not null && _config.Source.Feed == FeedMode.Poll && SourceChanges() is SourceFeed feed
            ? feed
            : throw new SourceFeedUnavailableException(_config.Source.Changes is not null
                ? "the engine takes the source's changes from JetStream (source.changes.nats): it has no feed subscription, so no dead letters there"
                : "the engine follows the source without a feed subscription (source.feed: lastModified, or a file): there are no dead letters");

    private static SourceFeedUnavailableException CredentialRefused(ScimClientException e, string what) =>
        new($"the engine's source credential may not {what} the subscription's dead letters ({e.Status} {e.Detail}): it needs the source's admin scope, as the subscription itself does", e);
}
