using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Events;
using ScimSync.Sync.Shadows;

namespace ScimSync.Sync.Sources;

/// <summary>One change learnt from the source's feed: which resource, and whether it belongs in the urgent lane.</summary>
/// <param name="Patch">For prov:patch:full, the PatchOp applied at the source (applied to the engine's copy instead of reading the resource).</param>
public sealed record SourceChange(string Jti, string ResourceType, string Id, bool Deleted, bool Urgent, JsonObject? Patch, JsonObject? Data, string? Txn)
{
    /// <summary>The resource's version after this change (RFC 9967 <c>version</c>), when the event carries one.</summary>
    public long? Version { get; init; }

    /// <summary>The source's journal position of this change, when its SET says (ScimSync sources do; docs/journal.md).</summary>
    public long? JournalPosition { get; init; }

    /// <summary>When the change was committed at the source (the SET's <c>toe</c>), when its SET says.</summary>
    public DateTimeOffset? EventTime { get; init; }

    /// <summary>The name of the credential that made the change at the source, when its SET says (docs/journal.md).</summary>
    public string? Writer { get; init; }

    /// <summary>
    /// Whether <paramref name="current"/> (the engine's copy) already reflects this change: a replayed event
    /// older than the snapshot must not be applied on top of it.
    /// </summary>
    public bool AlreadyIn(JsonObject? current) =>
        AlreadyIn(current?["meta"]?["version"] is JsonValue cv && cv.TryGetValue<string>(out var tag) ? ParseVersion(tag) : null);

    public bool AlreadyIn(long? currentVersion) => Version is { } v && currentVersion is { } have && have >= v;

    /// <summary>A validated SET as the engine's change; only Users and Groups are the engine's business.</summary>
    public static SourceChange From(ReceivedSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var type = set.ResourceType is "User" or "Group" ? set.ResourceType
            : throw new SetValidationException("invalid_request", $"SET {set.Jti} is about {set.Endpoint}, neither Users nor Groups");
        return new SourceChange(set.Jti, type, set.ResourceId, set.Removed, set.Urgent, set.PatchOp, set.Data, set.Txn)
        {
            Version = ParseVersion(set.Version), JournalPosition = set.JournalPosition, EventTime = set.EventTime, Writer = set.Writer,
        };
    }

    public static long? ParseVersion(string? etag) =>
        etag is not null && long.TryParse(etag.Replace("W/", "", StringComparison.Ordinal).Trim('"'), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
}

/// <summary>
/// The source's RFC 9967 feed, read by RFC 8936 polling. The engine owns one subscription on the source
/// (created on first use, starting exactly after the snapshot's journal position, so nothing falls between
/// the snapshot and the stream); its id is kept in the engine's checkpoints and its HS256 key with the
/// engine's secrets (sealed, see ShadowStore.Secrets.cs); the engine polls with its own credentials, and
/// every SET goes through the server's own validator (<see cref="SetEncoder.Receive"/>) before it is believed.
/// SETs are acknowledged on the next poll, after the changes they carry are durably queued for every target:
/// a crash re-delivers, never loses.
/// </summary>
public sealed class SourceFeed(ScimClient client, ShadowStore state, string name) : ISourceChanges
{
    private const string KeyId = "feed.subscription", KeySecret = "feed.secret";
    // The subscription's audience: every SET must be addressed to it.
    private const string Audience = "scimsync-sync";
    private string? _subscription;
    private SigningKey? _key;

    public bool Exists => state.GetCheckpoint(KeyId) is not null;

    /// <summary>Creates the engine's subscription after <paramref name="position"/> unless it exists already.</summary>
    public async Task EnsureAsync(long position, CancellationToken ct)
    {
        if (state.GetCheckpoint(KeyId) is { } existing)
        {
            if (await client.GetJsonAsync($"/feeds/v1/subscriptions/{existing}", ct).ConfigureAwait(false) is { } current)
            {
                // A subscription made by an earlier build does not name writers yet: asked for from now on, so the
                // provisioning log can say who changed what at the source. A source that refuses only costs the names.
                if (current["writer"] is not JsonValue w || !w.TryGetValue<bool>(out var named) || !named)
                {
                    try
                    {
                        await client.PatchJsonAsync($"/feeds/v1/subscriptions/{existing}", new JsonObject { ["writer"] = true, ["journalPosition"] = true }, ct).ConfigureAwait(false);
                    }
                    catch (ScimClientException)
                    {
                    }
                }
                return;
            }
            // The source lost it (deleted by an operator): start again from this snapshot.
        }
        var created = await client.PostJsonAsync("/feeds/v1/subscriptions", new JsonObject
        {
            ["name"] = $"scimsync-sync-{name}-{Guid.NewGuid().ToString("N")[..8]}",
            ["audience"] = Audience,
            ["delivery"] = "poll",
            ["payload"] = "full",
            ["resourceTypes"] = new JsonArray("User", "Group"),
            ["signing"] = "HS256",
            // Each SET then names its journal position: the engine's logs and traces tie a target call to the write
            // at the source. A source that does not know the setting ignores it, and changes have no position.
            ["journalPosition"] = true,
            // And who made each change (the credential's name): the engine polls with the admin scope it needs anyway.
            ["writer"] = true,
            ["startAfter"] = position,
        }, ct).ConfigureAwait(false);
        state.Batch(w =>
        {
            w.SetCheckpoint(KeyId, created["id"]!.GetValue<string>());
            w.SetSecret(KeySecret, created["secret"]?.GetValue<string>());
        });
    }

    /// <summary>
    /// Acknowledges <paramref name="ack"/> and waits (long poll, bounded by the source) for the next SETs.
    /// </summary>
    public async Task<IReadOnlyList<SourceChange>> PollAsync(IReadOnlyCollection<string> ack, bool returnImmediately, CancellationToken ct)
    {
        // Read each time: a periodic full comparison recreates a subscription the source lost, with a new id and key.
        var id = state.GetCheckpoint(KeyId) ?? throw new SourceFeedUnavailableException("the feed subscription does not exist yet");
        if (id != _subscription)
        {
            _subscription = id;
            _key = state.GetSecret(KeySecret) is { } secret ? new SigningKey(SigningKey.HS256, "", Convert.FromBase64String(secret), null) : null;
        }
        var body = await client.PostJsonAsync($"/feeds/v1/subscriptions/{_subscription}/poll",
            new PollRequest(1000, returnImmediately, ack.ToArray(), new Dictionary<string, string>()).ToJson(), ct).ConfigureAwait(false);
        return PollResponse.Read(body).Sets.Select(Decode).ToArray();
    }

    private SourceChange Decode(PolledSet polled)
    {
        // Fail closed: a subscription created without a key (or a key lost from the state) verifies nothing.
        var key = _key ?? throw new SetValidationException("invalid_key", $"SET {polled.Jti}: no verification key for the feed subscription");
        var set = polled.Receive(key, issuer: null, Audience);
        return SourceChange.From(set);
    }
}
