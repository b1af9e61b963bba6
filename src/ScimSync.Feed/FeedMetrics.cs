using System.Diagnostics.Metrics;
using ScimSync.Store.Feed;

namespace ScimSync.Feed;

/// <summary>
/// Delivery metrics (System.Diagnostics.Metrics, exported by OpenTelemetry; docs/telemetry.md): rates and
/// failures as counters; queue depth and age and fan-out lag as gauges, per subscription, refreshed every few
/// seconds by the fan-out loop; and write-to-receiver latency.
/// </summary>
public sealed class FeedMetrics : IDisposable
{
    public const string MeterName = "ScimSync.Feed";

    private readonly Meter _meter;
    private readonly Counter<long> _queued;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<double> _latency;
    private volatile IReadOnlyDictionary<string, FeedStats> _stats = new Dictionary<string, FeedStats>();

    public FeedMetrics(IMeterFactory factory, TimeProvider time)
    {
        _meter = factory.Create(MeterName);
        _queued = _meter.CreateCounter<long>("scimsync.feed.queued", "{event}", "SETs queued for delivery");
        _delivered = _meter.CreateCounter<long>("scimsync.feed.delivered", "{event}", "SETs acknowledged by receivers");
        _failed = _meter.CreateCounter<long>("scimsync.feed.failed", "{attempt}", "Delivery attempts that failed and will be retried");
        _deadLettered = _meter.CreateCounter<long>("scimsync.feed.dead_lettered", "{event}", "SETs moved to the dead-letter list");
        _latency = _meter.CreateHistogram<double>("scimsync.feed.latency", "ms", "Time from queueing (milliseconds after the commit) to the receiver's acknowledgement of a push");
        _meter.CreateObservableGauge("scimsync.feed.pending", () => _stats.Select(s => new Measurement<long>(s.Value.Pending + s.Value.InFlight, new KeyValuePair<string, object?>("subscription", s.Key))), "{event}");
        _meter.CreateObservableGauge("scimsync.feed.dead_letters", () => _stats.Select(s => new Measurement<long>(s.Value.DeadLetters, new KeyValuePair<string, object?>("subscription", s.Key))), "{event}");
        _meter.CreateObservableGauge("scimsync.feed.oldest_pending_age", () => _stats.Where(s => s.Value.OldestPending is not null)
            .Select(s => new Measurement<double>((time.GetUtcNow() - s.Value.OldestPending!.Value).TotalSeconds, new KeyValuePair<string, object?>("subscription", s.Key))), "s");
        _meter.CreateObservableGauge("scimsync.feed.fanout_lag", () => _stats.Select(s => new Measurement<long>(s.Value.Lag.Entries, Tag(s.Key))), "{entry}",
            "Journal entries past the subscription's fan-out position");
        _meter.CreateObservableGauge("scimsync.feed.fanout_lag_age", () => _stats.Select(s => new Measurement<double>(
            s.Value.Lag.OldestUnfanned is { } t ? Math.Max(0, (time.GetUtcNow() - t).TotalSeconds) : 0, Tag(s.Key))), "s",
            "How long the oldest journal entry not yet fanned out to the subscription has waited (0 when none)");
    }

    private static KeyValuePair<string, object?> Tag(string subscription) => new("subscription", subscription);

    public void Queued(string subscription, int n) { if (n > 0) _queued.Add(n, Tag(subscription)); }
    public void Delivered(string subscription, int n, TimeSpan? sinceQueued = null)
    {
        if (n <= 0) return;
        _delivered.Add(n, Tag(subscription));
        if (sinceQueued is { } t) _latency.Record(t.TotalMilliseconds, Tag(subscription));
    }
    public void Failed(string subscription) => _failed.Add(1, Tag(subscription));
    public void DeadLettered(string subscription, int n) { if (n > 0) _deadLettered.Add(n, Tag(subscription)); }
    public void Observe(IReadOnlyDictionary<string, FeedStats> stats) => _stats = stats;

    public void Dispose() => _meter.Dispose();
}
