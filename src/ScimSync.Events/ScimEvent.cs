using System.Text.Json.Nodes;

namespace ScimSync.Events;

/// <summary>The content of one SET before signing: RFC 9967 sub_id and events claim, plus txn.</summary>
/// <param name="Txn">The journal's txn: the same for every entry of one request and every receiver (RFC 9967 §2.2).</param>
/// <param name="SubId">RFC 9493 subject identifier of format "scim" (RFC 9967 §2.1).</param>
/// <param name="Events">Event URI → payload; several URIs describe one state change (RFC 8417 §2.2).</param>
/// <param name="Urgent">Whether delivery may put this event in the urgent lane (<see cref="EventUrgency"/>).</param>
public sealed record ScimEvent(string Txn, JsonObject SubId, JsonObject Events, bool Urgent)
{
    /// <summary>
    /// The journal position of the change, sent as the claim <see cref="SetEncoder.JournalPositionClaim"/> to
    /// subscriptions that ask for it (their <c>journalPosition</c> setting); 0: not sent.
    /// </summary>
    public long JournalPosition { get; init; }

    /// <summary>
    /// When the change was committed, sent with <see cref="JournalPosition"/> as RFC 8417's <c>toe</c> (time of event,
    /// which <c>iat</c>, the moment the SET was made, is not for a backlog); null: not sent.
    /// </summary>
    public DateTimeOffset? Time { get; init; }

    /// <summary>
    /// The name of the credential that made the change, sent as <see cref="SetEncoder.WriterClaim"/> to subscriptions
    /// that ask for it (<see cref="Subscriptions.SubscriptionConfig.Writer"/>); null: not sent.
    /// </summary>
    public string? Writer { get; init; }
}
