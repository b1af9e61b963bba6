using System.Globalization;

namespace ScimSync.Sync;

/// <summary>
/// The names of the engine's checkpoints in its state, in one place: the full runs write some, watch mode's
/// change sources and lanes others, and `sync status` (another process) reads them back.
/// </summary>
internal static class EngineCheckpoints
{
    public const string LastRun = "run.last";

    /// <summary>
    /// Written by every executing full run: "true" only when every target was brought fully up to date (no
    /// error, no guard hold, no failed operation), which is what `watch` may resume from.
    /// </summary>
    public const string Complete = "run.complete";

    public const string LastModifiedSince = "source.lastModifiedSince";

    /// <summary>Until when end dates have been acted on (a watch's expiry check, or the last full run's plans).</summary>
    public const string ExpiryCheckedUntil = "expiry.checkedUntil";

    /// <summary>The SETs from the source the engine refused (how many, and the last one), for `sync status`.</summary>
    public const string RefusedEvents = "feed.refused";

    /// <summary>What the last executing full run found at the source for a person to look at (cycles of nested groups), one per line.</summary>
    public const string SourceWarnings = "source.warnings";

    /// <summary>When the target's last full run brought it fully up to date.</summary>
    public static string CompleteRun(string target) => "run.complete:" + target;

    /// <summary>Since when the target has not answered, and why: kept so that `sync status` sees what the watching engine found.</summary>
    public static string Down(string target) => "target.down:" + target;

    public static DateTimeOffset? Time(string? saved) =>
        DateTimeOffset.TryParse(saved, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : null;
}
