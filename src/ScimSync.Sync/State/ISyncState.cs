using System.Text.Json.Nodes;
using ScimSync.Sync.Planning;

namespace ScimSync.Sync.State;

/// <summary>
/// The engine's durable state: the shadow of every target (its accounts and groups as last seen, with the
/// target's ids), the links from target accounts to source accounts, the per-target queue of keys to resync and
/// the removals the guard holds, checkpoints, the provisioning log, and the engine's sealed secrets.
/// </summary>
/// <remarks>
/// Reads see every write whose task has completed. Writes go through a unit of work (<see cref="Batch"/>,
/// <see cref="WriteAsync"/>): everything one piece of work writes commits together or not at all, so an
/// operation's shadow, link, audit entry and queue removal are never seen apart, and a crash leaves the state as
/// before the work. Implementations are safe for concurrent callers; several engine processes may share one state
/// when the implementation says so (the SQLite one allows one engine and any number of readers).
/// Failures to reach or read the state surface as <see cref="SyncStateUnavailableException"/>.
/// </remarks>
public interface ISyncState : IShadowReads, IWorkQueue, IProvisioningLog, ICheckpoints, IStateSecrets, IDisposable
{
    /// <summary>Runs <paramref name="work"/> as one unit of work, now, on the caller's thread.</summary>
    void Batch(Action<IStateWriter> work);

    /// <summary>
    /// Queues <paramref name="work"/> as one unit of work; the task completes once it has committed (or faults
    /// with what it threw, alone: other work committed with it is not affected). Many small writes of
    /// concurrent operations are cheap this way, and callers never block a thread on the state.
    /// </summary>
    Task WriteAsync(Action<IStateWriter> work);
}

/// <summary>The shadows of the targets and the links from their accounts and groups to the source's.</summary>
public interface IShadowReads
{
    /// <summary>Everything the engine knows about a target, for planning without calling it (without the accounts' meta).</summary>
    TargetState LoadState(string target);

    /// <summary>
    /// The part of a target's state that concerns some source accounts: their linked accounts, and unlinked
    /// accounts that share a user name (case-insensitive) or externalId with them (so incremental work never
    /// creates a duplicate), with the owners of those, and the whole target's managed count.
    /// </summary>
    TargetState LoadStateFor(string target, IReadOnlyCollection<string> sourceIds, IReadOnlyCollection<string> userNames, IReadOnlyCollection<string> externalIds);

    /// <summary>The target account linked to a source account, if any.</summary>
    string? TargetIdOf(string target, string sourceId);

    /// <summary>The source account a target account is linked to, if any.</summary>
    string? OwnerOf(string target, string targetId);

    /// <summary>Ids and user names of a target's cached accounts (what reconciliation compares a fresh read with).</summary>
    IReadOnlyDictionary<string, string> AccountNames(string target);

    /// <summary>The source accounts that own an account on the target.</summary>
    HashSet<string> LinkedSources(string target);

    /// <summary>Every link of a target, by source id: which account each source person has there.</summary>
    IReadOnlyDictionary<string, string> LinksBySource(string target);

    /// <summary>Whether any target holds an account linked to this source id (a person deleted at the source still has these).</summary>
    bool IsLinkedAnywhere(string sourceId);

    /// <summary>
    /// The source's group memberships as of the work the engine last queued or did: a resumed engine
    /// compares them with a fresh read, since replayed group events find its copy already up to date and
    /// could not tell who joined or left. A nested group is held as its queue key, <c>group:ID</c> (<see cref="Sources.SourceGroup.Baseline"/>).
    /// </summary>
    Dictionary<string, HashSet<string>> SourceGroupMembers();

    (int Accounts, int Links, int Groups, int Pending) Counts(string target);

    /// <summary>Managed accounts and groups on the whole target: the links in the shadow.</summary>
    (int Accounts, int Groups) ManagedCounts(string target);

    TargetReadRecord? LastRead(string target);

    /// <summary>The account as the engine last wrote or accepted it (the drift baseline, without meta), or null when it never did.</summary>
    byte[]? SyncedJson(string target, string targetId);

    ShadowAccount? Account(string target, string targetId);

    /// <summary>The account as the shadow last saw it, or null: the "before" of an operation's changes.</summary>
    JsonObject? AccountData(string target, string targetId);

