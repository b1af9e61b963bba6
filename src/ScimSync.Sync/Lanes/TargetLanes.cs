using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Lanes;

/// <summary>
/// Every target the engine serves, each with its own client, limits, health and queue (<see cref="TargetSlot"/>),
/// so that a target that is down holds up nobody else; and the one way a change reaches them all: queued, durably,
/// for every target, then the lanes woken.
/// </summary>
internal sealed class TargetLanes : IDisposable
{
    private TargetLanes(IReadOnlyList<TargetSlot> slots) => Slots = slots;

    public IReadOnlyList<TargetSlot> Slots { get; }

    /// <param name="log">Where an outage is logged (the engine's category).</param>
    /// <param name="stopping">A stop: no operation starts, those in flight finish.</param>
    public static TargetLanes Open(SyncConfig config, ISyncState shadows, TimeProvider time, ILoggerFactory loggers, ILogger log, SyncTelemetry telemetry,
        Func<EndpointConfig, HttpMessageHandler?>? handlers, CancellationToken stopping)
    {
        var registry = SchemaRegistry.CreateDefault();
        var clientLog = loggers.CreateLogger<ScimClient>();
        var executorLog = loggers.CreateLogger<TargetExecutor>();
        return new TargetLanes(config.Targets.Select(t =>
        {
            // One quick retry for a call that got no answer: after that the target is marked down and probed.
            var client = Connections.Open(t.Endpoint, t.Name, time, handlers?.Invoke(t.Endpoint), maxUnansweredRetries: 1, logger: clientLog);
            var health = new TargetHealth(time);
            var slot = new TargetSlot(t, client, new TargetPlanner(t, config.Kinds, registry),
                new TargetExecutor(client, shadows, time, t.Endpoint.Limits.Concurrency)
                {
                    BatchSize = t.Groups.BatchSize, MemberRemoval = t.Endpoint.Dialect.MemberRemoval, Health = health, Logger = executorLog, Telemetry = telemetry,
                    Stopping = stopping, Secrets = Mapping.SecretAttributes.From(t.Mapping),
                },
                health);
            health.WentDown += reason =>
            {
                shadows.SetCheckpoint(EngineCheckpoints.Down(t.Name), $"{health.DownSince ?? time.GetUtcNow():O} {reason}");
                telemetry.Outage(t.Name);
                SyncLog.TargetDown(log, t.Name, reason, shadows.Counts(t.Name).Pending);
            };
            return slot;
        }).ToArray());
    }

    /// <summary>Queues one source key (an account id, or a <c>group:</c> id) for every target, in the caller's batch.</summary>
    public void QueueEverywhere(IStateWriter w, string key, bool urgent, DateTimeOffset at)
    {
        foreach (var t in Slots) w.Enqueue(t.Config.Name, key, urgent, at);
    }

    /// <summary>After a batch is queued: every target's main lane looks, and its urgent lane too when anything urgent came.</summary>
    public void Wake(bool urgent)
    {
        foreach (var t in Slots) t.Wake(urgent);
    }

    public TargetSlot? Find(string target) =>
        Slots.FirstOrDefault(t => string.Equals(t.Config.Name, target, StringComparison.OrdinalIgnoreCase));

    public void Dispose()
    {
        foreach (var t in Slots)
        {
            t.Client.Dispose();
            t.Signal.Dispose();
            t.UrgentSignal.Dispose();
            t.Structure.Dispose();
        }
    }
}
