using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Events;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>
/// The source's RFC 9967 feed, read by RFC 8936 polling. The engine owns one subscription on the source
/// (created on first use, starting exactly after the snapshot's journal position, so nothing falls between
/// the snapshot and the stream); its id is kept in the engine's checkpoints and its HS256 key with the
/// engine's secrets (sealed, see IStateSecrets); the engine polls with its own credentials, and
/// every SET goes through the server's own validator (<see cref="SetEncoder.Receive"/>) before it is believed.
/// SETs are acknowledged on the next poll, after the changes they carry are durably queued for every target:
/// a crash re-delivers, never loses. A SET the validator refuses is returned apart (<see cref="FeedPoll.Refused"/>),
/// to be reported to the source as an error on the next poll (RFC 8936 setErrs): one bad SET must not stop the
/// feed. Only a missing or wrong key fails the whole poll: that is the engine's state, not the SET, and
/// refusing every SET for it would dead-letter the whole feed.
/// </summary>
/// <param name="passwordKey">
/// The engine's public key for passwords (docs/passwords.md) when a target has <c>passwords: sync</c>:
/// the subscription is registered with it and so gets the right to passwords; null: a subscription that had it loses it.
/// </param>
public sealed class SourceFeed(ScimClient client, ISyncState state, string name, JsonObject? passwordKey = null) : ISourceChanges
{
    /// <summary>The subscription of the engine when it runs alone; engines sharing one state each have their own name.</summary>
    public const string DefaultName = "engine";

    // Kept under the names earlier builds used for the default subscription; another name keeps its own.
    private string KeyId => name == DefaultName ? "feed.subscription" : "feed.subscription:" + name;
    private string KeySecret => name == DefaultName ? "feed.secret" : "feed.secret:" + name;
    // The subscription's audience: every SET must be addressed to it.
    private const string Audience = "scimsync-sync";
    private string? _subscription;
    private SigningKey? _key;

    public bool Exists => state.GetCheckpoint(KeyId) is not null;

