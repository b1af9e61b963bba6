using System.Text.Json.Nodes;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Errors;
using ScimSync.Store;
using ScimSync.Store.Journal;

namespace ScimSync.Feed.Passwords;

/// <summary>
/// The passwords endpoint of a subscription with the right to them: acknowledges what the subscriber finished
/// with, then hands out the sealed passwords waiting (long poll, bounded like the event poll, woken by every write),
/// each once until acknowledged or its claim runs out. One past its expiry comes as <c>"expired": true</c>,
/// without ciphertext, for the subscriber to report.
/// </summary>
public sealed class PasswordPoll(IResourceStore store, ChangeSignal journal, FeedOptions options, TimeProvider time)
{
    /// <summary>Most passwords handed out by one request.</summary>
    public const int MaxPerPoll = 100;

    /// <summary>Most acknowledgements one request may carry.</summary>
    public const int MaxAcks = 1000;

    public async Task<JsonObject> PollAsync(Subscription s, JsonObject body, CancellationToken ct)
    {
        if (s.Config.PasswordKey is null)
            throw new ScimException(403, null, "This subscription has no right to passwords (it was registered without a passwordKey)");
        var ack = ReadAck(body);
        var wait = body["returnImmediately"] is not JsonValue ri || !ri.TryGetValue<bool>(out var immediately) || !immediately;
        if (ack.Count > 0) await store.Passwords.AckAsync(s.Id, ack, ct).ConfigureAwait(false);
        var deadline = time.GetUtcNow() + options.MaxPollWait;
        while (true)
        {
            var claimed = s.State == SubscriptionState.Disabled ? []
                : await store.Passwords.ClaimAsync(s.Id, MaxPerPoll, time.GetUtcNow(), options.PasswordVisibility, ct).ConfigureAwait(false);
            if (claimed.Count > 0 || !wait || time.GetUtcNow() >= deadline)
            {
                var list = new JsonArray();
                foreach (var p in claimed)
                {
                    var o = new JsonObject { ["id"] = p.Id, ["resourceId"] = p.ResourceId, ["expires"] = p.Expires.ToString("O") };
                    if (p.Jwe is null) o["expired"] = true;
                    else o["jwe"] = p.Jwe;
                    list.Add(o);
                }
                return new JsonObject { ["passwords"] = list };
            }
            // Every committed write wakes the wait: a password is sealed in the write that set it.
            await journal.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(1, (deadline - time.GetUtcNow()).TotalMilliseconds))), time, ct).ConfigureAwait(false);
        }
    }

    private static IReadOnlyCollection<string> ReadAck(JsonObject body)
    {
        if (body["ack"] is null) return [];
        if (body["ack"] is not JsonArray a || a.Count > MaxAcks || a.Any(n => n is not JsonValue v || !v.TryGetValue<string>(out var id) || id.Length is 0 or > 64))
            throw ScimException.InvalidValue($"ack must be an array of at most {MaxAcks} password delivery ids");
        return a.Select(n => n!.GetValue<string>()).Distinct(StringComparer.Ordinal).ToArray();
    }
}
