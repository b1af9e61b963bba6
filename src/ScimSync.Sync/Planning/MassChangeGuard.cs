using System.Globalization;

namespace ScimSync.Sync.Planning;

/// <summary>A limit written as a count ("50") or a share of the managed accounts ("10%").</summary>
public readonly record struct Threshold(double Value, bool IsPercent)
{
    public static Threshold Parse(string text)
    {
        text = text.Trim();
        var percent = text.EndsWith('%');
        if (!double.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
            throw new FormatException("expected a count (50) or a percentage (10%)");
        return new Threshold(v, percent);
    }

    public bool Exceeded(int count, int managed) => IsPercent ? count > Math.Max(1, managed) * Value / 100.0 : count > Value;

    public override string ToString() => IsPercent ? Value.ToString(CultureInfo.InvariantCulture) + "%" : Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Stops a run whose deletions or deactivations exceed a threshold until a person confirms: an emptied HR
/// export or a wrong scope filter must not wipe an application (DESIGN.md invariant 6).
/// <see cref="Floor"/> keeps small, everyday changes (one contractor expiring in a five-person app) from
/// tripping a percentage.
/// </summary>
public sealed record MassChangeGuard(Threshold MaxDeletes, Threshold MaxDeactivations, int Floor = 10)
{
    public static MassChangeGuard Default { get; } = new(new Threshold(10, true), new Threshold(10, true));

    /// <summary>Null when the plan may proceed, otherwise why it must wait for confirmation.</summary>
    /// <param name="managedGroups">Groups linked on the target: group deletions are held by the deletion limit as a share of them.</param>
    public string? Check(IReadOnlyList<PlannedOperation> operations, int managed, int managedGroups = 0)
    {
        var groupDeletes = operations.Count(o => o is RetireGroup { Delete: true });
        if (groupDeletes > Floor && MaxDeletes.Exceeded(groupDeletes, managedGroups))
            return $"{groupDeletes} group deletions exceed the limit of {MaxDeletes} (of {managedGroups} managed groups)";
        var deletes = operations.Count(o => o is DeleteAccount);
        var deactivations = operations.Count(o => o is DeactivateAccount || o is UpdateAccount { Deactivates: true });
        if (deletes > Floor && MaxDeletes.Exceeded(deletes, managed))
            return $"{deletes} deletions exceed the limit of {MaxDeletes} (of {managed} managed accounts)";
        if (deactivations > Floor && MaxDeactivations.Exceeded(deactivations, managed))
            return $"{deactivations} deactivations exceed the limit of {MaxDeactivations} (of {managed} managed accounts)";
        return null;
    }
}
