using System.Diagnostics.Metrics;
using ScimSync.Feed;

namespace ScimSync.Relay.Nats;

/// <summary>
/// The relay's lag, beside the feed's fan-out lag in the feed's meter (docs/telemetry.md): what is still to be
/// published, and how long the oldest of it has waited.
/// </summary>
public sealed class NatsRelayMetrics : IDisposable
{
    private readonly Meter _meter;

    public NatsRelayMetrics(IMeterFactory factory, NatsRelay relay, TimeProvider time)
    {
        _meter = factory.Create(FeedMetrics.MeterName);
        _meter.CreateObservableGauge("scimsync.feed.relay_position", () => relay.Status.RelayedThrough, "{position}",
            "The last journal position the NATS stream holds, as the publishing instance last saw it");
        _meter.CreateObservableGauge("scimsync.feed.relay_lag", () => (long)relay.Status.Waiting, "{entry}",
            "Journal entries not yet published to NATS (counted up to one batch, 500)");
        _meter.CreateObservableGauge("scimsync.feed.relay_lag_age", () => relay.Status.OldestWaiting is { } t ? Math.Max(0, (time.GetUtcNow() - t).TotalSeconds) : 0, "s",
            "How long the oldest journal entry not yet published to NATS has waited (0 when none)");
        _meter.CreateObservableCounter("scimsync.feed.relayed", () => relay.Status.Published, "{event}", "SETs published to NATS and acknowledged by JetStream");
    }

    public void Dispose() => _meter.Dispose();
}
