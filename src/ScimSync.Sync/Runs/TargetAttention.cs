using System.Globalization;
using ScimSync.Sync.Configuration;

namespace ScimSync.Sync.Runs;

/// <summary>
/// The one rule for "a person should look at this target now", used by <c>sync status</c> (its exit code) and
/// by the watch listener's readiness: not answering for longer than <see cref="HealthConfig.UnreachableFor"/>;
/// the mass-change guard holding removals for longer than <see cref="HealthConfig.HeldFor"/> (they wait for
/// a person by design); the last full read incomplete (nothing is removed or repaired until one is complete);
/// the oldest queued change waiting longer than <see cref="HealthConfig.QueueAge"/>.
/// </summary>
public static class TargetAttention
{
    public static IReadOnlyList<string> Assess(TargetStatus s, HealthConfig health, DateTimeOffset now)
    {
        var reasons = new List<string>();
        if (s.UnreachableSince is { } down && now - down >= health.UnreachableFor)
            reasons.Add($"not answering since {At(down)} ({s.UnreachableReason})");
        if (s.Held.Count > 0 && s.Held.Min(h => h.Since) is var since && now - since >= health.HeldFor)
            reasons.Add($"the mass-change guard holds {s.Held.Count.ToString("N0", CultureInfo.InvariantCulture)} removals since {At(since)}; after checking, release them with `scimsync sync run --confirm`");
        if (s.LastRead is { Complete: false } read)
            reasons.Add($"the last read ({At(read.At)}) was incomplete: {read.Problems}; nothing is removed or repaired until a complete one");
        if (s.OldestQueued is { } queued && now - queued >= health.QueueAge)
            reasons.Add($"{s.Pending.ToString("N0", CultureInfo.InvariantCulture)} changes queued, the oldest since {At(queued)}");
        return reasons;
    }

    private static string At(DateTimeOffset t) => t.ToString("u", CultureInfo.InvariantCulture);
}
