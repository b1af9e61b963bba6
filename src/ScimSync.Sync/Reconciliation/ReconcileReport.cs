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
    Execution.ExecutionReport? Execution);

/// <summary>What reconciliation found on every target, and what it did about it (readable by people and machines).</summary>
public sealed record ReconcileReport(DateTimeOffset Started, TimeSpan Elapsed, IReadOnlyList<TargetReconcile> Targets);

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
