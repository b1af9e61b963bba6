using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Intake;

/// <summary>
/// One way watch mode learns what changed at the source: the source's event feed, lastModified queries, a
/// file export dropped again, end dates passing. Each follows its own source until cancelled, brings the
/// engine's copy of the source up to date and queues the changes for every target (a SCIM-shaped change
/// goes through <see cref="ChangeIntake"/>, which does both). A failure is logged and retried inside: a
/// change source does not end watch mode. Another source (another transport for the same events) is one
/// more implementation and one more line in <see cref="ChangeSources.For"/>; the engine does not change.
/// </summary>
internal interface IChangeSource
{
    Task FollowAsync(CancellationToken ct);
}

/// <summary>What every change source works with: the engine's copy of the source, its state, and its targets.</summary>
/// <param name="Log">The engine's logger (its category names these entries, as before the change sources were apart).</param>
internal sealed record IntakeContext(SyncConfig Config, ScimClient? Source, SourceState State, ISyncState Shadows, TargetLanes Lanes, ChangeOrigins Origins,
    SyncTelemetry Telemetry, SourceHealth Health, TimeProvider Time, ILogger Log)
{
    public ChangeIntake Intake { get; } = new(Config, State, Shadows, Lanes, Origins, Telemetry, Time, Log);

    /// <summary>
    /// Where a SCIM source's changes are read after a snapshot (<see cref="SourceFeed"/>, or <see cref="JetStreamChanges"/>):
    /// the engine's own, one per engine when several share the state. Null for a file source.
    /// </summary>
    public ISourceChanges? Changes { get; init; }
}

/// <summary>Which change sources follow the configured source.</summary>
internal static class ChangeSources
{
    /// <summary>The configured source's change source, and expiry (end dates pass whatever the source).</summary>
    public static IReadOnlyList<IChangeSource> For(IntakeContext context)
    {
        IChangeSource changes = context.Source is null ? new FileChangeSource(context)
            : context.Config.Source.Feed == FeedMode.Poll ? new FeedChangeSource(context)
            : new LastModifiedChangeSource(context);
        return [changes, new ExpiryChangeSource(context)];
    }
}
