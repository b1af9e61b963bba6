using ScimSync.Sync.Lanes;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// The commands that answer an operator's question about one person or one target, beside the full runs:
/// provisioning one person now (<c>sync run --user</c>), releasing one target's held removals
/// (<c>sync confirm</c>), and why each account is in scope (<c>sync plan --explain</c>).
/// </summary>
public sealed partial class SyncEngine
{
    public IReadOnlyList<string> TargetNames => _targets.Select(t => t.Config.Name).ToArray();

    /// <summary>The attributes whose values are never shown for <paramref name="target"/>: its mapping's secrets, and passwords.</summary>
    public Mapping.SecretAttributes SecretsOf(string target) => Mapping.SecretAttributes.From(Slot(target).Config.Mapping);

    private TargetSlot Slot(string target) =>
        _lanes.Find(target)
        ?? throw new ArgumentException($"no target is named \"{target}\"; the targets are {string.Join(", ", TargetNames)}", nameof(target));

    /// <summary>
    /// Whether this engine (or command) may write to <paramref name="target"/> now: always with a state of its own; on a
    /// shared state, while it holds the target's lease.
    /// </summary>
    public bool Holds(string target) => Works(Slot(target));

    /// <summary>
    /// A target a person's decision is about to write to. On a shared state another engine or a command may hold it,
    /// and two writers on one target is what the leases exist to prevent, so the decision is refused there.
    /// </summary>
    /// <exception cref="TargetNotHeldException">Someone else holds the target's lease.</exception>
    private TargetSlot HeldSlot(string target)
    {
        var t = Slot(target);
        return Works(t) ? t : throw new TargetNotHeldException(t.Config.Name);
    }

    /// <summary>
    /// Provisions one person now on every target (or on <paramref name="target"/>) and returns each step
    /// (<see cref="ProvisionOnDemand"/>); nobody else is touched.
    /// </summary>
    /// <param name="who">The person's userName, id or externalId at the source.</param>
    /// <exception cref="PersonNotFoundException">Nobody, or several people, at the source go by that name.</exception>
    /// <param name="revertDrift">Also put back what was changed at the target out of band, whatever the target's drift policy (a person's decision).</param>
    public Task<DemandReport> ProvisionAsync(string who, string? target, CancellationToken ct, bool revertDrift = false)
    {
        var targets = target is null ? _targets.Where(Works).ToArray() : [HeldSlot(target)];
        return new ProvisionOnDemand(_config, _shadows, _time, _watchGuard, _telemetry, _loggers, _handlers, _stopping.Token, revertDrift).RunAsync(who, targets, ct);
    }

    /// <summary>
    /// The first half of <c>sync confirm</c>: which held removals on the target will be applied. The source is
    /// read (the target is not: its shadow is what the held plan was made from), and the target is planned as a
    /// full run would plan it, with the same rules after a read (an incomplete last read withholds what it
    /// withholds, drift is left alone under <c>drift: report</c>); of that plan, the removals held are kept.
    /// </summary>
    public async Task<HoldRelease> PlanReleaseAsync(string target, IProgress<Execution.SyncProgress>? progress, CancellationToken ct)
    {
        var t = Slot(target);
        var name = t.Config.Name;
        var held = _shadows.Holds(name);
        if (held.Count == 0) return new HoldRelease(name, [], [], []);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var snapshot = await ReadSourceAsync(progress, reading.Token).ConfigureAwait(false);
        var state = _shadows.LoadState(name).WithAcceptedDrift(_shadows, name);
        var plan = t.Planner.Plan(snapshot, state, _time.GetUtcNow());
        var drift = DriftDetector.Compare(name, state, state, t.Planner.ManagedAttributes);
        plan = TargetPass.AfterRead(t.Config, plan, drift, _shadows.LastRead(name) is { Complete: false } read ? [read.Problems ?? "the last read was incomplete"] : null);
        var heldKeys = held.Select(h => h.Key).ToHashSet(StringComparer.Ordinal);
        var release = plan.Operations.Where(o => o.TakesAccessAway && heldKeys.Contains(WatchGuard.KeyOf(o))).ToArray();
        var asked = release.Select(WatchGuard.KeyOf).ToHashSet(StringComparer.Ordinal);
        return new HoldRelease(name, held, release, held.Where(h => !asked.Contains(h.Key)).ToArray())
        {
            Plan = plan with { Operations = release, GuardMessage = null },
        };
    }

