using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Reconciliation;

public enum DriftKind { Edited, Created, Deleted, Reactivated, Deactivated }

/// <summary>One change made directly in an application, found by comparing it with the engine's shadow.</summary>
public sealed record DriftItem(string Target, DriftKind Kind, string TargetId, string UserName, string? SourceId, IReadOnlyList<string> Attributes);

public sealed record TargetReconcile(
    string Target,
    int Accounts,
    IReadOnlyList<DriftItem> Drift,
    SyncPlan Plan,
    bool Repaired,
    string? Error,
    Execution.ExecutionReport? Execution,
    string? Incomplete = null,
    bool HeldByGuard = false,
    bool Stopped = false)
{
    /// <summary>It could not be read, its read did not add up, or a repair failed.</summary>
    public bool Failed => Error is not null || Incomplete is not null || (Execution?.Failed ?? 0) > 0;
}

/// <summary>What reconciliation found on every target, and what it did about it (readable by people and machines).</summary>
public sealed record ReconcileReport(DateTimeOffset Started, TimeSpan Elapsed, IReadOnlyList<TargetReconcile> Targets)
{
    public bool Stopped => Targets.Any(t => t.Stopped || (t.Execution?.Stopped ?? 0) > 0);

    public RunOutcome Outcome => RunOutcomes.Of(Targets.Any(t => t.HeldByGuard), Targets.Any(t => t.Failed), Targets.Sum(t => t.Execution?.Succeeded ?? 0));
}

/// <summary>
/// Out-of-band changes: the target as just read, compared with what the engine last wrote or accepted
/// (the shadow's synced copy), so an edit stays reported until it is repaired. Only managed attributes
/// count as edits: a target's own bookkeeping is not drift. Accounts that appeared since the previous
/// read without the engine creating them are reported as created.
/// </summary>
public static class DriftDetector
{
    public static IReadOnlyList<DriftItem> Compare(string target, TargetState before, TargetState after, IReadOnlyList<Mapping.MappedPath> managed) =>
        Compare(target, before.Accounts.ToDictionary(a => a.Id, a => a.UserName, StringComparer.Ordinal), after, managed);

    /// <summary>
    /// A target whose drift policy is "report": the plan without the operations that would undo the
    /// out-of-band changes found (an edit, a deactivation or reactivation, a deletion), each named in a
    /// finding instead. Everything else (new hires, leavers, other accounts' updates) still happens.
    /// </summary>
    /// <param name="because">Why the drift stays, for the findings.</param>
    public static SyncPlan LeaveDriftAlone(SyncPlan plan, IReadOnlyList<DriftItem> drift, string because = "drift: report")
    {
        if (drift.Count == 0) return plan;
        var changed = drift.Where(d => d.Kind is DriftKind.Edited or DriftKind.Deactivated or DriftKind.Reactivated).Select(d => d.TargetId).ToHashSet(StringComparer.Ordinal);
        var reactivated = drift.Where(d => d.Kind == DriftKind.Reactivated).Select(d => d.TargetId).ToHashSet(StringComparer.Ordinal);
        var deleted = drift.Where(d => d.Kind == DriftKind.Deleted).ToArray();
        var deletedTargets = deleted.Select(d => d.TargetId).ToHashSet(StringComparer.Ordinal);
        var deletedSources = deleted.Select(d => d.SourceId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var kept = new List<PlannedOperation>();
        var findings = plan.Findings.ToList();
        foreach (var op in plan.Operations)
        {
            var undoes = op switch
            {
                // Taking access away is never held back because someone edited the account in the application
                // (a leaver whose title was changed there must still go); only undoing a reactivation is.
                UpdateAccount u => u.Deactivates ? reactivated.Contains(u.TargetId) : changed.Contains(u.TargetId),
                DeactivateAccount d => reactivated.Contains(d.TargetId),
                DeleteAccount d => reactivated.Contains(d.TargetId),
                UnlinkAccount u => deletedTargets.Contains(u.TargetId),
                CreateAccount c => deletedSources.Contains(c.SourceId),
                _ => false,
            };
            if (!undoes) kept.Add(op);
            else findings.Add(new Finding(plan.Target, null, op is CreateAccount ? "" : TargetIdOf(op), op.Subject, $"out-of-band change left in place ({because}); not applied: {op.Verb}"));
        }
        return plan with { Operations = kept, Findings = findings };

        static string TargetIdOf(PlannedOperation op) => op switch
        {
            UpdateAccount u => u.TargetId,
            DeactivateAccount d => d.TargetId,
            DeleteAccount d => d.TargetId,
            UnlinkAccount u => u.TargetId,
            _ => "",
        };
    }

    /// <param name="before">Ids and user names of the accounts in the shadow before the read.</param>
    public static IReadOnlyList<DriftItem> Compare(string target, IReadOnlyDictionary<string, string> before, TargetState after, IReadOnlyList<Mapping.MappedPath> managed)
    {
        var drift = new List<DriftItem>();
        var old = before;
        var now = after.Accounts.Select(a => a.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var a in after.Accounts)
        {
            var source = after.Links.GetValueOrDefault(a.Id);
            if (source is null)
            {
                if (old.Count > 0 && !old.ContainsKey(a.Id)) drift.Add(new DriftItem(target, DriftKind.Created, a.Id, a.UserName, null, []));
                continue;
            }
            if (a.Synced is not { } synced) continue;
            var wasActive = TargetAccount.IsActive(synced);
            var current = a.Document;
            if (!wasActive && a.Active) drift.Add(new DriftItem(target, DriftKind.Reactivated, a.Id, a.UserName, source, ["active"]));
            else if (wasActive && !a.Active) drift.Add(new DriftItem(target, DriftKind.Deactivated, a.Id, a.UserName, source, ["active"]));
            var changed = AccountDiff.Differences(synced, current, managed).Where(p => p != "active").ToArray();
            if (changed.Length > 0) drift.Add(new DriftItem(target, DriftKind.Edited, a.Id, a.UserName, source, changed));
        }
        foreach (var (targetId, sourceId) in after.Links)
            if (!now.Contains(targetId))
                drift.Add(new DriftItem(target, DriftKind.Deleted, targetId, before.GetValueOrDefault(targetId) ?? "", sourceId, []));
        return drift;
    }
}
