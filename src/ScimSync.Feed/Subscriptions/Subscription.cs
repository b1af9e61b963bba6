using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using ScimSync.Events;
using ScimSync.Feed.Events;

namespace ScimSync.Feed.Subscriptions;

public enum DeliveryMethod { Poll, Push }

/// <summary>
/// <see cref="Resnapshot"/>: the journal no longer holds changes this subscriber has not received (they
/// passed the operator's maximum age); it must take a new snapshot and rewind to that snapshot's position.
/// <see cref="Suspended"/>: the dead-letter list is full, so a further rejected event could be kept nowhere;
/// delivery and fan-out stop (the journal keeps what comes next) until the operator replays or discards the
/// dead letters and sets the state back to active.
/// </summary>
public enum SubscriptionState { Active, Paused, Disabled, Resnapshot, Suspended }

/// <summary>
/// What a subscriber receives and how. <see cref="IgnoredAttributes"/> are noise: a change confined to
/// them produces no event (DESIGN.md invariant 5). <see cref="Filter"/> selects which resources the
/// subscriber sees; a resource entering or leaving it yields feed:add / feed:remove.
/// </summary>
public sealed record SubscriptionConfig
{
    public required string Audience { get; init; }
    public DeliveryMethod Delivery { get; init; } = DeliveryMethod.Poll;
    public string? PushUrl { get; init; }
    public PayloadMode Payload { get; init; } = PayloadMode.Notice;
    public IReadOnlyList<string> ResourceTypes { get; init; } = ["User", "Group"];
    public string? Filter { get; init; }
    public IReadOnlyList<string> IgnoredAttributes { get; init; } = [];
    public string Signing { get; init; } = "HS256";

    /// <summary>
    /// Push only: SETs per request. 1 is plain RFC 8935 (one SET per POST); more sends up to that many in one
    /// JSON body shaped like an RFC 8936 poll response (our extension, docs/journal.md).
    /// </summary>
    public int PushBatch { get; init; } = 1;

    /// <summary>
    /// Full payload only: a routine change of a User whose previous event is still queued and unclaimed
    /// replaces that event with one carrying the whole latest state, so a subscriber that lags gets the
    /// latest state rather than every step (docs/journal.md).
    /// </summary>
    public bool Coalesce { get; init; }

    /// <summary>
    /// Our extension: each SET also carries its change's journal position, as the private claim
    /// <see cref="ScimSync.Events.SetEncoder.JournalPositionClaim"/>, so that the receiver's logs and traces can name the
    /// write they follow from (the sync engine asks for it). Off: SETs hold exactly the RFC 9967 claims.
    /// </summary>
    public bool JournalPosition { get; init; }

    /// <summary>
    /// Our extension: each SET also names the credential that made the change (<see cref="Events.SetEncoder.WriterClaim"/>).
    /// Who changed what is for the source's administrators: such a subscription is delivered by poll only, to a
    /// caller with the admin scope (its own poll token is refused), and never by push (docs/journal.md).
    /// </summary>
    public bool Writer { get; init; }

    /// <summary>
    /// The right to passwords: the subscriber's public key (an RSA JWK, RSA-OAEP-256). Every password set at the
    /// source from then on is sealed to it (a JWE, <see cref="PasswordEnvelope"/>) and handed to this subscription,
    /// by its passwords endpoint to a caller with the admin scope; a subscription without it never sees any
    /// password material (docs/passwords.md).
    /// </summary>
    public JsonObject? PasswordKey { get; init; }

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SubscriptionConfig FromJson(string json) =>
        JsonSerializer.Deserialize<SubscriptionConfig>(json, Json) ?? throw new FormatException("empty subscription config");
}

public sealed record Subscription(
    string Id,
    string Name,
    SubscriptionConfig Config,
    SubscriptionState State,
    SigningKey Key,
    long FanoutPosition,
    DateTimeOffset Created)
{
    /// <summary>The last urgent journal entry fan-out has looked ahead for (see <see cref="Delivery.FanoutWorker"/>).</summary>
    public long AheadPosition { get; init; }
}
