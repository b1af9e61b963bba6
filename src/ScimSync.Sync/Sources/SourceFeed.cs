using System.Text;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using ScimSync.Client;
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

    /// <summary>
    /// Whether <paramref name="current"/> (the engine's copy) already reflects this change: a replayed event
    /// older than the snapshot must not be applied on top of it.
    /// </summary>
    public bool AlreadyIn(JsonObject? current) =>
        AlreadyIn(current?["meta"]?["version"] is JsonValue cv && cv.TryGetValue<string>(out var tag) ? ParseVersion(tag) : null);

    public bool AlreadyIn(long? currentVersion) => Version is { } v && currentVersion is { } have && have >= v;

    public static long? ParseVersion(string? etag) =>
        etag is not null && long.TryParse(etag.Replace("W/", "", StringComparison.Ordinal).Trim('"'), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
}

/// <summary>
/// The source's RFC 9967 feed, read by RFC 8936 polling. The engine owns one subscription on the source
/// (created on first use, starting exactly after the snapshot's journal position, so nothing falls between
/// the snapshot and the stream); its id is kept in the engine's checkpoints and its HS256 key with the
/// engine's secrets (sealed, see ShadowStore.Secrets.cs); the engine polls with its own credentials, and
/// every SET's signature is verified before it is believed. SETs are acknowledged on the next poll, after
/// the changes they carry are durably queued for every target: a crash re-delivers, never loses.
/// </summary>
public sealed class SourceFeed(ScimClient client, ShadowStore state, string name)
{
    private const string KeyId = "feed.subscription", KeySecret = "feed.secret";
    // Written by ScimSync's SetEncoder; other sources' SETs lack it, and the change then has no position.
    private const string JournalPositionClaim = "urn:scimsync:params:event:journalPosition";
    private readonly JsonWebTokenHandler _handler = new();
    private string? _subscription;
    private SymmetricSecurityKey? _key;

    public bool Exists => state.GetCheckpoint(KeyId) is not null;

    /// <summary>Creates the engine's subscription after <paramref name="position"/> unless it exists already.</summary>
    public async Task EnsureAsync(long position, CancellationToken ct)
    {
        if (state.GetCheckpoint(KeyId) is { } existing)
        {
            if (await client.GetJsonAsync($"/feeds/v1/subscriptions/{existing}", ct).ConfigureAwait(false) is not null) return;
            // The source lost it (deleted by an operator): start again from this snapshot.
        }
        var created = await client.PostJsonAsync("/feeds/v1/subscriptions", new JsonObject
        {
            ["name"] = $"scimsync-sync-{name}-{Guid.NewGuid().ToString("N")[..8]}",
            ["audience"] = "scimsync-sync",
            ["delivery"] = "poll",
            ["payload"] = "full",
            ["resourceTypes"] = new JsonArray("User", "Group"),
            ["signing"] = "HS256",
            // Each SET then names its journal position: the engine's logs and traces tie a target call to the write
            // at the source. A source that does not know the setting ignores it, and changes have no position.
            ["journalPosition"] = true,
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
        var id = state.GetCheckpoint(KeyId) ?? throw new InvalidOperationException("the feed subscription does not exist yet");
        if (id != _subscription)
        {
            _subscription = id;
            _key = state.GetSecret(KeySecret) is { } secret ? new SymmetricSecurityKey(Convert.FromBase64String(secret)) : null;
        }
        var body = await client.PostJsonAsync($"/feeds/v1/subscriptions/{_subscription}/poll", new JsonObject
        {
            ["ack"] = new JsonArray(ack.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
            ["maxEvents"] = 1000,
            ["returnImmediately"] = returnImmediately,
        }, ct).ConfigureAwait(false);
        var changes = new List<SourceChange>();
        if (body["sets"] is not JsonObject sets) return changes;
        foreach (var (jti, token) in sets)
            if (token is JsonValue v && v.TryGetValue<string>(out var jwt))
                changes.Add(await DecodeAsync(jti, jwt).ConfigureAwait(false));
        return changes;
    }

    private async Task<SourceChange> DecodeAsync(string jti, string jwt)
    {
        // Fail closed: a subscription created without a key (or a key lost from the state) verifies nothing.
        var key = _key ?? throw new InvalidOperationException($"SET {jti}: no verification key for the feed subscription");
        var result = await _handler.ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            IssuerSigningKey = key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidateIssuer = false, // the per-subscription key is what authenticates the source
            ValidAudience = "scimsync-sync",
            ValidateLifetime = false,
            RequireExpirationTime = false,
            ValidTypes = ["secevent+jwt"],
        }).ConfigureAwait(false);
        if (!result.IsValid) throw new InvalidOperationException($"SET {jti} failed signature validation: {result.Exception?.Message}");
        var claims = JsonNode.Parse(Base64UrlEncoder.Decode(jwt.Split('.')[1]))!.AsObject();
        // The key a SET is acknowledged by must be the SET's own jti, or a replayed SET could acknowledge another.
        if (claims["jti"] is not JsonValue j || !j.TryGetValue<string>(out var claimed) || claimed != jti)
            throw new InvalidOperationException($"SET {jti} carries a different jti");
        var subId = claims["sub_id"] as JsonObject;
        var uri = subId?["uri"]?.GetValue<string>() ?? "";
        var id = subId?["id"]?.GetValue<string>() ?? Uri.UnescapeDataString(uri[(uri.LastIndexOf('/') + 1)..]);
        var type = uri.StartsWith("/Groups", StringComparison.OrdinalIgnoreCase) ? "Group" : "User";
        var events = claims["events"] as JsonObject ?? [];
        bool Has(string suffix) => events.Any(e => e.Key.EndsWith(suffix, StringComparison.Ordinal));
        var deleted = Has(":prov:delete") || Has(":feed:remove");
        var patch = events.FirstOrDefault(e => e.Key.EndsWith(":prov:patch:full", StringComparison.Ordinal)).Value?["data"] as JsonObject;
        var data = events.FirstOrDefault(e => e.Key.EndsWith(":prov:create:full", StringComparison.Ordinal) || e.Key.EndsWith(":prov:put:full", StringComparison.Ordinal)).Value?["data"] as JsonObject;
        var attributes = events.Select(e => e.Value?["attributes"] as JsonArray).OfType<JsonArray>().SelectMany(a => a.Select(x => x?.GetValue<string>())).ToArray();
        var patchPaths = patch?["Operations"] is JsonArray ops ? ops.Select(o => o?["path"]?.GetValue<string>() ?? "").ToArray() : [];
        var urgent = deleted || Has(":prov:deactivate")
            || attributes.Any(a => a is "password" or "members") || patchPaths.Any(p => p.StartsWith("password", StringComparison.OrdinalIgnoreCase) || p.StartsWith("members", StringComparison.OrdinalIgnoreCase))
            || (type == "Group" && (patch is not null || data is not null));
        var version = events.Select(e => e.Value?["version"] is JsonValue vv && vv.TryGetValue<string>(out var tag) ? SourceChange.ParseVersion(tag) : null).FirstOrDefault(v => v is not null);
        var position = claims[JournalPositionClaim] is JsonValue p && p.TryGetValue<long>(out var pos) ? pos : (long?)null;
        return new SourceChange(jti, type, id, deleted, urgent, patch, data, claims["txn"]?.GetValue<string>()) { Version = version, JournalPosition = position };
    }
}