    /// <summary>Target accounts with this userName (case-insensitive), linked or not.</summary>
    IReadOnlyList<string> AccountsNamed(string target, string userName);

    /// <summary>The groups on the target that hold this account, by display name.</summary>
    IReadOnlyList<ShadowMembership> GroupsOf(string target, string targetId);

    /// <summary>A page of a target's accounts matching <paramref name="search"/>, in userName order, from indexes (<see cref="ShadowSearch"/>).</summary>
    ShadowPage SearchAccounts(ShadowSearch search);
}

/// <summary>Per target: the keys queued for resync, and the removals the mass-change guard holds.</summary>
public interface IWorkQueue
{
    /// <summary>
    /// The next queued keys, urgent first, then oldest first. <c>Changes</c> counts the changes queued for
    /// the key so far: dequeueing with it leaves the entry in place when another change arrived meanwhile.
    /// </summary>
    IReadOnlyList<PendingChange> Pending(string target, int max, bool urgentOnly = false);

    /// <summary>Source accounts queued as urgent for a target that have an account there (the removals that may be coming).</summary>
    IReadOnlyList<string> PendingUrgentLinked(string target);

    /// <summary>The queue entry of one key on a target, if it is queued.</summary>
    QueuedKey? Queued(string target, string key);

    /// <summary>
    /// What health and metrics ask about a target many times a minute, in one cheap read: queued keys and when
    /// the oldest of them was first queued, held removals and since when.
    /// </summary>
    QueueSummary Summary(string target);

    /// <summary>The removals held on a target, oldest first.</summary>
    IReadOnlyList<HeldOperation> Holds(string target);

    int HeldCount(string target);

    /// <summary>The removal the guard holds for one key on a target, if any.</summary>
    HeldOperation? Held(string target, string key);
}

/// <summary>The provisioning log: every operation the engine did, read back by person, target, result and time.</summary>
public interface IProvisioningLog
{
    /// <summary>The newest <paramref name="max"/> entries (of one target, or all), oldest first.</summary>
    IReadOnlyList<AuditRecord> Audit(int max, string? target = null);

    /// <summary>
    /// The entries matching <paramref name="query"/>, newest first. A person's entries are found by source id and
    /// by userName, and through the source ids of the entries that name them, so that what was recorded under an
    /// earlier userName, or without one (an unlink), is found too. Answered from indexes however long the log grows.
    /// </summary>
    IReadOnlyList<AuditRecord> Log(AuditQuery query);

    /// <summary>
    /// Removes at most <paramref name="max"/> of the oldest entries written before <paramref name="before"/>, as one
    /// unit of work, and returns how many it removed: retention works in bounded steps, never holding the state
    /// for long (<see cref="Runs.LogRetention"/>).
    /// </summary>
    int PruneLog(DateTimeOffset before, int max);

    /// <summary>
    /// How many operations on a target the log holds since <paramref name="since"/>, by result, without reading them
    /// (the console's operations per minute); decisions people made (<c>decision</c> entries) are not operations.
    /// </summary>
    IReadOnlyDictionary<string, int> OperationCounts(string target, DateTimeOffset since);
}

/// <summary>Named positions and facts the engine resumes from (feed position, last complete run, outages).</summary>
public interface ICheckpoints
{
    string? GetCheckpoint(string key);

    /// <summary>Sets (or, with null, removes) one checkpoint as a unit of work of its own.</summary>
    void SetCheckpoint(string key, string? value);
}

/// <summary>
/// The engine's secrets (DESIGN.md invariant 9): the HS256 key of its feed subscription on the source, sealed with
/// the key file that lives apart from the state. Nothing else in the state is a secret: the targets' credentials
/// stay in the configuration (from the environment).
/// </summary>
public interface IStateSecrets
{
    /// <summary>A secret kept with <see cref="IStateWriter.SetSecret"/>, opened; null when none is kept.</summary>
    string? GetSecret(string key);

    /// <summary>
    /// Key rotation: re-seals every secret with the key ring's current key in one unit of work, leaving no copy
    /// sealed with the old key behind. Needs the state opened exclusively. Returns the count.
    /// </summary>
    int ResealSecrets();
}
