using ScimSync.Sync.Accounts;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Configuration;

/// <summary>The whole engine configuration: one source, many targets, and where the engine keeps its state.</summary>
public sealed record SyncConfig(
    string StateDirectory,
    SourceConfig Source,
    AccountKindRules Kinds,
    IReadOnlyList<TargetConfig> Targets)
{
    /// <summary>The key file sealing the state's secrets; null: <c>STATE_DIR.key</c>, beside the state directory.</summary>
    public string? KeyFile { get; init; }

    /// <summary>When a target needs a person's attention (<c>sync status</c>, the watch listener's readiness).</summary>
    public HealthConfig Health { get; init; } = HealthConfig.Default;

    /// <summary>How long the provisioning log keeps its entries.</summary>
    public LogConfig Log { get; init; } = LogConfig.Default;

    /// <summary>The operator console's people; null: no console (docs/console.md).</summary>
    public ConsoleConfig? Console { get; init; }
}

/// <summary>
/// The provisioning log's retention: entries older than <paramref name="Keep"/> are removed by the engine
/// (<see cref="Runs.LogRetention"/>), so the state does not grow without end; long enough by default for the
/// questions people ask of it ("who changed this last quarter?").
/// </summary>
public sealed record LogConfig(TimeSpan Keep)
{
    public static LogConfig Default { get; } = new(TimeSpan.FromDays(90));
}

/// <summary>
/// How long a condition may last before a target needs attention (<see cref="Runs.TargetAttention"/>): not
/// answering for <paramref name="UnreachableFor"/>, the guard holding removals for <paramref name="HeldFor"/>
/// (zero: as soon as it holds any), the oldest queued change waiting <paramref name="QueueAge"/>.
/// </summary>
public sealed record HealthConfig(TimeSpan UnreachableFor, TimeSpan HeldFor, TimeSpan QueueAge)
{
    public static HealthConfig Default { get; } = new(TimeSpan.FromMinutes(5), TimeSpan.Zero, TimeSpan.FromMinutes(15));
}

public enum SourceType { Scim, File }

/// <summary>How changes are learnt: the source's RFC 9967 feed by polling, or by periodic lastModified queries.</summary>
public enum FeedMode { Poll, LastModified }

public sealed record SourceConfig(
    SourceType Type,
    EndpointConfig? Endpoint,
    string? FilePath,
    FileFormat Format,
    FeedMode Feed,
    TimeSpan PollInterval,
    TimeSpan FullCompareInterval)
{
    /// <summary>
    /// <c>changes: { nats: URL, stream: NAME }</c>: the source's changes come from the JetStream stream its server
    /// relays the journal to (docs/nats.md) instead of its RFC 8936 feed; null: the feed <see cref="Feed"/> names.
    /// </summary>
    public StreamChangesConfig? Changes { get; init; }
}

/// <summary>A JetStream stream of the source's journal (<c>scimsync serve --nats</c>).</summary>
public sealed record StreamChangesConfig(string Url, string Stream, string SubjectPrefix);

public enum AuthType { Bearer, Basic, OAuth2 }

public sealed record AuthConfig(AuthType Type, string? Token, string? User, string? Password, Uri? TokenUrl, string? ClientId, string? ClientSecret, string? Scope);

/// <summary>
/// Operator limits on what the engine may ask of one endpoint, and on what it accepts from it: a target
/// that answers without end (endless pages, a huge or exploding body, a read that never finishes) costs
/// bounded memory, disk and time, and fails only its own work.
/// </summary>
/// <param name="MaxResponseMiB">Largest answer read, after decompression.</param>
/// <param name="MaxListResources">Most resources one listing may deliver.</param>
/// <param name="MaxListPages">Most pages one listing may take.</param>
/// <param name="ReadTimeout">Deadline for a full read of the endpoint.</param>
/// <param name="RunTimeout">Deadline for a whole plan, run or reconciliation of a target, its read included.</param>
public sealed record LimitsConfig(int? MaxPageSize, double? MaxRequestsPerSecond, int Concurrency,
    int MaxResponseMiB = 64, int MaxListResources = 5_000_000, int MaxListPages = 100_000,
    TimeSpan? ReadTimeout = null, TimeSpan? RunTimeout = null)
{
    public TimeSpan ReadDeadline => ReadTimeout ?? TimeSpan.FromMinutes(30);
    public TimeSpan RunDeadline => RunTimeout ?? TimeSpan.FromHours(4);
}

