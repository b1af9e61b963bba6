using System.Text.Json.Nodes;
using ScimSync.Feed.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// Turns journal entries into signed SETs queued per subscription. Each step commits its deliveries with
/// the subscription's new positions (compare-and-set): after a crash the step is redone from the old
/// positions, and nothing is lost or queued twice.
/// </summary>
/// <remarks>
/// A round has two steps. The look-ahead finds urgent entries past both positions through the journal's
/// urgent index and fans out each one's resource up to it: that resource's entries not yet fanned out, in
/// order, since delivery never lets an event overtake an earlier one of its resource (so the urgent event
/// needs its predecessors queued, and queued in the urgent lane with it). Those positions are recorded as
/// fanned out ahead, and the subscription's ahead position moves to the last urgent entry done. Then the
/// in-order scan takes the next batch after the fan-out position and skips the positions fanned out ahead.
/// Each resource's entries are therefore still processed exactly once and in order, whichever step takes
/// them, which is what filter membership (feed:add / feed:remove) depends on. Without the look-ahead an
/// urgent entry written behind a large backlog would wait for the whole backlog to be fanned out first.
/// </remarks>
public sealed class FanoutWorker(IResourceStore store, SchemaRegistry registry, SetEncoder encoder, FeedOptions options,
    FeedMetrics? metrics = null, TimeProvider? time = null)
{
    // Urgent entries examined per look-ahead: the step reads their resources one by one, so it is bounded
    // like the in-order batch (which FanoutBatch bounds in entries).
    private const int UrgentPerRound = 256;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Fans out one round; returns how many journal entries it covered (0 when caught up).</summary>
    public async Task<int> RunOnceAsync(Subscription s, CancellationToken ct)
    {
        // A suspended subscription stops growing its queue: the journal keeps what comes next (Suspended).
        if (s.State is SubscriptionState.Resnapshot or SubscriptionState.Disabled or SubscriptionState.Suspended) return 0;
        var (covered, aheadPosition, lost) = await LookAheadAsync(s, ct).ConfigureAwait(false);
        // Lost a compare-and-set: another round moved this subscription; the caller reads it again.
        if (lost) return 0;
        return covered + await InOrderAsync(s with { AheadPosition = aheadPosition }, ct).ConfigureAwait(false);
    }

    private async Task<(int Covered, long AheadPosition, bool Lost)> LookAheadAsync(Subscription s, CancellationToken ct)
    {
        var urgent = await store.ReadUrgentJournalAsync(Math.Max(s.FanoutPosition, s.AheadPosition), UrgentPerRound, ct).ConfigureAwait(false);
        if (urgent.Count == 0) return (0, s.AheadPosition, false);
        // Entries this subscriber never received were compacted away: fanning out what is left of a resource's
        // history would hide the hole. The in-order scan notices it and asks for a resnapshot.
        if (await store.JournalFloorAsync(ct).ConfigureAwait(false) > s.FanoutPosition) return (0, s.AheadPosition, false);
        var last = new Dictionary<string, long>(
            await store.Feed.LastFannedAheadAsync(s.Id, urgent.Select(u => u.ResourceId).ToArray(), ct).ConfigureAwait(false), StringComparer.Ordinal);
        var budget = options.FanoutBatch;
        var aheadTo = s.AheadPosition;
        var taken = new List<JournalEntry>();
        foreach (var u in urgent)
        {
            if (Subscribed(s, u.ResourceType))
            {
                if (budget <= 0) break;
                // Every entry of the resource up to the later of the two positions is queued already.
                var start = Math.Max(s.FanoutPosition, last.GetValueOrDefault(u.ResourceId));
                if (start < u.Position)
                {
                    var history = await store.ReadResourceJournalAsync(u.ResourceId, start, u.Position, budget, ct).ConfigureAwait(false);
                    taken.AddRange(history);
                    budget -= history.Count;
                    if (history.Count > 0) last[u.ResourceId] = history[^1].Position;
                    // A resource with more entries before its urgent one than the budget allows: the prefix taken
                    // is recorded, and the next round resumes after it.
                    if (history.Count == 0 || history[^1].Position != u.Position) break;
                }
            }
            aheadTo = u.Position;
        }
        if (taken.Count == 0 && aheadTo == s.AheadPosition) return (0, s.AheadPosition, false);
        var fanned = await FanAsync(s, taken, ct).ConfigureAwait(false);
        var commit = new FanoutCommit(s.FanoutPosition, s.FanoutPosition, s.AheadPosition, aheadTo, fanned.Deliveries)
        {
            Entered = fanned.Entered,
            Left = fanned.Left,
            FannedAhead = taken.Select(e => (e.Position, e.Change.ResourceId)).ToArray(),
            Superseded = fanned.Superseded,
        };
        if (!await store.Feed.CommitFanoutAsync(s.Id, commit, ct).ConfigureAwait(false)) return (0, s.AheadPosition, true);
        metrics?.Queued(s.Name, fanned.Deliveries.Count);
        return (taken.Count, aheadTo, false);
    }

    private async Task<int> InOrderAsync(Subscription s, CancellationToken ct)
    {
        var entries = await store.ReadJournalAsync(s.FanoutPosition, options.FanoutBatch, ct).ConfigureAwait(false);
        if (entries.Count == 0) return 0;
        if (entries[0].Position != s.FanoutPosition + 1 && await store.JournalFloorAsync(ct).ConfigureAwait(false) > s.FanoutPosition)
        {
            // Changes this subscriber never received were compacted away: say so rather than skip them.
            await store.Feed.UpdateSubscriptionAsync(s.Id, s.Config.ToJson(), "resnapshot", ct).ConfigureAwait(false);
            return 0;
        }
        var ahead = await store.Feed.FannedAheadAsync(s.Id, s.FanoutPosition, entries[^1].Position, ct).ConfigureAwait(false);
        var todo = ahead.Count == 0 ? entries : entries.Where(e => !ahead.Contains(e.Position)).ToArray();
        var fanned = await FanAsync(s, todo, ct).ConfigureAwait(false);
        var commit = new FanoutCommit(s.FanoutPosition, entries[^1].Position, s.AheadPosition, s.AheadPosition, fanned.Deliveries)
        {
            Entered = fanned.Entered,
            Left = fanned.Left,
            Superseded = fanned.Superseded,
        };
        if (!await store.Feed.CommitFanoutAsync(s.Id, commit, ct).ConfigureAwait(false)) return 0;
        metrics?.Queued(s.Name, fanned.Deliveries.Count);
        return entries.Count;
    }

    private static bool Subscribed(Subscription s, string resourceType) =>
        s.Config.ResourceTypes.Contains(resourceType, StringComparer.OrdinalIgnoreCase);

    private sealed record Fanned(List<DeliveryRecord> Deliveries, HashSet<string> Entered, HashSet<string> Left, List<string> Superseded);

    /// <summary>
    /// The SETs for <paramref name="entries"/>, which must hold each resource's entries in position order with
    /// none of them fanned out before: filter membership moves from one entry of a resource to the next, and
    /// so does coalescing.
    /// </summary>
    private async Task<Fanned> FanAsync(Subscription s, IReadOnlyList<JournalEntry> entries, CancellationToken ct)
    {
        var filters = s.Config.Filter is null ? null : BindFilters(s.Config);
        var members = filters is null || entries.Count == 0
            ? new HashSet<string>()
            : new HashSet<string>(await store.Feed.MembersAsync(s.Id, entries.Select(e => e.Change.ResourceId).ToArray(), ct).ConfigureAwait(false));
        var coalesce = s.Config.Coalesce && s.Config.Payload == PayloadMode.Full;
        // Per resource, the event queued last before this step, when a routine change may replace it.
        var queued = coalesce
            ? await store.Feed.CoalescibleAsync(s.Id, entries.Where(e => IsUser(e.Change)).Select(e => e.Change.ResourceId).ToArray(), ct).ConfigureAwait(false)
            : null;
        // Per resource, the index in `deliveries` of its latest event in this step, or -1 when that one is not
        // coalescible; a replaced event's slot becomes null.
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        var deliveries = new List<DeliveryRecord?>();
        var result = new Fanned([], new HashSet<string>(StringComparer.Ordinal), new HashSet<string>(StringComparer.Ordinal), []);
        var now = _time.GetUtcNow();
        foreach (var entry in entries)
        {
            var c = entry.Change;
            if (!Subscribed(s, c.ResourceType)) continue;
            var rt = registry.FindResourceType(c.ResourceType);
            if (rt is null) continue;
            var transition = FeedTransition.None;
            if (filters is not null)
            {
                var before = members.Contains(c.ResourceId);
                var after = c.Operation != JournalOperation.Delete && Matches(filters[rt.Name], entry, rt);
                if (after) { members.Add(c.ResourceId); result.Entered.Add(c.ResourceId); result.Left.Remove(c.ResourceId); }
                else { members.Remove(c.ResourceId); result.Left.Add(c.ResourceId); result.Entered.Remove(c.ResourceId); }
                if (!before && !after) continue;
                if (!before && after && c.Operation != JournalOperation.Create) transition = FeedTransition.Entered;
                if (before && !after && c.Operation != JournalOperation.Delete) transition = FeedTransition.Left;
            }
            if (transition == FeedTransition.None && IsNoise(c, s.Config.IgnoredAttributes)) continue;
            var evt = ScimEventBuilder.Build(entry, s.Config.Payload, transition, rt.Endpoint);
            var kind = coalesce && IsRoutine(c, transition, evt)
                ? c.Operation == JournalOperation.Create ? Coalescible.Create : Coalescible.Update
                : Coalescible.No;
            var created = now;
            if (kind != Coalescible.No)
            {
                DeliveryRecord? replaced = null;
                if (latest.TryGetValue(c.ResourceId, out var index))
                {
                    if (index >= 0)
                    {
                        replaced = deliveries[index];
                        deliveries[index] = null;
                    }
                }
                else if (queued!.TryGetValue(c.ResourceId, out var waiting))
                {
                    replaced = waiting;
                    result.Superseded.Add(waiting.Jti);
                }
                if (replaced is not null)
                {
                    // A subscriber that has not been told of the creation yet still needs a creation.
                    kind = replaced.Coalescible == Coalescible.Create ? Coalescible.Create : Coalescible.Update;
                    created = replaced.Created;
                    evt = ScimEventBuilder.BuildCoalesced(entry, kind == Coalescible.Create, rt.Endpoint);
                }
            }
            var jti = Guid.CreateVersion7().ToString("N");
            if (s.Config.JournalPosition) evt = evt with { JournalPosition = entry.Position };
            var token = encoder.Encode(evt, jti, options.Issuer, [s.Config.Audience], s.Key);
            latest[c.ResourceId] = kind == Coalescible.No ? -1 : deliveries.Count;
            deliveries.Add(new DeliveryRecord(s.Id, jti, entry.Position, c.ResourceId, evt.Urgent, token, 0, null) { Created = created, Coalescible = kind });
        }
        result.Deliveries.AddRange(deliveries.OfType<DeliveryRecord>());
        return result;
    }

    private bool IsUser(JournalAppend c) => c.ResourceType.Equals(registry.User.Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A change that coalescing may merge: a User's (a Group PATCH entry lacks the member list, so it cannot
    /// stand for the whole state), not urgent, no feed transition, no activation or deactivation (each of
    /// which must reach the subscriber as such), and with the resource's state recorded.
    /// </summary>
    private bool IsRoutine(JournalAppend c, FeedTransition transition, ScimEvent evt) =>
        IsUser(c) && transition == FeedTransition.None && !evt.Urgent && !JournalUrgency.IsActivityChange(c)
        && c.Operation != JournalOperation.Delete && c.Data is not null;

    /// <summary>
    /// A PUT or PATCH whose changed attributes all fall under ignored ones ("lastLogin", or "name" covering
    /// "name.givenName") is noise for this subscriber. Creates and deletes never are.
    /// </summary>
    public static bool IsNoise(JournalAppend c, IReadOnlyList<string> ignored)
    {
        if (ignored.Count == 0 || c.Operation is JournalOperation.Create or JournalOperation.Delete || c.Attributes.Count == 0) return false;
        return c.Attributes.All(a => ignored.Any(i =>
            a.Equals(i, StringComparison.OrdinalIgnoreCase) || a.StartsWith(i + ".", StringComparison.OrdinalIgnoreCase)));
    }

    private Dictionary<string, BoundFilter> BindFilters(SubscriptionConfig config)
    {
        var parsed = ScimFilterParser.Parse(config.Filter!);
        return config.ResourceTypes.Select(n => registry.FindResourceType(n)!)
            .ToDictionary(rt => rt.Name, rt => FilterBinder.Bind(parsed, rt, registry, strict: false), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Evaluates the filter on the state the entry records. PATCH entries of groups carry the document
    /// without members, so filters on group members are not supported in subscriptions.
    /// </summary>
    private static bool Matches(BoundFilter filter, JournalEntry entry, ResourceTypeDefinition rt)
    {
        if (entry.Change.Data is null) return false;
        var doc = JsonNode.Parse(entry.Change.Data)!.AsObject();
        doc["id"] = entry.Change.ResourceId;
        doc["meta"] = new JsonObject { ["resourceType"] = rt.Name, ["version"] = "W/\"" + entry.Change.Version + "\"" };
        return FilterEvaluator.Matches(filter, doc);
    }
}
