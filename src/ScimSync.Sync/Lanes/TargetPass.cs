using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Lanes;

/// <summary>What a full read of one target leads to: how the read went, the drift it found, and the plan.</summary>
internal sealed record FullPlan(TargetRead Read, IReadOnlyList<DriftItem> Drift, SyncPlan Plan)
{
    public string? Incomplete => Read.Complete ? null : string.Join("; ", Read.Problems);
}

/// <summary>How one pass over one target ended.</summary>
/// <param name="Full">The read and the plan made from it; null when the target could not be read (see <paramref name="Error"/>) or a stop came first.</param>
/// <param name="Plan">The plan as applied: without the removals the guard holds, when it held them and applied the rest.</param>
/// <param name="HeldByGuard">The guard held the target (or, with nothing applied, would hold it).</param>
internal sealed record PassResult(string Target, FullPlan? Full, SyncPlan? Plan, ExecutionReport? Execution, bool HeldByGuard, string? Error = null, bool Stopped = false);

/// <summary>
/// The one pass over one target that a full run, a plan, a reconciliation and watch mode's periodic comparison
/// all make, so that they cannot drift apart: read the whole target into its shadow, correlate and plan
/// against the source, restrict the plan by what the read could prove and by the drift policy, guard it,
/// apply it, and record what came of it. What differs between them is only whether anything is applied and
/// what a guard hold does: a run someone started applies nothing on a held target; watch mode holds the
/// removals and applies the rest, as its queues do.
/// </summary>
internal sealed class TargetPass(ISyncState shadows, TimeProvider time, WatchGuard guard, ILogger log, CancellationToken stopping)
{
    /// <param name="apply">Apply the plan (a run; a reconciliation that repairs); otherwise only plan.</param>
    /// <param name="confirm">A person confirmed: the guard lets removals past its limit through.</param>
    /// <param name="watching">On a guard hold, hold the removals and apply the rest (watch mode); otherwise apply nothing.</param>
    /// <param name="span">The name of the pass's trace span.</param>
    public async Task<PassResult> RunAsync(TargetSlot t, SourceSnapshot snapshot, bool apply, bool confirm, bool watching, string cause, string span,
        IProgress<SyncProgress>? progress, CancellationToken outer)
    {
        var name = t.Config.Name;
        using var deadline = new Deadline(t.Config.Endpoint.Limits.RunDeadline, time, outer);
        var ct = deadline.Token;
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        using var activity = SyncTelemetry.Source.StartActivity(span);
        activity?.SetTag("scimsync.target", name);
        activity?.SetTag("scimsync.cause", cause);
        try
        {
            var full = await PlanFromFullReadAsync(t, snapshot, confirm, progress, reading.Token).ConfigureAwait(false);
            var plan = full.Plan;
            if (!apply) return new PassResult(name, full, plan, null, plan.NeedsConfirmation);
            var heldByGuard = false;
            if (plan.NeedsConfirmation && !confirm)
            {
                var rest = guard.HoldAll(name, plan);
                if (!watching)
                {
                    SyncLog.GuardStoppedRun(log, name, plan.GuardMessage ?? "held");
                    return new PassResult(name, full, plan, null, true);
                }
                plan = rest;
                heldByGuard = true;
            }
            var report = await t.ExecuteExclusiveAsync(plan, cause, progress, ct).ConfigureAwait(false);
            Record(t, full, report, heldByGuard, cause);
            return new PassResult(name, full, plan, report, heldByGuard);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !outer.IsCancellationRequested && !deadline.Expired)
        {
            return new PassResult(name, null, null, null, false, Stopped: true);
        }
        catch (Exception e) when (!outer.IsCancellationRequested)
        {
            // Whatever this target did fails this target only; the others go on.
            var error = TargetError(e, deadline, "limits.runTimeout");
            SyncLog.TargetRunFailed(log, name, cause, error);
            activity?.SetStatus(ActivityStatusCode.Error, error);
            return new PassResult(name, null, null, null, false, error);
        }
    }

    /// <summary>The whole plan ran (removals included): nothing stays held; a target brought fully up to date says so in the state.</summary>
    private void Record(TargetSlot t, FullPlan full, ExecutionReport report, bool heldByGuard, string cause)
    {
        var name = t.Config.Name;
        if (!heldByGuard && report.Stopped == 0) shadows.Batch(w => w.ReleaseHolds(name));
        SyncLog.TargetExecuted(log, name, report.Succeeded, report.Failed, (long)report.Elapsed.TotalMilliseconds);
        SyncLog.TargetRunDone(log, name, cause, report.Succeeded, report.Failed, (long)report.Elapsed.TotalMilliseconds);
        if (!heldByGuard && full.Incomplete is null && report.Failed == 0 && report.Stopped == 0)
            shadows.SetCheckpoint(EngineCheckpoints.CompleteRun(name), time.GetUtcNow().ToString("O"));
        MemoryTrace.Log(log, $"{name} executed");
    }

