namespace ScimSync.Sync.Leases;

/// <summary>
/// How a command that is not a watching engine (sync confirm, run, reconcile, plan on a shared state) gets targets for
/// the time of its job: the same leases the engines hold (<see cref="ITargetLeaseStore"/>), so that it and an engine
/// never work on one target at once. A command counts as no engine (it writes no heartbeat, so the engines' shares do
/// not change); it takes a target that is free, or asks its owner to hand it over and waits (<see cref="TargetClaims"/>).
/// Implemented beside the shared state (PostgresTargetClaims).
/// </summary>
public interface ITargetClaimStore
{
    /// <summary>This command as owners are shown (`sync status`), e.g. <c>sync confirm@HOST:PID</c>.</summary>
    string Holder { get; }

    /// <summary>How long a lease lasts unrenewed, as the engines' (<see cref="ITargetLeaseStore.Term"/>).</summary>
    TimeSpan Term { get; }

    /// <summary>
    /// One attempt, as one transaction: takes the target if nobody holds it (no lease, or a lapsed one), and then drops
    /// this holder's request for it. Otherwise, with <paramref name="request"/>, records (or renews for one term) a
    /// request that its owner hand it over.
    /// </summary>
    /// <returns>Null when this holder has the target now; else who holds it.</returns>
    Task<string?> TryClaimAsync(string target, bool request, CancellationToken ct);

    /// <summary>Renews this holder's leases for one term; returns the targets renewed (one missing was lost).</summary>
    Task<IReadOnlyList<string>> RenewAsync(CancellationToken ct);

    /// <summary>Drops this holder's requests (it waits no longer): the targets it asked for may be taken by engines again.</summary>
    Task WithdrawRequestsAsync(CancellationToken ct);

    /// <summary>Drops every lease and request of this holder: the engines take the targets at their next heartbeat.</summary>
    Task ReleaseAllAsync(CancellationToken ct);
}
