using System.Text.Json.Nodes;

namespace ScimSync.Feed.Events;

/// <summary>The content of one SET before signing: RFC 9967 sub_id and events claim, plus txn.</summary>
/// <param name="Txn">The journal's txn: the same for every entry of one request and every receiver (RFC 9967 §2.2).</param>
/// <param name="SubId">RFC 9493 subject identifier of format "scim" (RFC 9967 §2.1).</param>
/// <param name="Events">Event URI → payload; several URIs describe one state change (RFC 8417 §2.2).</param>
/// <param name="Urgent">Whether delivery may put this event in the urgent lane (<see cref="ScimEventBuilder.IsUrgent"/>).</param>
public sealed record ScimEvent(string Txn, JsonObject SubId, JsonObject Events, bool Urgent)
{
    /// <summary>
    /// The journal position of the change, sent as the claim <see cref="SetEncoder.JournalPositionClaim"/> to
    /// subscriptions that ask for it (<see cref="Subscriptions.SubscriptionConfig.JournalPosition"/>); 0: not sent.
    /// </summary>
    public long JournalPosition { get; init; }
}
