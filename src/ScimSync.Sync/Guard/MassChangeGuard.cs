using System.Globalization;

namespace ScimSync.Sync.Guard;

/// <summary>
/// What the guard measures a plan against: the whole target's managed totals (from the shadow, never from
/// the part of the target a plan happens to look at), and the removals that already count against the
/// limit: in watch mode, those applied recently and those queued behind this batch.
/// </summary>
public sealed record GuardBaseline(int ManagedAccounts, int ManagedGroups, int PriorDeletes = 0, int PriorDeactivations = 0, int PriorGroupDeletes = 0);

/// <summary>The removals a plan (or a batch) would make, as the guard counts them (<c>PlannedOperation.TakesAccessAway</c>).</summary>
public readonly record struct RemovalCount(int Deletes, int Deactivations, int GroupDeletes);

/// <summary>
/// Stops a run whose deletions or deactivations exceed a threshold until a person confirms: an emptied HR
/// export or a wrong scope filter must not wipe an application (DESIGN.md invariant 6).
/// <see cref="Floor"/> keeps small, everyday changes (one contractor expiring in a five-person app) from
/// tripping a percentage. <see cref="MaxShrink"/> applies the same idea to reads: a full read of a target
/// that finds far fewer accounts than its shadow holds is not believed until confirmed. In watch mode,
/// where changes arrive a batch at a time, the removals applied within <see cref="Window"/> count with each
/// new batch.
/// </summary>
public sealed record MassChangeGuard(Threshold MaxDeletes, Threshold MaxDeactivations, int Floor = 10, Threshold? MaxShrink = null, TimeSpan? Window = null)
{
    public static MassChangeGuard Default { get; } = new(new Threshold(10, true), new Threshold(10, true));

    public TimeSpan WatchWindow => Window ?? TimeSpan.FromHours(1);

    /// <summary>Null when the plan may proceed, otherwise why it must wait for confirmation.</summary>
    public string? Check(RemovalCount planned, GuardBaseline baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return Over(planned.GroupDeletes, baseline.PriorGroupDeletes, MaxDeletes, baseline.ManagedGroups, "group deletions", "managed groups")
            ?? Over(planned.Deletes, baseline.PriorDeletes, MaxDeletes, baseline.ManagedAccounts, "deletions", "managed accounts")
            ?? Over(planned.Deactivations, baseline.PriorDeactivations, MaxDeactivations, baseline.ManagedAccounts, "deactivations", "managed accounts");
    }

    private string? Over(int planned, int prior, Threshold limit, int managed, string what, string of)
    {
        if (planned == 0) return null;
        var total = planned + prior;
        if (total <= Floor || !limit.Exceeded(total, managed)) return null;
        var counted = prior == 0
            ? planned.ToString("N0", CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{planned:N0} (with {prior:N0} applied recently or queued, {total:N0})");
        return string.Create(CultureInfo.InvariantCulture, $"{counted} {what} exceed the limit of {limit} (of {managed:N0} {of})");
    }

    /// <summary>
    /// Null when a full read of <paramref name="read"/> accounts can be believed when the shadow holds
    /// <paramref name="previous"/> (from the last complete read and the engine's own creates since); otherwise why not.
    /// </summary>
    public string? CheckShrink(int read, int previous)
    {
        var drop = previous - read;
        var limit = MaxShrink ?? MaxDeletes;
        if (drop <= Floor || !limit.Exceeded(drop, previous)) return null;
        return string.Create(CultureInfo.InvariantCulture, $"read {read:N0} accounts where the shadow holds {previous:N0} ({drop:N0} fewer, more than {limit})");
    }
}
