namespace ScimSync.Store.Passwords;

/// <summary>
/// A new password waiting for one subscription, sealed to that subscription's key: <see cref="Jwe"/> is the only
/// form the value ever has on the source (the store never sees it in clear). <see cref="Jwe"/> null: it expired
/// before the subscriber took it; the row stays (without ciphertext) so that the subscriber learns of it.
/// </summary>
public sealed record PendingPassword(string Id, string SubscriptionId, string ResourceId, string? Jwe, DateTimeOffset Created, DateTimeOffset Expires);

/// <summary>
/// Passwords waiting for delivery to the subscriptions that have the right to them. They are added inside the
/// write that set the password (<see cref="IWriteSession.AddPendingPasswordsAsync"/>), claimed by the subscriber
/// (invisible for a while, so a subscriber that dies before acknowledging gets them again), and deleted when
/// acknowledged. One past its expiry loses its ciphertext and is handed out once more as "expired", for the
/// subscriber to report; expired rows nobody takes are forgotten after a while.
/// </summary>
public interface IPasswordDeliveries
{
    /// <summary>
    /// Up to <paramref name="max"/> of the subscription's passwords that are not claimed (or whose claim ran out),
    /// oldest first; those past their expiry come without ciphertext (and lose it in the store too). They become
    /// invisible for <paramref name="visibility"/>.
    /// </summary>
    Task<IReadOnlyList<PendingPassword>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct);

    /// <summary>Deletes the subscription's deliveries named; returns how many there were.</summary>
    Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> ids, CancellationToken ct);

    /// <summary>
    /// Removes the ciphertext of every delivery past its expiry and returns those (to be reported), and deletes
    /// expired deliveries that expired before <paramref name="forgetBefore"/> (nobody came for them).
    /// </summary>
    Task<IReadOnlyList<PendingPassword>> ExpireAsync(DateTimeOffset now, DateTimeOffset forgetBefore, CancellationToken ct);
}
