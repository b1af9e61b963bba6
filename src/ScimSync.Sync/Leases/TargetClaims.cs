using Microsoft.Extensions.Logging;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Leases;

/// <summary>
/// The targets a command (sync confirm, run, reconcile, plan on a shared state) holds for the time of its job, by the
/// leases the watching engines hold (<see cref="ITargetClaimStore"/>), so that the command and an engine never work on
/// one target at once:
/// <list type="bullet">
/// <item>A free target (no lease, or a lapsed one) is taken at once.</item>
/// <item>A target a live engine holds is skipped when the command may not wait; otherwise the command asks the owner
/// to hand it over and tries again every <see cref="RetryEvery"/> until the wait is over. The owner stops its work
/// on the target at its next heartbeat and only then releases the lease (TargetOwnership), and no engine takes a
/// target someone asked for, so the command gets it within about a second of the owner's operations in flight
/// ending.</item>
/// <item>While the command works, its leases are renewed every <see cref="TargetOwnership.RenewEvery"/>; when they
/// were not renewed for the lease term minus one interval (the database unreachable, the process paused), or one was
/// taken, <see cref="Lost"/> is cancelled before they can lapse: the command stops at once. A timer keeps that time,
/// not the renewal loop, which may itself be stuck in a database call that has not answered yet.</item>
/// <item>Disposed: every lease and request is released, and the engines take the targets back at their next
/// heartbeat, each with the full pass an engine makes on a target it takes.</item>
/// </list>
/// </summary>
public sealed class TargetClaims : IAsyncDisposable
{
    public static readonly TimeSpan RetryEvery = TimeSpan.FromMilliseconds(250);

    private readonly ITargetClaimStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stopRenewing = new();
    private readonly List<string> _held = [];
    private readonly Lock _gate = new();
    private readonly ITimer _watchdog;
    private DateTimeOffset _validUntil = DateTimeOffset.MaxValue;
    private Task _renewal = Task.CompletedTask;
    private int _isLost;

    private TargetClaims(ITargetClaimStore store, TimeProvider time, ILogger logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _watchdog = time.CreateTimer(_ => Watch(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Sets the time until which the leases surely hold, and the watchdog to it.</summary>
    private void ValidUntil(DateTimeOffset until)
    {
        lock (_gate) _validUntil = until;
        var left = until - _time.GetUtcNow();
        _watchdog.Change(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void Watch()
    {
        DateTimeOffset until;
        lock (_gate) until = _validUntil;
        // A renewal that moved the time on since the timer was set re-armed it; this is only for one that did not come.
        if (!_stopRenewing.IsCancellationRequested && _time.GetUtcNow() >= until) Lose("the leases were not renewed in time: the state database did not answer");
    }

    public string Holder => _store.Holder;

    /// <summary>The targets held, in the order asked for.</summary>
    public IReadOnlyList<string> Held
    {
        get
        {
            lock (_gate) return [.. _held];
        }
    }

    /// <summary>The targets not held, each with who holds it (a live engine, or another command).</summary>
    public IReadOnlyDictionary<string, string> Skipped { get; private set; } = new Dictionary<string, string>();

    /// <summary>The held targets a live owner handed over on request, each with that owner.</summary>
    public IReadOnlyDictionary<string, string> HandedOver { get; private set; } = new Dictionary<string, string>();

    /// <summary>Cancelled when the leases may no longer be relied on: stop at once.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Why <see cref="Lost"/> was cancelled.</summary>
    public string? LostReason { get; private set; }

    public bool Holds(string target)
    {
        lock (_gate) return _held.Contains(target, StringComparer.Ordinal);
    }

    /// <param name="wait">How long to wait for a target a live owner holds (asking it to hand the target over); zero: skip it.</param>
    public static async Task<TargetClaims> AcquireAsync(ITargetClaimStore store, IReadOnlyList<string> targets, TimeSpan wait, TimeProvider time, ILogger logger, CancellationToken ct)
    {
        var claims = new TargetClaims(store, time, logger);
        claims._renewal = claims.RenewWhileHeldAsync();
        try
        {
            await claims.TakeAsync(targets, wait, ct).ConfigureAwait(false);
        }
        catch
        {
            await claims.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return claims;
    }

    private async Task TakeAsync(IReadOnlyList<string> targets, TimeSpan wait, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + wait;
        var pending = targets.ToList();
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        var handedOver = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            foreach (var target in pending.ToArray())
            {
                var asked = _time.GetUtcNow();
                if (await _store.TryClaimAsync(target, request: wait > TimeSpan.Zero, ct).ConfigureAwait(false) is { } owner)
                {
                    owners[target] = owner;
                    continue;
                }
                bool first;
                lock (_gate)
                {
                    first = _held.Count == 0;
                    _held.Add(target);
                }
                // The leases held before were renewed no later than this one was taken: they bound the validity.
                if (first) ValidUntil(TargetOwnership.TrustedUntil(asked, _store.Term));
                pending.Remove(target);
                if (owners.TryGetValue(target, out var previous)) handedOver[target] = previous;
                SyncLog.ClaimTaken(_logger, target, _store.Holder, previous ?? "nobody");
            }
            if (pending.Count == 0 || _time.GetUtcNow() >= deadline) break;
            await Task.Delay(RetryEvery, _time, ct).ConfigureAwait(false);
        }
        if (pending.Count > 0 && wait > TimeSpan.Zero) await _store.WithdrawRequestsAsync(ct).ConfigureAwait(false);
        Skipped = pending.ToDictionary(t => t, t => owners[t], StringComparer.Ordinal);
        HandedOver = handedOver;
    }

    private async Task RenewWhileHeldAsync()
    {
        var ct = _stopRenewing.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TargetOwnership.RenewEvery, _time, ct).ConfigureAwait(false);
                string[] held;
                lock (_gate) held = [.. _held];
                if (held.Length == 0) continue;
                var asked = _time.GetUtcNow();
                string? problem = null;
                try
                {
                    var renewed = (await _store.RenewAsync(ct).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
                    if (held.FirstOrDefault(t => !renewed.Contains(t)) is { } gone)
                    {
                        Lose($"the lease on {gone} is no longer this command's");
                        return;
                    }
                    ValidUntil(TargetOwnership.TrustedUntil(asked, _store.Term));
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is SyncStateUnavailableException or TimeoutException or IOException)
                {
                    problem = e.Message;
                    SyncLog.LeaseRenewFailed(_logger, _store.Holder, e.Message);
                }
                DateTimeOffset validUntil;
                lock (_gate) validUntil = _validUntil;
                // Not sure to outlive the next interval: stop now, a whole interval before anyone else may take them.
                if (_time.GetUtcNow() >= validUntil)
                {
                    Lose($"the leases were not renewed in time{(problem is null ? "" : ": " + problem)}");
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void Lose(string reason)
    {
        if (Interlocked.Exchange(ref _isLost, 1) == 1) return;
        LostReason = reason;
        SyncLog.ClaimLost(_logger, _store.Holder, reason);
        _lost.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopRenewing.CancelAsync().ConfigureAwait(false);
        await _renewal.ConfigureAwait(false);
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _store.ReleaseAllAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SyncStateUnavailableException or TimeoutException or IOException)
        {
            // They lapse by themselves within the term.
            SyncLog.LeaseRenewFailed(_logger, _store.Holder, e.Message);
        }
        _stopRenewing.Dispose();
        _lost.Dispose();
    }
}
