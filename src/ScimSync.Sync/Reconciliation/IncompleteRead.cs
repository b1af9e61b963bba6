using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Reconciliation;

/// <summary>
/// A plan made after a read of the target that did not add up (see <see cref="Execution.TargetReader"/>):
/// what such a read did not show may still be there, and what it did show may be stale. So nothing is
/// derived from it that takes something away or undoes something: no unlink (an account not seen is not
/// gone), no deletion or deactivation of accounts nobody owns (the unmatched reaction), no repair of
/// out-of-band changes, and no create (the account may be there, unseen: a create would duplicate it, on
/// a target without uniqueness, or read the listing as "the target is empty"). What comes from the source
/// for accounts the engine already manages still happens: leavers, changes to linked accounts. New hires
/// wait for a complete read (in watch mode they are created from the shadow as their events arrive).
/// </summary>
public static class IncompleteRead
{
    public static SyncPlan Restrict(SyncPlan plan, IReadOnlyList<DriftItem> drift, IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var withheld = new List<PlannedOperation>();
        var kept = new List<PlannedOperation>();
        foreach (var op in plan.Operations)
        {
            var fromRead = op switch
            {
                UnlinkAccount or CreateAccount => true,
                DeleteAccount { SourceId: null } or DeactivateAccount { SourceId: null } => true,
                _ => false,
            };
            if (fromRead) withheld.Add(op);
            else kept.Add(op);
        }
        var reason = "the read of this target was incomplete: " + string.Join("; ", problems);
        var restricted = DriftDetector.LeaveDriftAlone(plan with { Operations = kept }, drift, reason);
        var findings = restricted.Findings.ToList();
        findings.AddRange(withheld.Select(op => new Finding(plan.Target, null, "", op.Subject, $"not applied: {op.Verb}; {reason}")));
        return restricted with { Findings = findings };
    }
}