/// <summary>Per-target protocol choices for servers that do not behave like the RFC (or like ours).</summary>
/// <summary>How a member is removed from a group: by a filter path (RFC 7644), or Entra ID's way (a value list).</summary>
public enum MemberRemoval { Filter, ValueList }

/// <param name="MemberRemoval">
/// <c>valueList</c> sends <c>{"op":"remove","path":"members","value":[{"value":id}]}</c>, the form Entra ID
/// sends: applications built against Entra ID often support only that one.
/// </param>
public sealed record DialectConfig(bool UsePut, bool DisableBulk, bool DisableCursor, MemberRemoval MemberRemoval = MemberRemoval.Filter);

public sealed record EndpointConfig(Uri Url, AuthConfig? Auth, LimitsConfig Limits, DialectConfig Dialect);

/// <summary>Accounts on a target that the engine must never modify or delete.</summary>
public sealed record ProtectionRule(IReadOnlySet<AccountKind> Kinds, IReadOnlySet<string> UserNames);

public enum UnmatchedReaction { Report, Deactivate, Delete }
public enum UnlinkedReaction { Link, Report }
public enum DisputedReaction { Report }
public enum DeletedReaction { Recreate, Unlink }
public enum OutOfScopeReaction { Deactivate, Delete, Ignore }
public enum DriftReaction { Repair, Report }

/// <summary>
/// The reaction to each synchronization situation (midPoint's vocabulary, see <see cref="Situation"/>),
/// to accounts that leave scope, and to out-of-band drift found by reconciliation.
/// </summary>
public sealed record SyncPolicies(
    UnmatchedReaction Unmatched,
    UnlinkedReaction Unlinked,
    DisputedReaction Disputed,
    DeletedReaction Deleted,
    OutOfScopeReaction OutOfScope,
    DriftReaction Drift)
{
    public static SyncPolicies Default { get; } = new(UnmatchedReaction.Report, UnlinkedReaction.Link, DisputedReaction.Report,
        DeletedReaction.Recreate, OutOfScopeReaction.Deactivate, DriftReaction.Repair);
}

/// <summary>Which source groups a target receives (by displayName, or all), and how many members one PATCH carries.</summary>
/// <summary>What happens to a target's group when its source group is deleted.</summary>
public enum GroupDeletedReaction { Delete, Unlink }

/// <summary>
/// How a target receives source groups nested in other groups (<c>groups.nested</c>): <c>flatten</c> (the
/// default, what every SCIM target takes) sends each group with every user under it, directly or through
/// nesting, as a direct member; <c>accept</c> sends the structure, a nested group as a member of type Group.
/// </summary>
public enum NestedGroups { Flatten, Accept }

public sealed record GroupSyncConfig(bool All, IReadOnlySet<string> Names, int BatchSize, GroupDeletedReaction Deleted = GroupDeletedReaction.Delete)
{
    public static GroupSyncConfig None { get; } = new(false, new HashSet<string>(), 500);

    /// <summary>Whether nested groups go to the target as they are or flattened (docs/sync.md, "Nested groups").</summary>
    public NestedGroups Nested { get; init; } = NestedGroups.Flatten;

    public bool Includes(string displayName) => All || Names.Contains(displayName);
}

public sealed record TargetConfig(
    string Name,
    EndpointConfig Endpoint,
    ScopeRule Scope,
    IReadOnlyList<AttributeMapping> Mapping,
    IReadOnlyList<CorrelationKey> Correlation,
    ProtectionRule Protected,
    SyncPolicies Policies,
    GroupSyncConfig Groups,
    MassChangeGuard Guard)
{
    /// <summary>Whether passwords set at the source are set on this target too (docs/passwords.md); never by default.</summary>
    public PasswordPolicy Passwords { get; init; } = PasswordPolicy.Never;
}

/// <summary>
/// <c>sync</c>: a password set at the source is set on the target within a second, in the urgent lane, and
/// never stored by the engine; <c>never</c>: the target never receives one.
/// </summary>
public enum PasswordPolicy { Never, Sync }
