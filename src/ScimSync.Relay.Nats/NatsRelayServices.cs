using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ScimSync.Feed.Delivery;
using ScimSync.Store;

namespace ScimSync.Relay.Nats;

public static class NatsRelayServices
{
    /// <summary>
    /// Relays the journal to NATS (<c>serve --nats</c>): the relay runs under the feed's lease beside the fan-out,
    /// compaction waits for it, its lag is in the feed's metrics and in /healthz/ready's detail.
    /// </summary>
    public static IServiceCollection AddNatsRelay(this IServiceCollection services, NatsRelayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton<NatsRelay>();
        services.AddSingleton<IJournalRelay>(sp => sp.GetRequiredService<NatsRelay>());
        services.AddSingleton<NatsRelayMetrics>();
        // Resolved at start so that the gauges exist before the first scrape.
        services.AddHostedService(sp => new MetricsActivation(sp.GetRequiredService<NatsRelayMetrics>()));
        // Readiness only reports (Degraded answers 200): taking the server out of a load balancer because NATS is
        // away would stop the writes the relay is there to carry.
        services.AddHealthChecks().AddCheck<RelayCheck>("nats-relay", tags: ["ready"], timeout: TimeSpan.FromSeconds(5));
        return services;
    }

    private sealed class MetricsActivation(NatsRelayMetrics metrics) : Microsoft.Extensions.Hosting.IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.FromResult(metrics);
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>From the stream and the journal, not from this instance's memory: any instance can answer.</summary>
    private sealed class RelayCheck(NatsRelay relay, NatsRelayOptions options, IResourceStore store, TimeProvider time) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            var (position, problem) = await relay.ReadRelayedThroughAsync(ct).ConfigureAwait(false);
            if (position is not { } through) return HealthCheckResult.Degraded($"NATS relay to stream {options.Stream}: {problem}");
            var waiting = await store.ReadJournalAsync(through, 1, ct).ConfigureAwait(false);
            if (waiting.Count == 0) return HealthCheckResult.Healthy($"NATS relay: stream {options.Stream} holds the journal through position {through.ToString(CultureInfo.InvariantCulture)}");
            var age = time.GetUtcNow() - waiting[0].Change.Time;
            var text = $"NATS relay: stream {options.Stream} holds the journal through position {through.ToString(CultureInfo.InvariantCulture)}; the oldest entry waiting was written {age.TotalSeconds:F0} s ago";
            return age > options.ReadyMaxLag ? HealthCheckResult.Degraded(text + (relay.Status.Problem is { } p ? $" ({p})" : "")) : HealthCheckResult.Healthy(text);
        }
    }
}