    /// <summary>
    /// The second half of <c>sync confirm</c>: applies exactly <see cref="HoldRelease.Release"/> on its target,
    /// nothing else and nowhere else, and releases the holds of what was applied and of what the source no
    /// longer asks for. A removal that failed stays held, to be confirmed again.
    /// </summary>
    public async Task<ConfirmReport> ConfirmAsync(HoldRelease release, IProgress<Execution.SyncProgress>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(release);
        var t = HeldSlot(release.Target);
        var name = t.Config.Name;
        Execution.ExecutionReport? report = null;
        var applied = new List<ReleasedOperation>();
        if (release.Plan is { Operations.Count: > 0 } plan)
        {
            var cause = "confirm:" + _time.GetUtcNow().ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture);
            report = await t.ExecuteExclusiveAsync(plan, cause, progress, ct).ConfigureAwait(false);
            foreach (var op in release.Release)
            {
                // The executor names failed operations by their key (and, for those without a source, at the start of the error).
                var error = report.Errors.FirstOrDefault(e => e.StartsWith(op + ":", StringComparison.Ordinal));
                var failed = error is not null || report.FailedSources.Contains(WatchGuard.KeyOf(op));
                applied.Add(!failed ? new ReleasedOperation(op, "ok", null)
                    : error is not null ? new ReleasedOperation(op, "failed", error[(op.ToString().Length + 1)..].Trim())
                    : new ReleasedOperation(op, "not started", report.Stopped > 0 ? "stopped on request" : "not tried: the target stopped answering"));
            }
        }
        var released = applied.Where(a => a.Result == "ok").Select(a => WatchGuard.KeyOf(a.Operation)).Concat(release.NoLongerAsked.Select(h => h.Key)).ToArray();
        _shadows.Batch(w => { foreach (var key in released) w.ReleaseHold(name, key); });
        if (released.Length > 0) SyncLog.HoldsReleased(_log, name, released.Length, "confirmed by a person (sync confirm)");
        return new ConfirmReport(release, applied, _shadows.Holds(name), report);
    }

    /// <summary>
    /// After <see cref="PlanAsync"/>: for every target, each in-scope source account with the rule that put it
    /// in scope, and each account linked there that is out of scope with the rule that keeps it out.
    /// </summary>
    public IReadOnlyList<TargetScope> ExplainScope()
    {
        var snapshot = Snapshot;
        return _targets.Where(Works).Select(t =>
        {
            var name = t.Config.Name;
            var links = _shadows.LinksBySource(name);
            var verdicts = new List<ScopeVerdict>();
            foreach (var account in snapshot.Users.Values)
            {
                var decision = t.Planner.Scope.Decide(account, null, snapshot);
                var linked = links.GetValueOrDefault(account.Id);
                if (decision.InScope || linked is not null) verdicts.Add(new ScopeVerdict(account.Id, account.UserName, decision, linked));
            }
            var names = _shadows.AccountNames(name);
            foreach (var (sourceId, targetId) in links)
                if (!snapshot.Users.ContainsKey(sourceId))
                    verdicts.Add(new ScopeVerdict(sourceId, names.GetValueOrDefault(targetId) ?? sourceId, ScopeDecision.NotAtSource, targetId));
            return new TargetScope(name, verdicts.OrderBy(v => !v.Decision.InScope).ThenBy(v => v.UserName, StringComparer.Ordinal).ToArray());
        }).ToArray();
    }
}
