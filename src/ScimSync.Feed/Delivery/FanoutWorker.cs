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
/// Turns journal entries into signed SETs queued per subscription. Each batch commits its deliveries with
/// the subscription's new fan-out position (compare-and-set): after a crash the batch is redone from the
/// old position, and nothing is lost or queued twice.
/// </summary>
public sealed class FanoutWorker(IResourceStore store, SchemaRegistry registry, SetEncoder encoder, FeedOptions options, FeedMetrics? metrics = null)
{
    /// <summary>Fans out one batch; returns how many journal entries it covered (0 when caught up).</summary>
    public async Task<int> RunOnceAsync(Subscription s, CancellationToken ct)
    {
        if (s.State is SubscriptionState.Resnapshot or SubscriptionState.Disabled) return 0;
        var entries = await store.ReadJournalAsync(s.FanoutPosition, options.FanoutBatch, ct).ConfigureAwait(false);
        if (entries.Count == 0) return 0;
        if (entries[0].Position != s.FanoutPosition + 1 && await store.JournalFloorAsync(ct).ConfigureAwait(false) > s.FanoutPosition)
        {
            // Changes this subscriber never received were compacted away: say so rather than skip them.
            await store.Feed.UpdateSubscriptionAsync(s.Id, s.Config.ToJson(), "resnapshot", ct).ConfigureAwait(false);
            return 0;
        }
        var filters = s.Config.Filter is null ? null : BindFilters(s.Config);
        var members = filters is null
            ? new HashSet<string>()
            : new HashSet<string>(await store.Feed.MembersAsync(s.Id, entries.Select(e => e.Change.ResourceId).ToArray(), ct).ConfigureAwait(false));
        var entered = new HashSet<string>(StringComparer.Ordinal);
        var left = new HashSet<string>(StringComparer.Ordinal);
        var deliveries = new List<DeliveryRecord>();
        foreach (var entry in entries)
        {
            var c = entry.Change;
            if (!s.Config.ResourceTypes.Contains(c.ResourceType, StringComparer.OrdinalIgnoreCase)) continue;
            var rt = registry.FindResourceType(c.ResourceType);
            if (rt is null) continue;
            var transition = FeedTransition.None;
            if (filters is not null)
            {
                var before = members.Contains(c.ResourceId);
                var after = c.Operation != JournalOperation.Delete && Matches(filters[rt.Name], entry, rt);
                if (after) { members.Add(c.ResourceId); entered.Add(c.ResourceId); left.Remove(c.ResourceId); }
                else { members.Remove(c.ResourceId); left.Add(c.ResourceId); entered.Remove(c.ResourceId); }
                if (!before && !after) continue;
                if (!before && after && c.Operation != JournalOperation.Create) transition = FeedTransition.Entered;
                if (before && !after && c.Operation != JournalOperation.Delete) transition = FeedTransition.Left;
            }
            if (transition == FeedTransition.None && IsNoise(c, s.Config.IgnoredAttributes)) continue;
            var evt = ScimEventBuilder.Build(entry, s.Config.Payload, transition, rt.Endpoint);
            var jti = Guid.CreateVersion7().ToString("N");
            var token = encoder.Encode(evt, jti, options.Issuer, [s.Config.Audience], s.Key);
            deliveries.Add(new DeliveryRecord(s.Id, jti, entry.Position, c.ResourceId, evt.Urgent, token, 0, null));
        }
        var ok = await store.Feed.CommitFanoutAsync(s.Id, s.FanoutPosition, entries[^1].Position, deliveries, entered, left, ct).ConfigureAwait(false);
        if (ok) metrics?.Queued(s.Name, deliveries.Count);
        return ok ? entries.Count : 0;
    }

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