    /// <summary>The engine's subscription at the source, once it exists.</summary>
    public string? SubscriptionId => state.GetCheckpoint(KeyId);

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
                await EnsurePasswordKeyAsync(existing, current, ct).ConfigureAwait(false);
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
            // The right to passwords, only when a target takes them: sealed to this key, never in the events.
            ["passwordKey"] = passwordKey?.DeepClone(),
        }, ct).ConfigureAwait(false);
        state.Batch(w =>
        {
            w.SetCheckpoint(KeyId, created["id"]!.GetValue<string>());
            w.SetSecret(KeySecret, created["secret"]?.GetValue<string>());
        });
    }

    /// <summary>
    /// The subscription's right to passwords follows the configuration: registered with the engine's current key when a
    /// target has <c>passwords: sync</c>, withdrawn when none has. Not changed by an earlier build's source, which
    /// refuses the setting: then the start fails, rather than passwords silently not flowing.
    /// </summary>
    private async Task EnsurePasswordKeyAsync(string id, JsonObject current, CancellationToken ct)
    {
        var registered = current["passwordKey"] as JsonObject;
        if (registered?["kid"]?.ToString() == passwordKey?["kid"]?.ToString()) return;
        await client.PatchJsonAsync($"/feeds/v1/subscriptions/{id}", new JsonObject { ["passwordKey"] = passwordKey?.DeepClone() }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Acknowledges <paramref name="ack"/>, reports <paramref name="errors"/> (jti → "err: description") and waits
    /// (long poll, bounded by the source) for the next SETs.
    /// </summary>
    public async Task<FeedPoll> PollAsync(IReadOnlyCollection<string> ack, IReadOnlyDictionary<string, string> errors, bool returnImmediately, CancellationToken ct)
    {
        // Read each time: a periodic full comparison recreates a subscription the source lost, with a new id and key.
        var id = state.GetCheckpoint(KeyId) ?? throw new SourceFeedUnavailableException("the feed subscription does not exist yet");
        if (id != _subscription)
        {
            _subscription = id;
            _key = state.GetSecret(KeySecret) is { } secret ? new SigningKey(SigningKey.HS256, "", Convert.FromBase64String(secret), null) : null;
        }
        var body = await client.PostJsonAsync($"/feeds/v1/subscriptions/{_subscription}/poll",
            new PollRequest(1000, returnImmediately, ack.ToArray(), errors).ToJson(), ct).ConfigureAwait(false);
        var changes = new List<SourceChange>();
        var refused = new List<RefusedSet>();
        foreach (var polled in PollResponse.Read(body).Sets)
        {
            try
            {
                changes.Add(Decode(polled));
            }
            catch (SetValidationException e) when (e.Err != "invalid_key")
            {
                refused.Add(new RefusedSet(polled.Jti, e.Err, e.Message));
            }
        }
        return new FeedPoll(changes, refused);
    }

    /// <summary>
    /// The subscription's dead letters at the source (SETs the engine refused, or that ran out of attempts), at most
    /// the 1,000 the source lists, without the SETs themselves (they carry the person's data). Needs the admin scope,
    /// as the subscription itself does.
    /// </summary>
    public async Task<IReadOnlyList<DeadLetter>> DeadLettersAsync(CancellationToken ct)
    {
        var id = SubscriptionId ?? throw new SourceFeedUnavailableException("the engine has no feed subscription at the source yet");
        var body = await client.GetJsonAsync($"/feeds/v1/subscriptions/{Uri.EscapeDataString(id)}/dead-letters", ct).ConfigureAwait(false)
            ?? throw new SourceFeedUnavailableException($"the source no longer has the engine's feed subscription {id}");
        return (body["deadLetters"] as JsonArray ?? []).OfType<JsonObject>().Select(d => new DeadLetter(
            d["jti"]?.ToString() ?? "", d["position"] is JsonValue p && p.TryGetValue<long>(out var pos) ? pos : null, d["resourceId"]?.ToString(),
            d["attempts"] is JsonValue a && a.TryGetValue<int>(out var n) ? n : 0, d["error"]?.ToString())).ToArray();
    }

    /// <summary>Asks the source to deliver the subscription's dead letters again (on the engine's next poll); returns how many.</summary>
    public async Task<int> ReplayDeadLettersAsync(CancellationToken ct)
    {
        var id = SubscriptionId ?? throw new SourceFeedUnavailableException("the engine has no feed subscription at the source yet");
        var body = await client.PostJsonAsync($"/feeds/v1/subscriptions/{Uri.EscapeDataString(id)}/dead-letters/replay", new JsonObject(), ct).ConfigureAwait(false);
        return body["replayed"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
    }

    private SourceChange Decode(PolledSet polled)
    {
        // Fail closed: a subscription created without a key (or a key lost from the state) verifies nothing.
        var key = _key ?? throw new SetValidationException("invalid_key", $"SET {polled.Jti}: no verification key for the feed subscription");
        return SourceChange.From(polled.Receive(key, issuer: null, Audience));
    }
}

/// <summary>A SET the source gave up delivering to the engine's subscription (without the SET: it carries the person's data).</summary>
public sealed record DeadLetter(string Jti, long? Position, string? ResourceId, int Attempts, string? Error);

/// <summary>What one poll brought: the changes the SETs carry, and the SETs refused (to report to the source).</summary>
public sealed record FeedPoll(IReadOnlyList<SourceChange> Changes, IReadOnlyList<RefusedSet> Refused);

/// <summary>A SET, or the change it carries, that the engine refuses; <see cref="Err"/> is an RFC 8935 §2.4 error code.</summary>
public sealed record RefusedSet(string Jti, string Err, string Description)
{
    /// <summary>The value of its RFC 8936 setErrs entry, as <see cref="PollRequest"/> keeps it.</summary>
    public string SetErr => $"{Err}: {Description}";
}