    /// <summary>
    /// Reads the whole target into its shadow and plans it. Drift is measured against what the engine last
    /// wrote; with <c>drift: report</c> it is left in place (the rest of the plan still runs). A read that
    /// did not add up plans nothing that takes away or repairs (<see cref="IncompleteRead"/>), and removals
    /// the guard already holds keep the target held until a person confirms.
    /// </summary>
    private async Task<FullPlan> PlanFromFullReadAsync(TargetSlot t, SourceSnapshot snapshot, bool confirm, IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var name = t.Config.Name;
        var p = progress is null ? null : new Progress<long>(n => progress.Report(new SyncProgress(name, "read", n, 0)));
        var sw = Stopwatch.StartNew();
        var before = shadows.AccountNames(name);
        TargetRead read;
        using (var deadline = new Deadline(t.Config.Endpoint.Limits.ReadDeadline, time, ct))
        {
            try
            {
                read = await new TargetReader(t.Client, shadows, time).RefreshAsync(t.Config, acceptShrink: confirm, p, deadline.Token).ConfigureAwait(false);
            }
            catch (ScimClientException e) when (TargetHealth.IsUnreachable(e))
            {
                t.Health.MarkDown(e.Detail ?? e.Message);
                throw;
            }
            catch (OperationCanceledException) when (deadline.Expired && !ct.IsCancellationRequested)
            {
                throw new TimeoutException($"the full read did not finish within {deadline} (limits.readTimeout)");
            }
        }
        // It answered (the read may still be incomplete, which is recorded apart): an outage recorded earlier is over.
        if (!t.Health.IsDown) shadows.SetCheckpoint(EngineCheckpoints.Down(name), null);
        var readMs = sw.Elapsed.TotalMilliseconds;
        MemoryTrace.Log(log, $"{name} read");
        var state = shadows.LoadState(name).WithAcceptedDrift(shadows, name);
        MemoryTrace.Log(log, $"{name} state loaded");
        var plan = t.Planner.Plan(snapshot, state, time.GetUtcNow());
        var drift = DriftDetector.Compare(name, before, state, t.Planner.ManagedAttributes);
        if (drift.Count > 0)
            SyncLog.DriftFound(log, name, drift.Count, string.Join(", ", drift.GroupBy(d => d.Kind).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}")),
                t.Config.Policies.Drift.ToString().ToLowerInvariant());
        if (!read.Complete) SyncLog.ReadIncomplete(log, name, string.Join("; ", read.Problems));
        plan = AfterRead(t.Config, plan, drift, read.Complete ? null : read.Problems);
        var held = shadows.HeldCount(name);
        if (!confirm && held > 0 && plan.GuardMessage is null && plan.Operations.Any(o => o.TakesAccessAway))
            plan = plan with { GuardMessage = $"the guard holds {held:N0} removals on this target until a person confirms them" };
        SyncLog.TargetPlanned(log, name, (long)readMs, plan.Operations.Count, (long)(sw.Elapsed.TotalMilliseconds - readMs));
        MemoryTrace.Log(log, $"{name} planned");
        return new FullPlan(read, drift, plan);
    }

    /// <summary>
    /// The rules every plan made after a read follows (a full read, the held plan `sync confirm` makes again):
    /// a read that could not prove it holds everything takes nothing away and repairs nothing; under
    /// <c>drift: report</c> drift is left in place.
    /// </summary>
    /// <param name="problems">Why the read was incomplete; null when it was complete.</param>
    public static SyncPlan AfterRead(TargetConfig target, SyncPlan plan, IReadOnlyList<DriftItem> drift, IReadOnlyList<string>? problems)
    {
        if (problems is not null) return IncompleteRead.Restrict(plan, drift, problems);
        return drift.Count > 0 && target.Policies.Drift == DriftReaction.Report ? DriftDetector.LeaveDriftAlone(plan, drift) : plan;
    }

    /// <summary>What an operator reads about a target's failure: the message, not the exception's type, unless it is unexpected.</summary>
    private static string TargetError(Exception e, Deadline deadline, string setting) => e switch
    {
        OperationCanceledException when deadline.Expired => $"did not finish within {deadline} ({setting})",
        _ when TargetFailure.IsExpected(e) => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
