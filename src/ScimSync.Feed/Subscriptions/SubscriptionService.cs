using System.Text.Json;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store;
using ScimSync.Store.Feed;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;

namespace ScimSync.Feed.Subscriptions;

/// <summary>Creates, changes and rewinds subscriptions; validation errors are SCIM errors (400).</summary>
public sealed class SubscriptionService(IResourceStore store, SchemaRegistry registry, FeedOptions options, TimeProvider time)
{
    private static readonly string[] Algorithms = ["HS256", "RS256", "ES256", "none"];

    public const int MaxPushBatch = 1000;

    public static Subscription FromRecord(SubscriptionRecord r) => new(
        r.Id, r.Name, SubscriptionConfig.FromJson(r.Config), Enum.Parse<SubscriptionState>(r.State, ignoreCase: true),
        JsonSerializer.Deserialize<SigningKey>(r.SigningKey, SubscriptionConfig.Json)!, r.FanoutPosition, r.Created)
        { AheadPosition = r.AheadPosition };

    public async Task<Subscription> CreateAsync(string name, SubscriptionConfig config, long? startAfter, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(name)) throw ScimException.InvalidValue("A subscription needs a name");
        Validate(config);
        var position = startAfter ?? await HeadAsync(ct).ConfigureAwait(false);
        var key = SigningKey.Generate(config.Signing);
        var record = new SubscriptionRecord(Guid.CreateVersion7().ToString("N"), name, config.ToJson(), nameof(SubscriptionState.Active).ToLowerInvariant(),
            JsonSerializer.Serialize(key, SubscriptionConfig.Json), position, time.GetUtcNow());
        try
        {
            await store.Feed.CreateSubscriptionAsync(record, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw ScimException.Uniqueness(e.Message);
        }
        if (config.Filter is not null)
            await store.Feed.RewindAsync(record.Id, position, await CurrentMembersAsync(config, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        return FromRecord(record);
    }

    /// <summary>Restarts delivery after <paramref name="position"/> (a snapshot's journal position).</summary>
    public async Task RewindAsync(Subscription s, long position, CancellationToken ct)
    {
        if (position < 0) throw ScimException.InvalidValue("position must be 0 or more");
        var head = await HeadAsync(ct).ConfigureAwait(false);
        if (position > head) throw ScimException.InvalidValue($"position {position} is beyond the journal's head {head}");
        var floor = await store.JournalFloorAsync(ct).ConfigureAwait(false);
        if (position < floor) throw ScimException.InvalidValue($"position {position} is older than the journal keeps (changes up to {floor} were compacted); take a new snapshot");
        // Membership is computed from the current state: exact when the position is the head, and for an
        // older position the first changes replayed re-establish it.
        var members = s.Config.Filter is null ? [] : await CurrentMembersAsync(s.Config, ct).ConfigureAwait(false);
        await store.Feed.RewindAsync(s.Id, position, members, ct).ConfigureAwait(false);
        if (s.State == SubscriptionState.Resnapshot)
            await store.Feed.UpdateSubscriptionAsync(s.Id, s.Config.ToJson(), "active", ct).ConfigureAwait(false);
    }

    public Task MarkResnapshotAsync(Subscription s, CancellationToken ct) =>
        store.Feed.UpdateSubscriptionAsync(s.Id, s.Config.ToJson(), "resnapshot", ct);

    /// <summary>The dead-letter list is full: stop until the operator makes room (see <see cref="SubscriptionState.Suspended"/>).</summary>
    public Task SuspendAsync(Subscription s, CancellationToken ct) =>
        store.Feed.UpdateSubscriptionAsync(s.Id, s.Config.ToJson(), "suspended", ct);

    /// <summary>Why a subscription is not delivering, for operators; null when it is active.</summary>
    public string? StateReason(Subscription s, FeedStats stats) => s.State switch
    {
        SubscriptionState.Suspended =>
            $"the dead-letter list is full ({stats.DeadLetters:N0} events; at most {options.DeadLetterMaxCount:N0} events or {options.DeadLetterMaxBytes:N0} bytes): " +
            "rejected events are kept in the queue and delivery and fan-out have stopped; inspect the dead letters, replay or discard them, then set the state to active",
        SubscriptionState.Resnapshot => "the journal no longer holds changes this subscriber has not received: take a new snapshot and rewind to its position",
        SubscriptionState.Paused => "paused by an operator",
        SubscriptionState.Disabled => "disabled by an operator",
        _ => null,
    };

    public async Task<Subscription?> FindAsync(string idOrName, CancellationToken ct) =>
        await store.Feed.FindSubscriptionAsync(idOrName, ct).ConfigureAwait(false) is { } r ? FromRecord(r) : null;

    public async Task<IReadOnlyList<Subscription>> ListAsync(CancellationToken ct) =>
        (await store.Feed.ListSubscriptionsAsync(ct).ConfigureAwait(false)).Select(FromRecord).ToArray();

    public Task<bool> UpdateAsync(Subscription s, SubscriptionConfig config, SubscriptionState state, CancellationToken ct)
    {
        Validate(config);
        if (config.Signing != s.Config.Signing)
            throw ScimException.Mutability("The signing algorithm is fixed at creation; create a new subscription to change it");
        return store.Feed.UpdateSubscriptionAsync(s.Id, config.ToJson(), state.ToString().ToLowerInvariant(), ct);
    }

    private async Task<long> HeadAsync(CancellationToken ct)
    {
        var query = await store.QueryAsync(new ResourceQuery([new TypeFilter(registry.User, null, null)], null, new PageRequest(1, 0), LoadOptions.None), ct).ConfigureAwait(false);
        return query.JournalPosition;
    }

    private async Task<IReadOnlyCollection<string>> CurrentMembersAsync(SubscriptionConfig config, CancellationToken ct)
    {
        var parsed = ScimFilterParser.Parse(config.Filter!);
        var members = new List<string>();
        foreach (var rt in config.ResourceTypes.Select(n => registry.FindResourceType(n)!))
        {
            var bound = FilterBinder.Bind(parsed, rt, registry, strict: false);
            long after = 0;
            while (true)
            {
                var page = await store.QueryAsync(new ResourceQuery([new TypeFilter(rt, bound, null)], null, new PageRequest(1, 1000, after), LoadOptions.None), ct).ConfigureAwait(false);
                members.AddRange(page.Resources.Select(r => r.Id));
                if (!page.HasMore || page.Resources.Count == 0) break;
                after = page.Resources[^1].Seq;
            }
        }
        return members;
    }

    private void Validate(SubscriptionConfig c)
    {
        if (string.IsNullOrWhiteSpace(c.Audience)) throw ScimException.InvalidValue("audience is required");
        if (!Algorithms.Contains(c.Signing)) throw ScimException.InvalidValue($"signing must be one of {string.Join(", ", Algorithms)}");
        if (c.ResourceTypes.Count == 0) throw ScimException.InvalidValue("resourceTypes must name at least one resource type");
        foreach (var t in c.ResourceTypes)
            if (registry.FindResourceType(t) is null) throw ScimException.InvalidValue($"Unknown resource type \"{t}\"");
        // A notice carries the changed attribute names; merging notices would need their union, and a notice
        // subscriber reads the resource anyway, so coalescing is for full payloads only.
        if (c.Coalesce && c.Payload != PayloadMode.Full) throw ScimException.InvalidValue("coalesce needs payload \"full\"");
        if (c.PushBatch is < 1 or > MaxPushBatch) throw ScimException.InvalidValue($"pushBatch must be between 1 and {MaxPushBatch}");
        // Writers' names are for whoever administers the source: a push receiver has no credential here to show
        // that it does, so they go to polled subscriptions only (and a poll needs the admin scope then, FeedApi).
        if (c.Writer && c.Delivery != DeliveryMethod.Poll) throw ScimException.InvalidValue("writer needs delivery \"poll\": writers' names are delivered only to a poll with the admin scope");
        if (c.Delivery == DeliveryMethod.Push && !Delivery.PushDestination.IsAllowed(c.PushUrl ?? "", options.PushAllowList, out var reason))
            throw ScimException.InvalidValue(reason);
        if (c.PasswordKey is not null)
        {
            using var key = PasswordEnvelope.ReadPublicJwk(c.PasswordKey, out var why);
            if (key is null) throw ScimException.InvalidValue(why);
        }
        if (c.Filter is not null)
        {
            var parsed = ScimFilterParser.Parse(c.Filter);
            foreach (var t in c.ResourceTypes) FilterBinder.Bind(parsed, registry.FindResourceType(t)!, registry, strict: c.ResourceTypes.Count == 1);
        }
    }
}
