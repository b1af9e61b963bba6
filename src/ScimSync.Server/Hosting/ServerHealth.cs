using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store;

namespace ScimSync.Server.Hosting;

/// <summary>
/// Liveness and readiness (docs/telemetry.md, "Health"). <c>/healthz/live</c> is 200 while the process serves
/// requests at all (no check: a liveness probe that fails on a slow disk gets a healthy process restarted);
/// <c>/healthz/ready</c> is 200 only when the store answers a query, the data directory has room, and fan-out
/// keeps up with the journal, else 503, with each check's verdict as JSON. <c>/healthz</c> stays as it always
/// was (200 once requests are accepted; DESIGN.md §4).
/// </summary>
public static class ServerHealth
{
    private const string Ready = "ready";

    /// <summary>A check that takes longer has failed: a readiness probe must answer within its own timeout.</summary>
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    internal static void Add(IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StoreCheck>("store", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<DiskCheck>("disk", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<FanoutCheck>("fanout", tags: [Ready], timeout: CheckTimeout);
    }

    internal static void Map(WebApplication app)
    {
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(Ready), ResponseWriter = WriteAsync });
    }

    /// <summary><c>{"status": "Unhealthy", "checks": {"disk": {"status": "Unhealthy", "description": "..."}}}</c></summary>
    public static Task WriteAsync(HttpContext ctx, HealthReport report)
    {
        ctx.Response.ContentType = "application/json";
        var body = new Dictionary<string, object>
        {
            ["status"] = report.Status.ToString(),
            ["checks"] = report.Entries.ToDictionary(e => e.Key, e => new Dictionary<string, string?>
            {
                ["status"] = e.Value.Status.ToString(),
                ["description"] = e.Value.Description ?? e.Value.Exception?.Message,
            }),
        };
        return JsonSerializer.SerializeAsync(ctx.Response.Body, body, cancellationToken: ctx.RequestAborted);
    }

    private sealed class StoreCheck(IResourceStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            try
            {
                await store.ProbeAsync(ct).ConfigureAwait(false);
                return HealthCheckResult.Healthy("the store answers");
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy("the store does not answer: " + e.Message);
            }
        }
    }

    private sealed class DiskCheck(ScimServerOptions options) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            long free;
            try
            {
                // The file system holding the data directory (statvfs of the path on Linux).
                free = new DriveInfo(options.DataDirectory).AvailableFreeSpace;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"free space of {options.DataDirectory} unknown: {e.Message}"));
            }
            var text = $"{Mib(free)} MiB free in {options.DataDirectory} (at least {Mib(options.ReadyMinFreeBytes)} MiB wanted)";
            return Task.FromResult(free >= options.ReadyMinFreeBytes ? HealthCheckResult.Healthy(text) : HealthCheckResult.Unhealthy(text));
        }

        private static string Mib(long bytes) => (bytes / (1024 * 1024)).ToString("N0", CultureInfo.InvariantCulture);
    }

    private sealed class FanoutCheck(SubscriptionService subscriptions, IResourceStore store, ScimServerOptions options, TimeProvider time) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
        {
            var now = time.GetUtcNow();
            var behind = new List<string>();
            var oldest = TimeSpan.Zero;
            foreach (var s in await subscriptions.ListAsync(ct).ConfigureAwait(false))
            {
                // Fan-out runs for these two only; the others wait for an operator by design.
                if (s.State is not (SubscriptionState.Active or SubscriptionState.Paused)) continue;
                var lag = await store.Feed.FanoutLagAsync(s.Id, ct).ConfigureAwait(false);
                if (lag.OldestUnfanned is not { } since) continue;
                var age = now - since;
                if (age > oldest) oldest = age;
                if (age > options.ReadyMaxFanoutLag)
                    behind.Add($"{s.Name}: {lag.Entries.ToString("N0", CultureInfo.InvariantCulture)} entries behind, the oldest written {age.TotalSeconds:F0} s ago");
            }
            return behind.Count == 0
                ? HealthCheckResult.Healthy($"fan-out keeps up (oldest entry waiting {oldest.TotalSeconds:F0} s)")
                : HealthCheckResult.Unhealthy($"fan-out behind by more than {options.ReadyMaxFanoutLag.TotalSeconds:F0} s: " + string.Join("; ", behind));
        }
    }
}
