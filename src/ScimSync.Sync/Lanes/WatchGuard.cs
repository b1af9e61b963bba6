using Microsoft.Extensions.Logging;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Lanes;

/// <summary>
/// The mass-change guard where changes arrive a batch at a time (watch mode's queues and its periodic full
/// comparison). The guard is the same rule as for a full run, measured against the same denominator (the
/// target's managed total, from its shadow); with it count the removals applied on the target within the
/// guard's window and the urgent ones queued behind the batch. When it trips, only the removals are held:
/// they are kept in the state with the reason (shown by <c>sync status</c>), leave the queue, and the rest
/// of the batch is applied, so new hires and edits keep flowing. While anything is held on a target, every
/// further removal there is held too, until a person confirms with a full run (<c>--confirm</c>) or the
/// source stops asking for it.
/// </summary>
internal sealed class WatchGuard(ISyncState shadows, TimeProvider time, ILogger logger)
{
    /// <summary>The part of <paramref name="plan"/> to apply now; its held removals are recorded.</summary>
    /// <param name="keys">The queue keys the plan was made for.</param>
    /// <param name="causeOf">The audit cause of a queue key's change, for the log of each held removal.</param>
    public SyncPlan Apply(TargetSlot t, SyncPlan plan, TargetState state, IReadOnlyCollection<string> keys, SourceSnapshot snapshot, Func<string, string>? causeOf = null)
    {
        var name = t.Config.Name;
        var now = time.GetUtcNow();
        var removals = plan.Operations.Where(MassChangeGuard.IsRemoval).ToArray();
        var held = shadows.Holds(name);
        var heldKeys = held.Select(h => h.Key).ToHashSet(StringComparer.Ordinal);
        // A held key planned again without a removal: the source no longer asks for it.
        var removalKeys = removals.Select(KeyOf).ToHashSet(StringComparer.Ordinal);
        var moot = keys.Where(k => heldKeys.Contains(k) && !removalKeys.Contains(k)).ToArray();
        if (moot.Length > 0)
        {
            shadows.Batch(w => { foreach (var k in moot) w.ReleaseHold(name, k); });
            SyncLog.HoldsReleased(logger, name, moot.Length, "the source no longer asks for them");
        }
        if (removals.Length == 0) return plan;

        var stillHeld = held.Where(h => !moot.Contains(h.Key) && !removalKeys.Contains(h.Key)).ToArray();
        string? reason;
        if (stillHeld.Length > 0)
        {
            reason = $"the guard has held {stillHeld.Length:N0} removals on this target since {stillHeld.Min(h => h.Since):u}";
        }
        else
        {
            var recent = t.Removals.Since(now - t.Config.Guard.WatchWindow);
            var queued = QueuedRemovals(t, keys, snapshot, now);
            var deletesQueued = t.Config.Policies.OutOfScope == OutOfScopeReaction.Delete ? queued : 0;
            var deactivationsQueued = t.Config.Policies.OutOfScope == OutOfScopeReaction.Deactivate ? queued : 0;
            reason = t.Config.Guard.Check(plan.Operations, new GuardBaseline(state.ManagedAccounts, state.ManagedGroups,
                recent.Deletes + deletesQueued, recent.Deactivations + deactivationsQueued, recent.GroupDeletes));
        }
        if (reason is null) return plan;

        shadows.Batch(w =>
        {
            foreach (var op in removals)
                w.Hold(new HeldOperation(name, KeyOf(op), op.Verb, op.Subject, TargetIdOf(op), reason, now));
        });
        // Said once when the guard starts holding; each removal held is logged on its own, with its cause.
        if (stillHeld.Length == 0 && held.Count - moot.Length <= 0) SyncLog.GuardHolds(logger, name, removals.Length, reason);
        foreach (var op in removals) SyncLog.RemovalHeld(logger, name, op.Verb, op.Subject, causeOf?.Invoke(KeyOf(op)) ?? "watch", "held");
        return plan with { Operations = plan.Operations.Where(o => !MassChangeGuard.IsRemoval(o)).ToArray(), GuardMessage = null };
    }

    /// <summary>
    /// Full plans (the periodic comparison in watch mode, or a run that was not confirmed): the held set
    /// becomes exactly this plan's removals. Returns the plan without them.
    /// </summary>
    public SyncPlan HoldAll(string target, SyncPlan plan)
    {
        var now = time.GetUtcNow();
        var removals = plan.Operations.Where(MassChangeGuard.IsRemoval).ToArray();
        var before = shadows.HeldCount(target);
        shadows.Batch(w =>
        {
            w.ReleaseHolds(target);
            foreach (var op in removals)
                w.Hold(new HeldOperation(target, KeyOf(op), op.Verb, op.Subject, TargetIdOf(op), plan.GuardMessage ?? "held by the mass-change guard", now));
        });
        if (before == 0 && removals.Length > 0)
        {
            SyncLog.GuardHolds(logger, target, removals.Length, plan.GuardMessage ?? "held by the mass-change guard");
            foreach (var op in removals) SyncLog.RemovalHeld(logger, target, op.Verb, op.Subject, "full comparison", "held");
        }
        return plan with { Operations = plan.Operations.Where(o => !MassChangeGuard.IsRemoval(o)).ToArray() };
    }

    /// <summary>
    /// Urgent queued keys, beyond this batch, of accounts linked on the target whose source account is gone
    /// or no longer active: removals on their way. Deactivations and deletions at the source are urgent, so
    /// a burst shows here before most of it has been batched.
    /// </summary>
    private int QueuedRemovals(TargetSlot t, IReadOnlyCollection<string> keys, SourceSnapshot snapshot, DateTimeOffset now)
    {
        var inBatch = keys as IReadOnlySet<string> ?? keys.ToHashSet(StringComparer.Ordinal);
        return shadows.PendingUrgentLinked(t.Config.Name)
            .Count(id => !inBatch.Contains(id) && (snapshot.Users.GetValueOrDefault(id) is not { } account || !account.ActiveAt(now)));
    }

    public static string KeyOf(PlannedOperation op) => op switch
    {
        DeleteAccount d => d.SourceId ?? "target:" + d.TargetId,
        DeactivateAccount d => d.SourceId ?? "target:" + d.TargetId,
        UpdateAccount u => u.SourceId,
        RetireGroup r => TargetExecutor.GroupKey(r.SourceGroupId),
        _ => op.Subject,
    };

    private static string? TargetIdOf(PlannedOperation op) => op switch
    {
        DeleteAccount d => d.TargetId,
        DeactivateAccount d => d.TargetId,
        UpdateAccount u => u.TargetId,
        RetireGroup r => r.TargetGroupId,
        _ => null,
    };
}
