using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Coordination;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Passwords;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Tokens;

namespace ScimSync.Store;

/// <summary>
/// The storage port. Everything above it is database-agnostic; an implementation must pass the same
/// test suite (see tests/ScimSync.Server.Tests). Reads may run concurrently; writes go through a
/// <see cref="IWriteSession"/>, atomic and durable when committed.
/// </summary>
public interface IResourceStore : IAsyncDisposable
{
    Task InitializeAsync(CancellationToken ct);

    Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct);

    /// <summary>
    /// Runs a list or search. Cancelling <paramref name="ct"/> stops the query while it runs (not only
    /// before it starts) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    Task<QueryPage> QueryAsync(ResourceQuery query, CancellationToken ct);

    /// <summary>What <see cref="QueryAsync"/> would cost for this query, without running it.</summary>
    QueryCost Cost(ResourceQuery query);

    Task<IWriteSession> BeginWriteAsync(CancellationToken ct);

    /// <summary>
    /// Journal entries after <paramref name="afterPosition"/>, in position order. A reader never sees an
    /// entry while an earlier position is still uncommitted.
    /// </summary>
    Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(long afterPosition, int limit, CancellationToken ct);

    /// <summary>
    /// Urgent entries (<see cref="JournalUrgency"/>, recorded when appended) after <paramref name="afterPosition"/>,
    /// in position order, found without reading the entries between them. Markers only: the caller reads the
    /// entries it needs with <see cref="ReadResourceJournalAsync"/>.
    /// </summary>
    Task<IReadOnlyList<JournalMarker>> ReadUrgentJournalAsync(long afterPosition, int limit, CancellationToken ct);

    /// <summary>
    /// The entries of one resource with positions in (<paramref name="afterPosition"/>, <paramref name="throughPosition"/>],
    /// in position order.
    /// </summary>
    Task<IReadOnlyList<JournalEntry>> ReadResourceJournalAsync(string resourceId, long afterPosition, long throughPosition, int limit, CancellationToken ct);

    /// <summary>
    /// Deletes journal entries at or below <paramref name="throughPosition"/> written before
    /// <paramref name="olderThan"/>; returns the floor afterwards (every entry at or below it is gone).
    /// </summary>
    Task<long> CompactJournalAsync(long throughPosition, DateTimeOffset olderThan, CancellationToken ct);

    /// <summary>The highest position compaction has removed (0 when nothing was).</summary>
    Task<long> JournalFloorAsync(CancellationToken ct);

    ITokenStore Tokens { get; }

    IFeedStore Feed { get; }

    /// <summary>Sealed passwords waiting for the subscriptions with the right to them (docs/passwords.md).</summary>
    IPasswordDeliveries Passwords { get; }

    /// <summary>
    /// Leases for work that runs on one instance at a time. A store of one process grants them at once (the
    /// default); a store several instances share holds them in the database.
    /// </summary>
    IWorkLeases Leases => LocalWorkLeases.Instance;

    /// <summary>
    /// A secret every instance sharing this store must agree on (the cursor key), created from
    /// <paramref name="create"/> by the first instance that asks and kept sealed in the store; null when the store is
    /// one process's own and the secret lives beside it in the data directory (the default).
    /// </summary>
    Task<byte[]?> SharedSecretAsync(string name, Func<byte[]> create, CancellationToken ct) => Task.FromResult<byte[]?>(null);

    /// <summary>Facts for operators: file size, row counts.</summary>
    Task<IReadOnlyDictionary<string, object>> DescribeAsync(CancellationToken ct);

    /// <summary>A cheap read that throws when the store cannot answer: the server's readiness asks it.</summary>
    Task ProbeAsync(CancellationToken ct);
}

/// <summary>
/// One request's writes, atomic: nothing is visible to other readers until <see cref="CommitAsync"/>, which
/// returns only once the writes are durable (an implementation may commit several sessions together, as the
/// SQLite store does); disposing without committing undoes this session's writes and no one else's.
/// Uniqueness violations surface as ScimException 409 uniqueness.
/// </summary>
public interface IWriteSession : IAsyncDisposable
{
    Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct);

    /// <summary>
    /// The resource type name of each of <paramref name="ids"/> that exists (absent: no resource has it), in as few
    /// round trips as the store can: a group's members are checked together, not one statement each. A store that
    /// locks rows keeps these from being deleted until the commit: a member named now still exists when it commits.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> FindResourceTypesAsync(IReadOnlyCollection<string> ids, CancellationToken ct);

    /// <summary>Whether another resource of the type already holds <paramref name="value"/> for a uniqueness=server attribute.</summary>
    Task<bool> ValueTakenAsync(ResourceTypeDefinition rt, ResolvedAttribute attribute, string value, string? exceptId, CancellationToken ct);

    /// <summary>
    /// Inserts a resource. A store may send the row with the commit: a conflict (a taken userName, 409) is then
    /// reported by <see cref="CommitAsync"/> (or by the statement sent next), and the resource returned has
    /// <see cref="StoredResource.Seq"/> 0: the session finds its row by id when it is written again.
    /// </summary>
    Task<StoredResource> InsertAsync(ResourceTypeDefinition rt, string id, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Replaces the data (and, when given, the whole member list or the password hash) and moves the
    /// version on. <paramref name="passwordHash"/> null keeps the current one. As with an insert, a store may send it
    /// with the commit, which then reports a conflict.
    /// </summary>
    Task<StoredResource> UpdateAsync(StoredResource existing, JsonObject data, IReadOnlyList<MemberRef>? members, string? passwordHash, DateTimeOffset now, CancellationToken ct);

    /// <summary>Adds members that are not already present; returns how many were added. Does not move the version.</summary>
    Task<int> AddMembersAsync(StoredResource group, IReadOnlyList<MemberRef> members, CancellationToken ct);

    /// <summary>Removes the given member ids; returns how many were removed. Does not move the version.</summary>
    Task<int> RemoveMembersAsync(StoredResource group, IReadOnlyCollection<string> memberIds, CancellationToken ct);

    /// <summary>Removes every member; returns how many were removed.</summary>
    Task<int> ClearMembersAsync(StoredResource group, CancellationToken ct);

    /// <summary>
    /// Deletes the resource and its memberships; groups that lose a member get a new version. Returns
    /// those groups with their new versions.
    /// </summary>
    Task<IReadOnlyList<(string Id, long Version)>> DeleteAsync(StoredResource existing, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Appends a journal entry in this transaction. Its position is given at the latest by the commit (PostgreSQL
    /// makes it from the transaction's id there), so it is not returned.
    /// </summary>
    Task AppendJournalAsync(JournalAppend entry, CancellationToken ct);

    /// <summary>Queues sealed passwords for their subscriptions, in this session's transaction (with the write that set them).</summary>
    Task AddPendingPasswordsAsync(IReadOnlyList<PendingPassword> passwords, CancellationToken ct);

    /// <summary>Commits, durably, or throws and writes nothing (a conflict of a write sent with the commit is a 409).</summary>
    Task CommitAsync(CancellationToken ct);
}
