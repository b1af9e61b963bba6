using ScimSync.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store;
using ScimSync.Store.Passwords;

namespace ScimSync.Feed.Passwords;

/// <summary>
/// Seals a password the moment it arrives, once for each subscription with the right to passwords (its
/// <see cref="SubscriptionConfig.PasswordKey"/>), with an expiry (<see cref="FeedOptions.PasswordLifetime"/>).
/// The caller stores what this returns in the same transaction as the write that set the password; the value
/// itself is never stored, journaled or logged (docs/passwords.md).
/// </summary>
public sealed class PasswordSealer(IResourceStore store, FeedOptions options, TimeProvider time)
{
    public async Task<IReadOnlyList<PendingPassword>> SealAsync(string resourceId, string password, CancellationToken ct)
    {
        var recipients = (await store.Feed.ListSubscriptionsAsync(ct).ConfigureAwait(false))
            .Select(SubscriptionService.FromRecord)
            // A disabled subscription receives nothing; a paused one gets it when it resumes, if before the expiry.
            .Where(s => s.Config.PasswordKey is not null && s.State != SubscriptionState.Disabled)
            .ToArray();
        if (recipients.Length == 0) return [];
        var now = time.GetUtcNow();
        var expires = now + options.PasswordLifetime;
        var sealedFor = new List<PendingPassword>(recipients.Length);
        foreach (var s in recipients)
        {
            using var key = PasswordEnvelope.ReadPublicJwk(s.Config.PasswordKey!, out var why)
                ?? throw new InvalidOperationException($"subscription {s.Name}: {why}");
            var id = Guid.CreateVersion7().ToString("N");
            var kid = s.Config.PasswordKey!["kid"]?.ToString() ?? "";
            var jwe = PasswordEnvelope.Seal(key, kid, new PasswordEnvelope.Content(id, resourceId, password, expires));
            sealedFor.Add(new PendingPassword(id, s.Id, resourceId, jwe, now, expires));
        }
        return sealedFor;
    }
}
