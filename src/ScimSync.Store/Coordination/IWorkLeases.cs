namespace ScimSync.Store.Coordination;

/// <summary>
/// Work that must run on one server instance at a time: fan-out, push delivery and journal compaction. A store
/// shared by several instances (PostgreSQL) holds the lease in the database, so that when the holder dies another
/// instance takes over; a store of one process (SQLite) holds it trivially (<see cref="LocalWorkLeases"/>).
/// </summary>
/// <remarks>
/// A lease is an optimisation of who works, never what keeps data correct: the feed's writes are
/// compare-and-set or row-locked (IFeedStore), so an old holder finishing a round after losing its lease
/// neither loses nor duplicates an event.
/// </remarks>
public interface IWorkLeases
{
    /// <summary>Waits until this instance holds the lease called <paramref name="name"/>.</summary>
    Task<IWorkLease> AcquireAsync(string name, CancellationToken ct);
}

/// <summary>A held lease. Disposing releases it.</summary>
public interface IWorkLease : IAsyncDisposable
{
    /// <summary>Cancelled when the lease is lost (its database session died): stop the work, then acquire again.</summary>
    CancellationToken Lost { get; }
}

/// <summary>Leases of a store that only one process uses: always granted at once, never lost.</summary>
public sealed class LocalWorkLeases : IWorkLeases, IWorkLease
{
    public static readonly LocalWorkLeases Instance = new();

    public CancellationToken Lost => CancellationToken.None;

    public Task<IWorkLease> AcquireAsync(string name, CancellationToken ct) => Task.FromResult<IWorkLease>(this);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
