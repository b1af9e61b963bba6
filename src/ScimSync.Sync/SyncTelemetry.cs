using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ScimSync.Sync;

/// <summary>
/// The engine's traces and metrics, by name; every span, instrument and attribute is listed in
/// docs/telemetry.md. A host exports them by listening to <see cref="Name"/> (the ActivitySource and the
/// Meter share it); without a listener a span costs one check and no allocation.
/// </summary>
/// <remarks>
/// A change from the source is one trace: <c>sync.source_event</c> when the engine learns it, then, once a
/// target's queue takes it, <c>sync.plan</c> for that batch (the event's child when the batch has that one
/// origin; linked to each origin otherwise, since one batch serves many events), <c>sync.operation</c> for
/// each call on the target, and the HTTP client's span beneath that. Full runs start <c>sync.run</c> per target.
/// </remarks>
public sealed class SyncTelemetry : IDisposable
{
    public const string Name = "ScimSync.Sync";

    internal static readonly ActivitySource Source = new(Name, typeof(SyncTelemetry).Assembly.GetName().Version?.ToString(3));

    private readonly Meter _meter = new(Name, typeof(SyncTelemetry).Assembly.GetName().Version?.ToString(3));
    private readonly Counter<long> _operations;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _outages;
    private readonly Counter<long> _changes;
    private readonly Func<IReadOnlyList<TargetGauges>> _read;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private (DateTimeOffset At, IReadOnlyList<TargetGauges> Gauges)? _cached;

    /// <param name="gauges">Reads every target's queue, guard and health; asked at most once a second, however many instruments are collected.</param>
    internal SyncTelemetry(Func<IReadOnlyList<TargetGauges>> gauges, TimeProvider time)
    {
        _read = gauges;
        _time = time;
        _operations = _meter.CreateCounter<long>("scimsync.engine.operations", "{operation}", "Operations on targets, by result (ok, failed, not_tried)");
        _duration = _meter.CreateHistogram<double>("scimsync.engine.operation.duration", "s", "Time an operation on a target took, shadow and audit writes included");
        _outages = _meter.CreateCounter<long>("scimsync.engine.target.outages", "{outage}", "Times a target stopped answering");
        _changes = _meter.CreateCounter<long>("scimsync.engine.source.changes", "{change}", "Changes learnt from the source and queued for the targets");
        _meter.CreateObservableGauge("scimsync.engine.queue.depth", () => Each(g => g.Queued), "{change}", "Source changes queued for a target");
        _meter.CreateObservableGauge("scimsync.engine.queue.oldest_age", () => Each(g => g.OldestQueued is { } q ? Math.Max(0, (_time.GetUtcNow() - q).TotalSeconds) : 0.0),
            "s", "How long the oldest change queued for a target has waited (0 when none)");
        _meter.CreateObservableGauge("scimsync.engine.guard.held", () => Each(g => g.Held), "{operation}", "Removals the mass-change guard holds on a target until a person confirms them");
        // No unit: "1" would make the Prometheus name scimsync_engine_target_up_ratio.
        _meter.CreateObservableGauge("scimsync.engine.target.up", () => Each(g => g.Up ? 1 : 0), null, "1 while a target answers, 0 while it is not answering");
        _meter.CreateObservableGauge("scimsync.engine.last_complete_run.time",
            () => Gauges().Where(g => g.LastCompleteRun is not null).Select(g => new Measurement<double>(g.LastCompleteRun!.Value.ToUnixTimeMilliseconds() / 1000.0, Target(g.Target))),
            "s", "When the last full run that brought a target fully up to date started (Unix time)");
    }

    internal void Operation(string target, string operation, string result, TimeSpan elapsed)
    {
        var tags = new TagList { { "target", target }, { "operation", operation }, { "result", result } };
        _operations.Add(1, tags);
        if (elapsed > TimeSpan.Zero) _duration.Record(elapsed.TotalSeconds, tags);
    }

    internal void Outage(string target) => _outages.Add(1, Target(target));

    internal void Changes(string resourceType, bool urgent, int count)
    {
        if (count > 0) _changes.Add(count, new KeyValuePair<string, object?>("resource_type", resourceType), new KeyValuePair<string, object?>("urgent", urgent));
    }

    private IEnumerable<Measurement<T>> Each<T>(Func<TargetGauges, T> value) where T : struct =>
        Gauges().Select(g => new Measurement<T>(value(g), Target(g.Target)));

    private IReadOnlyList<TargetGauges> Gauges()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_cached is { } c && now - c.At < TimeSpan.FromSeconds(1)) return c.Gauges;
            var fresh = _read();
            _cached = (now, fresh);
            return fresh;
        }
    }

    private static KeyValuePair<string, object?> Target(string target) => new("target", target);

    public void Dispose() => _meter.Dispose();
}

/// <summary>One target's state for the gauges.</summary>
internal sealed record TargetGauges(string Target, int Queued, DateTimeOffset? OldestQueued, int Held, bool Up, DateTimeOffset? LastCompleteRun);
