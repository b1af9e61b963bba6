namespace ScimSync.Sync.Leases;

/// <summary>
/// Where engine processes sharing one state agree who works on which target: one owner per target at a time, by
/// leases that the owner renews and that lapse when it stops renewing (killed, cut off). Implemented beside the
/// shared state (PostgresTargetLeases); <see cref="TargetOwnership"/> is what the engine does with it.
/// </summary>
public interface ITargetLeaseStore
{
    /// <summary>This process's name among the engines (<c>sync watch --instance</c>), as owners are shown.</summary>
    string Instance { get; }

    /// <summary>How long a lease lasts unrenewed: a dead owner's targets are free this long after its last renewal.</summary>
    TimeSpan Term { get; }

    /// <summary>
    /// One heartbeat, as one transaction: marks this process alive, renews the leases it holds, and takes free or
    /// lapsed targets of <paramref name="targets"/> until it holds its share: ceil(targets / live engines). A target
    /// another process asked to be handed over is not taken, and is named in <see cref="LeaseRound.Requested"/> when held.
    /// </summary>
    Task<LeaseRound> RenewAsync(IReadOnlyList<string> targets, CancellationToken ct);

    /// <summary>Gives up one target (its work has stopped): another engine may take it at once.</summary>
    Task ReleaseAsync(string target, CancellationToken ct);

    /// <summary>A clean stop: every lease of this process, and its heartbeat, go.</summary>
    Task ReleaseAllAsync(CancellationToken ct);

    /// <summary>Every target's lease as the store holds it now (what `sync status` shows), lapsed ones included.</summary>
    IReadOnlyList<TargetLease> Leases();
}

/// <summary>What one heartbeat left this process holding, and the share it may hold while this many engines live.</summary>
/// <param name="Requested">Of <paramref name="Held"/>, the targets a command asked to be handed over (<see cref="ITargetClaimStore"/>): the engine stops its work on them, then releases them.</param>
public sealed record LeaseRound(IReadOnlyList<string> Held, int Share, int LiveEngines, IReadOnlyList<string>? Requested = null);

/// <summary>A target's owner, and until when the lease holds unless renewed.</summary>
public sealed record TargetLease(string Target, string Owner, DateTimeOffset Expires);
