using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Errors;
using ScimSync.Store;
using ScimSync.Store.Feed;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// RFC 8936 poll delivery: acknowledgements and errors first, then up to maxEvents SETs, waiting (long
/// poll, bounded) when none are ready and returnImmediately is false. Unacknowledged SETs come back after
/// the visibility timeout with the same jti. SETs named in setErrs share the push dead-letter list and its
/// limit: when it is full they stay queued and the subscription is suspended.
/// </summary>
public sealed class PollService(IResourceStore store, SubscriptionService subscriptions, DeliverySignal signal, FeedOptions options, TimeProvider time, FeedMetrics? metrics = null)
{
    public async Task<JsonObject> PollAsync(Subscription s, PollRequest request, CancellationToken ct)
    {
        if (request.Ack.Count > 0) metrics?.Delivered(s.Name, await store.Feed.AckAsync(s.Id, request.Ack, ct).ConfigureAwait(false));
        if (request.Errors.Count > 0)
        {
            var reasons = request.Errors.ToDictionary(e => e.Key, e => FailureReason.Clamp(e.Value), StringComparer.Ordinal);
            var dead = await store.Feed.DeadLetterAsync(s.Id, reasons, new DeadLetterLimit(options.DeadLetterMaxCount, options.DeadLetterMaxBytes), ct).ConfigureAwait(false);
            metrics?.DeadLettered(s.Name, dead.DeadLettered);
            if (dead.Held > 0)
            {
                await subscriptions.SuspendAsync(s, ct).ConfigureAwait(false);
                s = s with { State = SubscriptionState.Suspended };
            }
        }
        if (s.State == SubscriptionState.Resnapshot)
            throw new ScimException(409, null, "This subscription missed changes the journal no longer holds: take a new snapshot and rewind to its position");
        if (s.State == SubscriptionState.Suspended)
            throw new ScimException(409, null, "This subscription is suspended: its dead-letter list is full, and SETs named in setErrs beyond it stay queued. An operator must replay or discard the dead letters and resume it");
        var max = Math.Min(request.MaxEvents ?? options.MaxEventsPerPoll, options.MaxEventsPerPoll);
        var sets = new List<PolledSet>();
        if (max == 0 || s.State != SubscriptionState.Active) return new PollResponse(sets, false).ToJson();
        var deadline = time.GetUtcNow() + options.MaxPollWait;
        while (true)
        {
            var claimed = await store.Feed.ClaimAsync(s.Id, max, time.GetUtcNow(), options.VisibilityTimeout, ct).ConfigureAwait(false);
            var more = claimed.Count == max && await store.Feed.HasPendingAsync(s.Id, ct).ConfigureAwait(false);
            sets.AddRange(claimed.Select(d => new PolledSet(d.Jti, d.Token)));
            if (claimed.Count > 0 || request.ReturnImmediately || time.GetUtcNow() >= deadline)
                return new PollResponse(sets, more).ToJson();
            await signal.Signal.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(1, (deadline - time.GetUtcNow()).TotalMilliseconds))), time, ct).ConfigureAwait(false);
        }
    }
}
