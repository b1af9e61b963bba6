using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ScimSync.Protocol.Retries;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Lanes;

/// <summary>
/// Watch mode's work on one target: its durable queue of source keys (accounts, and <c>group:</c> ids),
/// planned from the shadow alone and applied a batch at a time, with the guard measuring each batch
/// against the whole target (<see cref="WatchGuard"/>) and the queue waiting, without backoff, while the
/// target does not answer (<see cref="TargetHealth"/>).
/// </summary>
/// <param name="snapshotNow">The engine's current copy of the source.</param>
/// <param name="originOf">Where the change last queued for a key came from (an event, an expiry), if known.</param>
internal sealed class TargetQueueWorker(ISyncState shadows, TimeProvider time, WatchGuard guard, Func<SourceSnapshot> snapshotNow,
    Func<string, ChangeOrigin?> originOf, ILogger logger)
{
    // A batch links to at most this many origins: enough to follow any one change, bounded for a backlog's batches.
    private const int MaxLinks = 32;

    /// <summary>
    /// Drains one target's queue, planning the queued accounts from the shadow alone. Two lanes: the main
    /// lane takes the next batch (urgent first); the urgent lane takes only urgent keys, so a deactivation
    /// queued while the main lane applies a batch of routine changes does not wait for that batch to end.
    /// </summary>
    /// <param name="ct">Ends the lanes (their waits, and the next batch).</param>
    /// <param name="work">Under which a batch's operations run: a stop ends the lanes, and lets the batch in flight finish.</param>
    public Task RunAsync(TargetSlot t, CancellationToken ct, CancellationToken work) =>
        Task.WhenAll(LaneAsync(t, urgentOnly: false, batchSize: 200, ct, work), LaneAsync(t, urgentOnly: true, batchSize: 50, ct, work));

    /// <summary>A lane whose batch failed waits from half a second up to half a minute before the next one.</summary>
    private static readonly Backoff LaneBackoff = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    private async Task LaneAsync(TargetSlot t, bool urgentOnly, int batchSize, CancellationToken ct, CancellationToken work)
    {
        var name = t.Config.Name;
        var signal = urgentOnly ? t.UrgentSignal : t.Signal;
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            // A target that does not answer is probed (TargetHealth); its queue waits for the answer, not for a backoff.
            await t.Health.WhenUpAsync(ct).ConfigureAwait(false);
            PendingChange[] batch;
            lock (t.InFlight)
            {
                batch = shadows.Pending(name, batchSize + t.InFlight.Count, urgentOnly).Where(p => !t.InFlight.Contains(p.SourceId)).Take(batchSize).ToArray();
                foreach (var p in batch) t.InFlight.Add(p.SourceId);
            }
            if (batch.Length == 0)
            {
                await signal.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                continue;
            }
            var pause = TimeSpan.Zero;
            try
            {
                var report = await ApplyFocusedAsync(t, batch.Select(b => b.SourceId).ToArray(), urgentOnly, work).ConfigureAwait(false);
                // A key that changed again while it was applied stays queued (its counter moved on).
                shadows.Batch(w =>
                {
                    foreach (var p in batch)
                        if (!report.FailedSources.Contains(p.SourceId)) w.Dequeue(name, p);
                });
                failures = report.Failed == 0 || t.Health.IsDown ? 0 : failures + 1;
                pause = LaneBackoff.After(failures);
            }
            catch (Exception e) when (!work.IsCancellationRequested)
            {
                // An unreadable state, anything unforeseen: the queue stays, this lane retries with backoff, the
                // other targets carry on. Watch mode must not lose a lane silently. Only a target's failures are
                // expected; anything else (a guard hold is no failure: WatchGuard holds removals without throwing)
                // is logged with its stack.
                pause = LaneBackoff.After(++failures);
                var lane = urgentOnly ? "urgent" : "main";
                if (TargetFailure.IsExpected(e))
                    SyncLog.LaneFailed(logger, name, lane, e.Message, (long)pause.TotalMilliseconds);
                else
                    SyncLog.LaneUnexpected(logger, name, lane, $"{e.GetType().Name}: {e.Message}", (long)pause.TotalMilliseconds, e);
            }
            finally
            {
                lock (t.InFlight)
                    foreach (var p in batch) t.InFlight.Remove(p.SourceId);
            }
            if (pause > TimeSpan.Zero) await Task.Delay(pause, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Plans and applies the given source accounts and groups on one target, from its shadow.</summary>
    private async Task<ExecutionReport> ApplyFocusedAsync(TargetSlot t, IReadOnlyCollection<string> keys, bool urgentLane, CancellationToken ct)
    {
        // The urgent lane does in-place work (update, deactivate, delete, members of an existing group) beside
        // the main lane; a plan that would create or link waits for the structure lock and is made again.
        if (urgentLane && await PlanAndApplyAsync(t, keys, inPlaceOnly: true, ct).ConfigureAwait(false) is { } done) return done;
        await t.Structure.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return (await PlanAndApplyAsync(t, keys, inPlaceOnly: false, ct).ConfigureAwait(false))!;
        }
        finally
        {
            t.Structure.Release();
        }
    }

    private static bool InPlace(PlannedOperation op) => op is UpdateAccount or DeactivateAccount or DeleteAccount or ChangeMembers { TargetGroupId: not null };

    /// <returns>The report, or null when <paramref name="inPlaceOnly"/> and the plan has work that is not in place.</returns>
    private async Task<ExecutionReport?> PlanAndApplyAsync(TargetSlot t, IReadOnlyCollection<string> keys, bool inPlaceOnly, CancellationToken ct)
    {
        var snapshot = snapshotNow();
        var now = time.GetUtcNow();
        var userIds = keys.Where(k => !k.StartsWith("group:", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var groupIds = keys.Where(k => k.StartsWith("group:", StringComparison.Ordinal)).Select(k => k[6..]).ToHashSet(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var externalIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in userIds)
        {
            if (!snapshot.Users.TryGetValue(id, out var account)) continue;
            var doc = t.Planner.Mapper.Map(account, now);
            names.UnionWith(Correlator.ValuesOf(doc, CorrelationKey.UserName));
            externalIds.UnionWith(Correlator.ValuesOf(doc, CorrelationKey.ExternalId));
        }
        using var activity = StartPlan(t.Config.Name, keys);
        var sw = Stopwatch.StartNew();
        var state = shadows.LoadStateFor(t.Config.Name, userIds, names, externalIds).WithAcceptedDrift(shadows, t.Config.Name);
        var loadMs = sw.ElapsedMilliseconds;
        var plan = t.Planner.Plan(snapshot, state, now, userIds, groupIds);
        SyncLog.BatchPlanned(logger, t.Config.Name, keys.Count, loadMs, sw.ElapsedMilliseconds - loadMs, plan.Operations.Count);
        activity?.SetTag("scimsync.operations", plan.Operations.Count);
        if (inPlaceOnly && !plan.Operations.All(InPlace)) return null;
        // Removals past the guard's limit are held; everything else in the batch goes ahead.
        plan = guard.Apply(t, plan, state, keys, snapshot, key => Origin(key).Cause);
        if (plan.Operations.Count == 0) return ExecutionReport.Empty(t.Config.Name);
        var report = await t.Executor.ExecuteAsync(plan, s => s is null ? new ChangeOrigin("watch") : Origin(s), null, ct, LogLevel.Information).ConfigureAwait(false);
        t.Removals.Record(now, plan.Operations.Where(o => o.TakesAccessAway && !report.FailedSources.Contains(WatchGuard.KeyOf(o))));
        SyncLog.BatchExecuted(logger, t.Config.Name, report.Succeeded, report.Failed, (long)report.Elapsed.TotalMilliseconds);
        return report;
    }

    /// <summary>Where a queue key's change came from; "watch" when the engine does not know (queued by an earlier process).</summary>
    private ChangeOrigin Origin(string key) => originOf(key) ?? (key.StartsWith("group:", StringComparison.Ordinal) ? null : originOf(TargetExecutor.GroupKey(key))) ?? new ChangeOrigin("watch");

    /// <summary>
    /// The batch's span: the child of its source event when the batch serves one (the usual case for a change
    /// in watch mode: source write, plan, target call form one trace), linked to each of its events otherwise.
    /// </summary>
    private Activity? StartPlan(string target, IReadOnlyCollection<string> keys)
    {
        if (!SyncTelemetry.Source.HasListeners()) return null;
        var traces = keys.Select(k => Origin(k).Trace).Where(c => c != default).Distinct().Take(MaxLinks + 1).ToArray();
        var activity = traces.Length == 1
            ? SyncTelemetry.Source.StartActivity("sync.plan", ActivityKind.Internal, traces[0])
            : SyncTelemetry.Source.StartActivity("sync.plan", ActivityKind.Internal, default(ActivityContext), links: traces.Take(MaxLinks).Select(c => new ActivityLink(c)));
        activity?.SetTag("scimsync.target", target);
        activity?.SetTag("scimsync.keys", keys.Count);
        return activity;
    }
}
