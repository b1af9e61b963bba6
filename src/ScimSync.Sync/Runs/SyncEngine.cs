using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ScimSync.Client;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.Shadows;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Runs;

/// <summary>The outcome of planning or running one target.</summary>
/// <param name="Incomplete">Why the read of the target could not be trusted to hold everything (then nothing was taken away or repaired on it), or null.</param>
/// <param name="Stopped">The engine was asked to stop while this target was read: nothing was planned or applied on it.</param>
public sealed record TargetRun(string Target, SyncPlan? Plan, ExecutionReport? Execution, string? Error, bool HeldByGuard, string? Incomplete = null, bool Stopped = false)
{
    /// <summary>Something on this target did not work: it could not be read or run, its read did not add up, or an operation failed.</summary>
    public bool Failed => Error is not null || Incomplete is not null || (Execution?.Failed ?? 0) > 0;
}

public sealed record RunReport(DateTimeOffset Started, TimeSpan Elapsed, int SourceUsers, int SourceGroups, long? SourcePosition, IReadOnlyList<TargetRun> Targets)
{
    public bool Succeeded => Targets.All(t => !t.Failed && !t.HeldByGuard);

    /// <summary>Operations applied (on a target, or a link in the engine's state), all targets together.</summary>
    public int Applied => Targets.Sum(t => t.Execution?.Succeeded ?? 0);

    /// <summary>The engine was asked to stop during the run: some work was not started (and waits for the next run).</summary>
    public bool Stopped => Targets.Any(t => t.Stopped || (t.Execution?.Stopped ?? 0) > 0);

    public RunOutcome Outcome => RunOutcomes.Of(Targets.Any(t => t.HeldByGuard), Targets.Any(t => t.Failed), Applied);
}

/// <summary>How a run, plan or reconciliation ended, all targets together (the CLI's exit code).</summary>
public enum RunOutcome
{
    /// <summary>Nothing failed (a stop on request is not a failure: what was not started waits for the next run).</summary>
    Succeeded,

    /// <summary>The mass-change guard held a target (a plan: would hold it) until a person confirms.</summary>
    HeldByGuard,

    /// <summary>At least one operation was applied, and something failed: an operation, or a whole target (unread, or a read that did not add up).</summary>
    PartiallyApplied,

    /// <summary>Something failed and nothing was applied.</summary>
    Failed,
}

public static class RunOutcomes
{
    /// <summary>A hold wins: it needs a person, whatever else happened; then failures, split by whether anything was applied.</summary>
    public static RunOutcome Of(bool held, bool failed, int applied) =>
        held ? RunOutcome.HeldByGuard : !failed ? RunOutcome.Succeeded : applied > 0 ? RunOutcome.PartiallyApplied : RunOutcome.Failed;
}

/// <summary>Where the engine stands, from its own state only (no call to any target).</summary>
/// <param name="LastRead">How the last full read of the target went (when it was last complete, and why not since).</param>
/// <param name="Held">Removals the mass-change guard holds until a person confirms them.</param>
public sealed record TargetStatus(string Target, int Accounts, int Links, int Groups, int Pending, IReadOnlyList<AuditRecord> RecentAudit,
    TargetReadRecord? LastRead, IReadOnlyList<HeldOperation> Held)
{
    /// <summary>Since when the target has not answered, as the engine last found out (kept in the state, so another process sees it too).</summary>
    public DateTimeOffset? UnreachableSince { get; init; }

    public string? UnreachableReason { get; init; }

    /// <summary>When the longest-waiting queued change was first queued.</summary>
    public DateTimeOffset? OldestQueued { get; init; }

    /// <summary>When the last full run that brought this target fully up to date started.</summary>
    public DateTimeOffset? LastCompleteRun { get; init; }

    /// <summary>Why a person should look at this target now (<see cref="TargetAttention"/>); empty when nothing needs attention.</summary>
    public IReadOnlyList<string> Attention { get; init; } = [];

    /// <summary>The verdict `sync status` exits non-zero on, and the watch listener's readiness fails on.</summary>
    public bool NeedsAttention => Attention.Count > 0;
}

/// <summary>Whether a watching engine is ready: every target answers and nothing waits too long (<see cref="TargetAttention"/>).</summary>
public sealed record EngineReadiness(bool Ready, IReadOnlyList<string> Reasons);

/// <summary>
/// The management side: reads the source, plans every target, applies the plans, and in watch mode
/// follows the source's feed, expires contractors at their end date and compares everything periodically.
/// Each target has its own client, limits and queue, so a target that is down holds up nobody else.
/// </summary>
public sealed partial class SyncEngine : IDisposable
{
    private readonly SyncConfig _config;
    private readonly TimeProvider _time;
    private readonly ShadowStore _shadows;
    private readonly ScimClient? _source;
    private readonly IReadOnlyList<TargetSlot> _targets;
    private readonly ILogger _log;
    private readonly ILoggerFactory _loggers;
    private readonly SyncTelemetry _telemetry;
    private readonly WatchGuard _watchGuard;
    private readonly Func<EndpointConfig, HttpMessageHandler?>? _handlers;
    // Where the change last queued for each key came from (its cause, journal position and trace), for the
    // audit, the logs and the trace of the operation that applies it.
    private readonly ConcurrentDictionary<string, ChangeOrigin> _origins = new(StringComparer.Ordinal);
    // Since when the source's feed or queries have been failing (null while they work), and why: readiness,
    // asked from the listener's threads while the feed loop writes them, hence the lock.
    private readonly Lock _sourceGate = new();
    private DateTimeOffset? _sourceFailingSince;
    private string? _sourceFailure;
    private readonly Client.Updates.PatchByPut _localPatch = new();
    private const string LastModifiedCheckpoint = "source.lastModifiedSince";
    private const string ExpiryCheckpoint = "expiry.checkedUntil";
    // Written by every executing full run: "true" only when every target was brought fully up to date (no
    // error, no guard hold, no failed operation), which is what `watch` may resume from.
    private const string CompleteCheckpoint = "run.complete";
    // Per target: when its last full run brought it fully up to date, and since when it has not answered (with
    // why). Kept in the state so that `sync status`, another process, sees what the watching engine found.
    private static string CompleteRunCheckpoint(string target) => "run.complete:" + target;
    private static string DownCheckpoint(string target) => "target.down:" + target;
    private readonly Lock _snapshotGate = new();
    private SourceSnapshot? _snapshot;
    private DateTimeOffset _snapshotStarted;
    // While a full read of the source runs beside the feed (watch mode's periodic comparison), the changes
    // the feed applies are noted here and laid over the read when it ends: the read may have fetched an
    // account before its change, and must not put the older state back.
    private Dictionary<string, SourceAccount?>? _userOverlay;
    private Dictionary<string, SourceGroup?>? _groupOverlay;
    private int _readers;
    private DateTime _fileStamp;
    // Stop(): reads and waits end, no operation starts, operations in flight run to their answer and are recorded.
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="loggers">Where the engine and its clients log (SyncLog, ClientLog; docs/logging.md); nowhere when null.</param>
    /// <param name="handlers">Test seam: the HTTP handler for an endpoint (a fault-injecting proxy, a stub).</param>
    public SyncEngine(SyncConfig config, TimeProvider time, ILoggerFactory? loggers = null, Func<EndpointConfig, HttpMessageHandler?>? handlers = null)
    {
        _config = config;
        _time = time;
        _handlers = handlers;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _log = _loggers.CreateLogger<SyncEngine>();
        _shadows = ShadowStore.Open(config.StateDirectory, KeyRing.ForDirectory(config.StateDirectory, config.KeyFile));
        var registry = SchemaRegistry.CreateDefault();
        var clientLog = _loggers.CreateLogger<ScimClient>();
        if (config.Source is { Type: SourceType.Scim, Endpoint: { } src }) _source = Connections.Open(src, "source", time, handlers?.Invoke(src), logger: clientLog);
        _watchGuard = new WatchGuard(_shadows, time, _loggers.CreateLogger<WatchGuard>());
        _telemetry = new SyncTelemetry(Gauges, time);
        var executorLog = _loggers.CreateLogger<TargetExecutor>();
        _targets = config.Targets.Select(t =>
        {
            // One quick retry for a call that got no answer: after that the target is marked down and probed.
            var client = Connections.Open(t.Endpoint, t.Name, time, handlers?.Invoke(t.Endpoint), maxUnansweredRetries: 1, logger: clientLog);
            var health = new TargetHealth(time);
            var slot = new TargetSlot(t, client, new TargetPlanner(t, config.Kinds, registry),
                new TargetExecutor(client, _shadows, time, t.Endpoint.Limits.Concurrency)
                {
                    BatchSize = t.Groups.BatchSize, MemberRemoval = t.Endpoint.Dialect.MemberRemoval, Health = health, Logger = executorLog, Telemetry = _telemetry,
                    Stopping = _stopping.Token, Secrets = Mapping.SecretAttributes.From(t.Mapping),
                },
                health);
            health.WentDown += reason =>
            {
                _shadows.SetCheckpoint(DownCheckpoint(t.Name), $"{health.DownSince ?? time.GetUtcNow():O} {reason}");
                _telemetry.Outage(t.Name);
                SyncLog.TargetDown(_log, t.Name, reason, _shadows.Counts(t.Name).Pending);
            };
            return slot;
        }).ToArray();
    }

    /// <summary>
    /// For the command line until it configures logging itself: every entry of Information and above becomes
    /// one line of text for <paramref name="log"/>. Hosts pass an <see cref="ILoggerFactory"/> instead.
    /// </summary>
    public SyncEngine(SyncConfig config, TimeProvider time, Action<string> log, Func<EndpointConfig, HttpMessageHandler?>? handlers = null)
        : this(config, time, LineLogger.Factory(log), handlers)
    {
    }

    public ShadowStore Shadows => _shadows;

    /// <summary>
    /// Asks a run, reconciliation or watch to end soon without losing anything: reads of the source and the
    /// targets are abandoned (they change nothing), no further operation starts, and the operations in flight
    /// finish and are written to the shadow. The call returns at once; the run's task then completes (its report
    /// counts what was not started as <see cref="ExecutionReport.Stopped"/>), and <see cref="Dispose"/> flushes the state.
    /// </summary>
    public void Stop() => _stopping.Cancel();

    public bool Stopping => _stopping.IsCancellationRequested;

    public async Task<SourceSnapshot> ReadSourceAsync(IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var p = progress is null ? null : new Progress<long>(n => progress.Report(new SyncProgress("source", "read", n, 0)));
        var started = _time.GetUtcNow();
        if (_source is null)
            lock (_snapshotGate)
            {
                // Read and swapped under the lock, like the file loop's imports: the later read is the one that stays.
                if (File.Exists(_config.Source.FilePath)) _fileStamp = File.GetLastWriteTimeUtc(_config.Source.FilePath);
                _snapshot = FileSource.Read(_config.Source.FilePath!, _config.Source.Format, _config.Kinds);
                _snapshotStarted = started;
                return _snapshot;
            }

        lock (_snapshotGate)
        {
            _readers++;
            _userOverlay ??= new Dictionary<string, SourceAccount?>(StringComparer.Ordinal);
            _groupOverlay ??= new Dictionary<string, SourceGroup?>(StringComparer.Ordinal);
        }
        SourceSnapshot? read = null;
        using var deadline = new Deadline(_config.Source.Endpoint!.Limits.ReadDeadline, _time, ct);
        try
        {
            read = await new ScimSourceReader(_source, _config.Kinds).ReadAsync(p, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.Expired && !ct.IsCancellationRequested)
        {
            throw new ScimClientException(0, null, $"reading the source did not finish within {deadline} (source.limits.readTimeout)");
        }
        finally
        {
            lock (_snapshotGate)
            {
                if (read is not null)
                {
                    read = read.With(_userOverlay!.Values.OfType<SourceAccount>(), _userOverlay.Where(kv => kv.Value is null).Select(kv => kv.Key),
                        _groupOverlay!.Values.OfType<SourceGroup>(), _groupOverlay.Where(kv => kv.Value is null).Select(kv => kv.Key), null);
                    _snapshot = read;
                    _snapshotStarted = started;
                }
                if (--_readers == 0)
                {
                    _userOverlay = null;
                    _groupOverlay = null;
                }
            }
        }
        return read;
    }

    /// <summary>
    /// After a resumed engine has read the source: the members who joined or left a group while it was
    /// stopped are queued (with the group) for every target. Their events come again from the feed, but
    /// find the fresh copy already up to date, so they alone could not say who moved. Accounts linked on a
    /// target whose source account is gone are queued too (lastModified queries never see a deletion).
    /// </summary>
    public int QueueChangesSinceLastRun()
    {
        var snapshot = _snapshot ?? throw new InvalidOperationException("the source has not been read");
        var known = _shadows.SourceGroupMembers();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in known.Keys.Union(snapshot.Groups.Keys))
        {
            var before = known.GetValueOrDefault(id) ?? [];
            var after = snapshot.Groups.GetValueOrDefault(id)?.Members.ToHashSet(StringComparer.Ordinal) ?? [];
            if (before.SetEquals(after)) continue;
            keys.Add(TargetExecutor.GroupKey(id));
            keys.UnionWith(before.Except(after));
            keys.UnionWith(after.Except(before));
        }
        var now = _time.GetUtcNow();
        var gone = _targets.ToDictionary(t => t, t => _shadows.LinkedSources(t.Config.Name).Where(id => !snapshot.Users.ContainsKey(id)).ToArray());
        _shadows.Batch(w =>
        {
            foreach (var t in _targets)
            {
                foreach (var key in keys) w.Enqueue(t.Config.Name, key, true, now);
                foreach (var id in gone[t]) w.Enqueue(t.Config.Name, id, true, now);
            }
            w.ReplaceSourceGroups(snapshot.Groups.Values.Select(g => (g.Id, g.Members)));
        });
        return keys.Count + gone.Values.Sum(g => g.Length);
    }

    /// <summary>
    /// Whether watch mode can carry on from where a previous process stopped, without a full run first: the
    /// last full run brought every target up to date (state from before that checkpoint existed does not
    /// qualify: it also lacks the membership baseline), and the source's changes since then can be found (the engine's feed
    /// subscription, or a lastModified checkpoint). Per-target queues are durable and resume as they were.
    /// A file source cannot resume: its previous import is not kept, so it always starts with a full run.
    /// </summary>
    public bool CanResume =>
        _source is not null && _shadows.GetCheckpoint(CompleteCheckpoint) == "true" &&
        (_config.Source.Feed == FeedMode.Poll ? SourceChanges().Exists : _shadows.GetCheckpoint(LastModifiedCheckpoint) is not null);

    /// <summary>Dry run: reads source and targets (refreshing the shadows) and returns what a run would do.</summary>
    public Task<RunReport> PlanAsync(IProgress<SyncProgress>? progress, CancellationToken ct) => RunCoreAsync(execute: false, confirm: false, watching: false, progress, ct);

    /// <summary>A full run: the initial load, or a complete comparison and repair of every target.</summary>
    public Task<RunReport> RunAsync(bool confirm, IProgress<SyncProgress>? progress, CancellationToken ct) => RunCoreAsync(execute: true, confirm, watching: false, progress, ct);

    /// <param name="watching">
    /// The periodic comparison of watch mode: a guard hold there holds the removals and applies the rest, as
    /// watch mode's queues do; a run someone started applies nothing on a held target.
    /// </param>
    private async Task<RunReport> RunCoreAsync(bool execute, bool confirm, bool watching, IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var started = _time.GetUtcNow();
        var sw = Stopwatch.StartNew();
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var snapshot = await ReadSourceAsync(progress, reading.Token).ConfigureAwait(false);
        SyncLog.SourceRead(_log, snapshot.Users.Count, snapshot.Groups.Count, sw.ElapsedMilliseconds);
        Memory("source read");
        // The feed starts before any target is touched: changes made during a long initial load queue up at
        // the source and are applied afterwards, none lost in between.
        if (execute && _source is not null && _config.Source.Feed == FeedMode.Poll)
            await EnsureFeedAsync(snapshot.Position, ct).ConfigureAwait(false);
        var runId = "run:" + started.ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture);
        var results = await Task.WhenAll(_targets.Select(t => RunTargetAsync(t, snapshot, execute, confirm, watching, runId, progress, ct))).ConfigureAwait(false);
        var complete = results.All(t => !t.Failed && !t.HeldByGuard && !t.Stopped && (t.Execution?.Stopped ?? 0) == 0);
        DateTimeOffset? expiryFrom = ExpiryCheckedUntil() is { } checkedUntil && checkedUntil <= started ? null : started;
        if (execute)
            _shadows.Batch(w =>
            {
                w.SetCheckpoint("run.last", started.ToString("O"));
                w.SetCheckpoint(CompleteCheckpoint, complete ? "true" : "false");
                // Every target was planned against these memberships: the baseline a resumed engine compares with.
                w.ReplaceSourceGroups(snapshot.Groups.Values.Select(g => (g.Id, g.Members)));
                // Clocks of two machines disagree a little: look back a few seconds (re-applying is harmless).
                if (_source is not null && _config.Source.Feed == FeedMode.LastModified)
                    w.SetCheckpoint(LastModifiedCheckpoint, (started - TimeSpan.FromSeconds(5)).ToString("O"));
                // The plans judged end dates as of about now: watch mode's expiry check starts from here, so an end
                // date that passes between this run and the first check is not left to the next full comparison.
                if (expiryFrom is not null) w.SetCheckpoint(ExpiryCheckpoint, expiryFrom.Value.ToString("O"));
            });
        return new RunReport(started, sw.Elapsed, snapshot.Users.Count, snapshot.Groups.Count, snapshot.Position, results);
    }

    /// <summary>
    /// The feed the configuration asks for (<c>source.feed: poll</c>, the default) is set up, or the run stops
    /// before any target is touched: falling back to lastModified queries without saying so would miss
    /// every deletion until the next full comparison.
    /// </summary>
    private async Task EnsureFeedAsync(long? position, CancellationToken ct)
    {
        if (position is null)
            throw new SourceFeedUnavailableException("the source reports no journal position, so it has no ScimSync event feed; set source.feed: lastModified to follow it by queries");
        try
        {
            await SourceChanges().EnsureAsync(position.Value, ct).ConfigureAwait(false);
        }
        catch (ScimClientException e) when (e.Status is 401 or 403 or 404)
        {
            throw new SourceFeedUnavailableException(e.Status == 404
                ? $"the source has no event feed API (404 {e.Detail}); set source.feed: lastModified to follow it by queries"
                : $"the source credential may not create the engine's feed subscription ({e.Status} {e.Detail}): it needs the admin scope; or set source.feed: lastModified, which needs scim:read only", e);
        }
    }

    /// <summary>What a full read of one target leads to: how the read went, the drift it found, and the plan.</summary>
    private sealed record FullPlan(TargetRead Read, IReadOnlyList<DriftItem> Drift, SyncPlan Plan)
    {
        public string? Incomplete => Read.Complete ? null : string.Join("; ", Read.Problems);
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
        var before = _shadows.AccountNames(name);
        TargetRead read;
        using (var deadline = new Deadline(t.Config.Endpoint.Limits.ReadDeadline, _time, ct))
        {
            try
            {
                read = await new TargetReader(t.Client, _shadows, _time).RefreshAsync(t.Config, acceptShrink: confirm, p, deadline.Token).ConfigureAwait(false);
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
        if (!t.Health.IsDown) _shadows.SetCheckpoint(DownCheckpoint(name), null);
        var readMs = sw.Elapsed.TotalMilliseconds;
        Memory($"{name} read");
        var state = _shadows.LoadState(name);
        Memory($"{name} state loaded");
        var plan = t.Planner.Plan(snapshot, state, _time.GetUtcNow());
        var drift = DriftDetector.Compare(name, before, state, t.Planner.ManagedAttributes);
        if (drift.Count > 0)
            SyncLog.DriftFound(_log, name, drift.Count, string.Join(", ", drift.GroupBy(d => d.Kind).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}")),
                t.Config.Policies.Drift.ToString().ToLowerInvariant());
        if (!read.Complete)
        {
            SyncLog.ReadIncomplete(_log, name, string.Join("; ", read.Problems));
            plan = IncompleteRead.Restrict(plan, drift, read.Problems);
        }
        else if (drift.Count > 0 && t.Config.Policies.Drift == DriftReaction.Report) plan = DriftDetector.LeaveDriftAlone(plan, drift);
        var held = _shadows.HeldCount(name);
        if (!confirm && held > 0 && plan.GuardMessage is null && plan.Operations.Any(MassChangeGuard.IsRemoval))
            plan = plan with { GuardMessage = $"the guard holds {held:N0} removals on this target until a person confirms them" };
        SyncLog.TargetPlanned(_log, name, (long)readMs, plan.Operations.Count, (long)(sw.Elapsed.TotalMilliseconds - readMs));
        Memory($"{name} planned");
        return new FullPlan(read, drift, plan);
    }

    private async Task<TargetRun> RunTargetAsync(TargetSlot t, SourceSnapshot snapshot, bool execute, bool confirm, bool watching, string cause, IProgress<SyncProgress>? progress, CancellationToken outer)
    {
        var name = t.Config.Name;
        using var deadline = new Deadline(t.Config.Endpoint.Limits.RunDeadline, _time, outer);
        var ct = deadline.Token;
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        using var activity = SyncTelemetry.Source.StartActivity(execute ? "sync.run" : "sync.plan_run");
        activity?.SetTag("scimsync.target", name);
        activity?.SetTag("scimsync.cause", cause);
        try
        {
            var full = await PlanFromFullReadAsync(t, snapshot, confirm, progress, reading.Token).ConfigureAwait(false);
            var plan = full.Plan;
            if (!execute) return new TargetRun(name, plan, null, null, plan.NeedsConfirmation, full.Incomplete);
            var heldByGuard = false;
            if (plan.NeedsConfirmation && !confirm)
            {
                // Held: a run someone started applies nothing here; watch mode applies all but the removals.
                var rest = _watchGuard.HoldAll(name, plan);
                if (!watching)
                {
                    SyncLog.GuardStoppedRun(_log, name, plan.GuardMessage ?? "held");
                    return new TargetRun(name, plan, null, null, true, full.Incomplete);
                }
                plan = rest;
                heldByGuard = true;
            }
            ExecutionReport report;
            await t.Structure.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                report = await t.Executor.ExecuteAsync(plan, cause, progress, ct).ConfigureAwait(false);
            }
            finally
            {
                t.Structure.Release();
            }
            // The whole plan ran, removals included: nothing is held on this target any more.
            if (!heldByGuard && report.Stopped == 0) _shadows.Batch(w => w.ReleaseHolds(name));
            SyncLog.TargetExecuted(_log, name, report.Succeeded, report.Failed, (long)report.Elapsed.TotalMilliseconds);
            SyncLog.TargetRunDone(_log, name, cause, report.Succeeded, report.Failed, (long)report.Elapsed.TotalMilliseconds);
            if (!heldByGuard && full.Incomplete is null && report.Failed == 0 && report.Stopped == 0)
                _shadows.SetCheckpoint(CompleteRunCheckpoint(name), _time.GetUtcNow().ToString("O"));
            Memory($"{name} executed");
            return new TargetRun(name, plan, report, null, heldByGuard, full.Incomplete);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !outer.IsCancellationRequested && !deadline.Expired)
        {
            return new TargetRun(name, null, null, null, false, Stopped: true);
        }
        catch (Exception e) when (!outer.IsCancellationRequested)
        {
            // Whatever this target did fails this target only; the run goes on with the others.
            var error = TargetError(e, deadline, "limits.runTimeout");
            SyncLog.TargetRunFailed(_log, name, cause, error);
            activity?.SetStatus(ActivityStatusCode.Error, error);
            return new TargetRun(name, null, null, error, false);
        }
    }

    /// <summary>
    /// Reads every target and compares it with its shadow (out-of-band changes) and with what should be
    /// there (the plan). With <paramref name="repair"/>, targets whose drift policy is "repair" get the plan applied.
    /// </summary>
    public async Task<ReconcileReport> ReconcileAsync(bool repair, bool confirm, IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var started = _time.GetUtcNow();
        var sw = Stopwatch.StartNew();
        using var readingSource = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var snapshot = await ReadSourceAsync(progress, readingSource.Token).ConfigureAwait(false);
        var cause = "reconcile:" + started.ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture);
        var results = await Task.WhenAll(_targets.Select(async t =>
        {
            var name = t.Config.Name;
            using var deadline = new Deadline(t.Config.Endpoint.Limits.RunDeadline, _time, ct);
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stopping.Token);
            try
            {
                var (read, drift, plan) = await PlanFromFullReadAsync(t, snapshot, confirm, progress, reading.Token).ConfigureAwait(false);
                ExecutionReport? exec = null;
                var doRepair = repair && (!plan.NeedsConfirmation || confirm);
                if (repair && !doRepair) _watchGuard.HoldAll(name, plan);
                if (doRepair)
                {
                    await t.Structure.WaitAsync(ct).ConfigureAwait(false);
                    try
                    {
                        exec = await t.Executor.ExecuteAsync(plan, cause, progress, deadline.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        t.Structure.Release();
                    }
                    if (exec.Stopped == 0) _shadows.Batch(w => w.ReleaseHolds(name));
                }
                return new TargetReconcile(name, read.Accounts, drift, plan, doRepair && read.Complete && t.Config.Policies.Drift == DriftReaction.Repair, null, exec,
                    read.Complete ? null : string.Join("; ", read.Problems), HeldByGuard: repair && !doRepair);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !ct.IsCancellationRequested && !deadline.Expired)
            {
                return new TargetReconcile(name, 0, [], new SyncPlan(name, [], [], new Dictionary<Situation, int>(), 0, null), false, null, null, Stopped: true);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                return new TargetReconcile(name, 0, [], new SyncPlan(name, [], [], new Dictionary<Situation, int>(), 0, null), false,
                    TargetError(e, deadline, "limits.runTimeout"), null);
            }
        })).ConfigureAwait(false);
        return new ReconcileReport(started, sw.Elapsed, results);
    }

    /// <summary>What an operator reads about a target's failure: the message, not the exception's type, unless it is unexpected.</summary>
    private static string TargetError(Exception e, Deadline deadline, string setting) => e switch
    {
        OperationCanceledException when deadline.Expired => $"did not finish within {deadline} ({setting})",
        ScimClientException or HttpRequestException or TimeoutException or TaskCanceledException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>
    /// Each target from the engine's state, with the verdict <see cref="TargetStatus.NeedsAttention"/> (and its
    /// reasons) by the configuration's <c>health</c> thresholds; `sync status` exits non-zero when any target needs it.
    /// </summary>
    public IReadOnlyList<TargetStatus> Status(int audit = 10)
    {
        var now = _time.GetUtcNow();
        return _targets.Select(t =>
        {
            var name = t.Config.Name;
            var (accounts, links, groups, pending) = _shadows.Counts(name);
            var (downSince, downReason) = Down(t);
            var status = new TargetStatus(name, accounts, links, groups, pending, _shadows.Audit(audit, name), _shadows.LastRead(name), _shadows.Holds(name))
            {
                UnreachableSince = downSince,
                UnreachableReason = downReason,
                OldestQueued = _shadows.Summary(name).OldestQueued,
                LastCompleteRun = LastCompleteRun(name),
            };
            return status with { Attention = TargetAttention.Assess(status, _config.Health, now) };
        }).ToArray();
    }

    /// <summary>
    /// Readiness of a watching engine: no target needs attention (<see cref="TargetAttention"/>), and the source
    /// has not been failing for longer than <see cref="HealthConfig.UnreachableFor"/>.
    /// </summary>
    public EngineReadiness Readiness()
    {
        var reasons = Status(audit: 0).SelectMany(s => s.Attention.Select(a => $"{s.Target}: {a}")).ToList();
        lock (_sourceGate)
            if (_sourceFailingSince is { } since && _time.GetUtcNow() - since >= _config.Health.UnreachableFor)
                reasons.Add($"source: failing since {since:u} ({_sourceFailure})");
        return new EngineReadiness(reasons.Count == 0, reasons);
    }

    /// <summary>Since when a target has not answered: this process's own finding, else what the state says an earlier one found.</summary>
    private (DateTimeOffset? Since, string? Reason) Down(TargetSlot t)
    {
        if (t.Health.IsDown) return (t.Health.DownSince, t.Health.LastError);
        var saved = _shadows.GetCheckpoint(DownCheckpoint(t.Config.Name));
        if (saved is null) return (null, null);
        var space = saved.IndexOf(' ', StringComparison.Ordinal);
        return DateTimeOffset.TryParse(space < 0 ? saved : saved[..space], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var at)
            ? (at, space < 0 ? null : saved[(space + 1)..]) : (null, null);
    }

    private DateTimeOffset? LastCompleteRun(string target) =>
        DateTimeOffset.TryParse(_shadows.GetCheckpoint(CompleteRunCheckpoint(target)), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.RoundtripKind, out var at) ? at : null;

    /// <summary>For the metrics: each target's queue, guard and health, from cheap queries.</summary>
    private IReadOnlyList<TargetGauges> Gauges() => _targets.Select(t =>
    {
        var summary = _shadows.Summary(t.Config.Name);
        return new TargetGauges(t.Config.Name, summary.Queued, summary.OldestQueued, summary.Held, Down(t).Since is null, LastCompleteRun(t.Config.Name));
    }).ToArray();

    /// <summary>
    /// Keeps every target in sync until cancelled: source changes from the feed (or lastModified queries)
    /// are queued per target, urgent first; each target drains its own queue; contractors expire at their
    /// end date; every <see cref="SourceConfig.FullCompareInterval"/> a full comparison repairs anything missed.
    /// </summary>
    /// <remarks>
    /// Ends when <paramref name="ct"/> is cancelled (operations in flight are abandoned) or after <see cref="Stop"/>
    /// (they finish first: the loops and waits end, the operations run to their answer under <paramref name="ct"/>).
    /// </remarks>
    public async Task WatchAsync(IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var work = ct;
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        ct = watching.Token;
        if (_snapshot is null) await ReadSourceAsync(progress, ct).ConfigureAwait(false);
        var tasks = new List<Task> { ExpiryLoopAsync(ct), FullCompareLoopAsync(ct, work) };
        var queues = new TargetQueueWorker(_shadows, _time, _watchGuard, () => _snapshot!,
            key => _origins.TryGetValue(key, out var origin) ? origin : null, _loggers.CreateLogger<TargetQueueWorker>());
        tasks.AddRange(_targets.Select(t => queues.RunAsync(t, ct, work)));
        tasks.AddRange(_targets.Select(t => t.Health.ProbeWhileDownAsync(t.Client, outage =>
        {
            _shadows.SetCheckpoint(DownCheckpoint(t.Config.Name), null);
            SyncLog.TargetUp(_log, t.Config.Name, Math.Round(outage.TotalSeconds, 1), _shadows.Counts(t.Config.Name).Pending);
            t.Wake(urgent: true);
        }, ct)));
        if (_source is not null && _config.Source.Feed == FeedMode.Poll && !SourceChanges().Exists)
            throw new SourceFeedUnavailableException("the engine has no feed subscription at the source yet: run `scimsync sync run` (or `sync watch`, which starts with one)");
        if (_source is not null)
            tasks.Add(_config.Source.Feed == FeedMode.Poll ? FeedLoopAsync(ct) : LastModifiedLoopAsync(ct));
        else
            tasks.Add(FileLoopAsync(ct));
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Where the source's changes come from after a snapshot: its RFC 8936 feed, or (<c>source.changes.nats</c>) the
    /// JetStream stream its server relays the journal to. One instance: a JetStream consumer keeps its connection.
    /// </summary>
    private ISourceChanges SourceChanges() => _changes ??= _config.Source.Changes is { } stream
        ? new JetStreamChanges(stream, _shadows, "engine")
        : new SourceFeed(_source!, _shadows, "engine");

    private ISourceChanges? _changes;

    private async Task FeedLoopAsync(CancellationToken ct)
    {
        var feed = SourceChanges();
        var reader = new ScimSourceReader(_source!, _config.Kinds);
        IReadOnlyCollection<string> ack = [];
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var polled = Stopwatch.StartNew();
                var changes = await feed.PollAsync(ack, returnImmediately: false, ct).ConfigureAwait(false);
                SourceWorks();
                ack = [];
                if (changes.Count == 0) continue;
                var pollMs = polled.Elapsed.TotalMilliseconds;
                // Urgent changes (and the other changes to the same resources, to keep their order) are
                // applied and queued before the rest of a large batch, so that they are not held up by it.
                var urgent = changes.Where(c => c.Urgent).Select(c => (c.ResourceType, c.Id)).ToHashSet();
                var first = changes.Where(c => urgent.Contains((c.ResourceType, c.Id))).ToArray();
                if (first.Length > 0 && first.Length < changes.Count)
                {
                    await ApplyChangesAsync(first, reader, ct).ConfigureAwait(false);
                    SyncLog.FeedUrgentFirst(_log, first.Length, changes.Count, (long)(polled.Elapsed.TotalMilliseconds - pollMs));
                    await ApplyChangesAsync(changes.Where(c => !urgent.Contains((c.ResourceType, c.Id))).ToArray(), reader, ct).ConfigureAwait(false);
                }
                else await ApplyChangesAsync(changes, reader, ct).ConfigureAwait(false);
                SyncLog.FeedBatch(_log, changes.Count, (long)pollMs, (long)(polled.Elapsed.TotalMilliseconds - pollMs));
                // A trickle of events would otherwise cost a poll round trip each; a short pause lets a batch
                // form (at most this much latency, never when a backlog is being drained).
                if (changes.Count < 20 && !changes.Any(c => c.Urgent)) await Task.Delay(TimeSpan.FromMilliseconds(40), _time, ct).ConfigureAwait(false);
                ack = changes.Select(c => c.Jti).ToArray();
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // A SET that cannot be read (or verified) stays unacknowledged and comes back; the loop carries on.
                SourceFails(e.Message);
                SyncLog.FeedFailed(_log, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Brings the snapshot up to date with a batch of changes and queues them for every target. Several
    /// changes to one account collapse into one (its current state is read once), so a backlog coalesces.
    /// </summary>
    private async Task ApplyChangesAsync(IReadOnlyList<SourceChange> changes, ScimSourceReader reader, CancellationToken ct)
    {
        var snapshot = _snapshot!;
        var users = changes.Where(c => c.ResourceType == "User").GroupBy(c => c.Id).ToArray();
        var upserts = new ConcurrentBag<SourceAccount>();
        var deletes = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(users, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (g, token) =>
        {
            if (LocalState(snapshot.Users.GetValueOrDefault(g.Key), g.ToArray()) is var (known, state) && known)
            {
                if (state is null) deletes.Add(g.Key);
                else upserts.Add(state);
                return;
            }
            if (await reader.GetUserAsync(g.Key, token).ConfigureAwait(false) is { } account) upserts.Add(account);
            else deletes.Add(g.Key);
        }).ConfigureAwait(false);
        var groupUpserts = new Dictionary<string, SourceGroup>(StringComparer.Ordinal);
        var groupDeletes = new List<string>();
        foreach (var c in changes.Where(c => c.ResourceType == "Group"))
        {
            if (c.Deleted) { groupDeletes.Add(c.Id); groupUpserts.Remove(c.Id); continue; }
            var current = groupUpserts.GetValueOrDefault(c.Id) ?? snapshot.Groups.GetValueOrDefault(c.Id);
            if (current is not null && c.AlreadyIn(current.Version)) continue;
            SourceGroup? next = c.Data is not null ? ScimSourceReader.ToGroup(c.Data)
                : c.Patch is not null && current is not null ? GroupMembersPatch.Apply(current, c.Patch) : null;
            if (next is not null && c.Data is null && c.Version is { } gv)
                next = next with { Version = gv };
            next ??= await reader.GetGroupAsync(c.Id, ct).ConfigureAwait(false);
            if (next is null) groupDeletes.Add(c.Id);
            else groupUpserts[c.Id] = next;
        }
        SourceSnapshot was, updated;
        lock (_snapshotGate)
        {
            was = _snapshot!;
            updated = _snapshot = was.With(upserts, deletes, groupUpserts.Values, groupDeletes, null);
            if (_userOverlay is not null)
            {
                foreach (var u in upserts) _userOverlay[u.Id] = u;
                foreach (var d in deletes) _userOverlay[d] = null;
            }
            if (_groupOverlay is not null)
            {
                foreach (var g in groupUpserts.Values) _groupOverlay[g.Id] = g;
                foreach (var d in groupDeletes) _groupOverlay[d] = null;
            }
        }

        var now = _time.GetUtcNow();
        var keys = new Dictionary<string, bool>(StringComparer.Ordinal);
        // Membership decides scope (and group contents) on some targets: the members who joined or left are
        // queued themselves, so that no target ever has to look at the whole group.
        foreach (var id in groupUpserts.Keys.Concat(groupDeletes).Distinct())
        {
            var before = was.Groups.GetValueOrDefault(id)?.Members ?? [];
            var after = updated.Groups.GetValueOrDefault(id)?.Members ?? [];
            foreach (var m in before.Except(after).Concat(after.Except(before))) keys[m] = true;
        }
        foreach (var c in changes)
        {
            var key = c.ResourceType == "Group" ? TargetExecutor.GroupKey(c.Id) : c.Id;
            keys[key] = keys.GetValueOrDefault(key) || c.Urgent;
            if (c.Txn is not null) _origins[key] = new ChangeOrigin("event:" + c.Txn, c.JournalPosition, SourceEvent(c), c.EventTime, c.Writer);
            SyncLog.SourceChange(_log, c.ResourceType, c.Id, c.Deleted ? "deleted" : "changed", c.Txn, c.JournalPosition, c.Urgent);
        }
        foreach (var g in changes.GroupBy(c => (c.ResourceType, c.Urgent))) _telemetry.Changes(g.Key.ResourceType, g.Key.Urgent, g.Count());
        // A deleted group's former members may need their memberships looked at; their accounts are unaffected.
        _shadows.Batch(w =>
        {
            foreach (var t in _targets)
                foreach (var (key, urgent) in keys)
                    w.Enqueue(t.Config.Name, key, urgent, now);
            foreach (var id in groupUpserts.Keys.Concat(groupDeletes).Distinct())
            {
                var before = was.Groups.GetValueOrDefault(id)?.Members ?? [];
                var after = updated.Groups.GetValueOrDefault(id)?.Members ?? [];
                foreach (var m in before.Except(after)) w.RemoveSourceMember(id, m);
                foreach (var m in after.Except(before)) w.AddSourceMember(id, m);
            }
        });
        var anyUrgent = keys.Values.Any(u => u);
        foreach (var t in _targets) t.Wake(anyUrgent);
    }

    /// <summary>
    /// The account's state after these events without asking the source: a delete, a full representation,
    /// or PATCHes applied to the engine's copy with the same PATCH engine the server uses. Unknown when an
    /// event carries neither (a notice), and then the caller reads the account.
    /// </summary>
    private (bool Known, SourceAccount? State) LocalState(SourceAccount? current, IReadOnlyList<SourceChange> events)
    {
        var doc = current?.Document;
        foreach (var e in events)
        {
            if (e.Deleted) { doc = null; continue; }
            if (e.AlreadyIn(doc)) continue;
            if (e.Data is not null) { doc = e.Data; continue; }
            if (e.Patch?["Operations"] is JsonArray ops && doc is not null)
            {
                try
                {
                    doc = _localPatch.Apply("Users", e.Id, doc, ops.OfType<JsonObject>().ToArray()) ?? doc.DeepClone().AsObject();
                    doc["id"] = e.Id;
                    if (e.Version is { } v) doc["meta"] = new JsonObject { ["resourceType"] = "User", ["version"] = $"W/\"{v}\"" };
                    continue;
                }
                catch (ScimClientException)
                {
                    return (false, null);
                }
            }
            return (false, null);
        }
        return (true, doc is null ? null : SourceAccount.From(doc, _config.Kinds));
    }

    /// <summary>Contractors expire to the minute: every second, accounts whose end date just passed are queued, urgent.</summary>
    /// <summary>Until when end dates have been acted on (a watch's expiry check, or the last full run's plans); null before either.</summary>
    private DateTimeOffset? ExpiryCheckedUntil() =>
        DateTimeOffset.TryParse(_shadows.GetCheckpoint(ExpiryCheckpoint), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.RoundtripKind, out var saved) ? saved : null;

    private async Task ExpiryLoopAsync(CancellationToken ct)
    {
        // From where the previous process stopped checking: an end date that passed while the engine was
        // down is acted on at once (re-queueing one already handled by a full run is harmless).
        var last = ExpiryCheckedUntil() is { } saved && saved < _time.GetUtcNow() ? saved : _time.GetUtcNow();
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            var due = _snapshot!.Users.Values.Where(u => u.EndDate is { } e && e > last && e <= now).Select(u => u.Id).ToArray();
            try
            {
                _shadows.Batch(w =>
                {
                    w.SetCheckpoint(ExpiryCheckpoint, now.ToString("O"));
                    foreach (var t in _targets)
                        foreach (var id in due)
                        {
                            w.Enqueue(t.Config.Name, id, true, now);
                            _origins[id] = new ChangeOrigin("expiry");
                        }
                });
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Not queued: the same end dates are looked at again next second.
                SyncLog.ExpiryFailed(_log, e.Message);
                continue;
            }
            last = now;
            foreach (var id in due)
                if (_snapshot!.Users.GetValueOrDefault(id) is { EndDate: { } end } account)
                    SyncLog.Expired(_log, id, account.UserName, end, "expiry");
            if (due.Length > 0)
                foreach (var t in _targets) t.Wake(urgent: true);
        }
    }

    /// <param name="work">The comparison's own token: a stop ends its reads and starts no operation, but lets those in flight finish.</param>
    private async Task FullCompareLoopAsync(CancellationToken ct, CancellationToken work)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(_config.Source.FullCompareInterval, _time, ct).ConfigureAwait(false);
            try
            {
                await RunCoreAsync(execute: true, confirm: false, watching: true, null, work).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Watch mode outlives any one failed comparison (the source unreadable, a state error).
                SyncLog.PeriodicCompareFailed(_log, e.Message, e);
            }
        }
    }

    /// <summary>For sources without a feed: accounts modified since the last look are queued; deletions wait for the full comparison.</summary>
    private async Task LastModifiedLoopAsync(CancellationToken ct)
    {
        // From the checkpoint (a resumed engine finds what changed while it was stopped), else from when the
        // snapshot started to be read: anything modified during a long run is picked up.
        var since = DateTimeOffset.TryParse(_shadows.GetCheckpoint(LastModifiedCheckpoint), System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.RoundtripKind, out var saved) ? saved : _snapshotStarted - TimeSpan.FromSeconds(5);
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(_config.Source.PollInterval, _time, ct).ConfigureAwait(false);
            try
            {
                var started = _time.GetUtcNow();
                var changes = new List<SourceChange>();
                foreach (var type in new[] { "Users", "Groups" })
                    await foreach (var page in _source!.ListAsync(type, new ListOptions { Filter = $"meta.lastModified gt \"{since.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\"" }, ct).ConfigureAwait(false))
                        foreach (var doc in page.Resources)
                            if (doc["id"]?.GetValue<string>() is { } id)
                                changes.Add(new SourceChange("", type == "Users" ? "User" : "Group", id, false, false, null, doc, null));
                // Clocks of two machines disagree a little: look back a few seconds each time (re-applying is harmless).
                if (changes.Count > 0) await ApplyChangesAsync(changes, new ScimSourceReader(_source!, _config.Kinds), ct).ConfigureAwait(false);
                since = started - TimeSpan.FromSeconds(5);
                _shadows.SetCheckpoint(LastModifiedCheckpoint, since.ToString("O"));
                SourceWorks();
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                SourceFails(e.Message);
                SyncLog.LastModifiedFailed(_log, e.Message);
            }
        }
    }

    /// <summary>A file source: when the export changes, the accounts that differ from the previous import are queued.</summary>
    private async Task FileLoopAsync(CancellationToken ct)
    {
        var path = _config.Source.FilePath!;
        var stamp = _fileStamp; // as of the import the engine holds: a file replaced since then is read at once
        DateTime rejected = default;
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(_config.Source.PollInterval, _time, ct).ConfigureAwait(false);
            var now = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : default;
            if (now == stamp) continue;
            try
            {
                // Read, compare and swap under the snapshot lock: a periodic full comparison reading the
                // file at the same time must not put an older import back after this one.
                SourceSnapshot previous, next;
                IReadOnlyCollection<string> changed;
                lock (_snapshotGate)
                {
                    previous = _snapshot!;
                    next = FileSource.Read(path, _config.Source.Format, _config.Kinds);
                    changed = FileSource.Diff(previous, next);
                    _snapshot = next;
                    _fileStamp = now;
                }
                SyncLog.FileImported(_log, path, changed.Count);
                var at = _time.GetUtcNow();
                // Leavers first: an account gone from the export, or no longer active in it.
                bool Urgent(string key) => !key.StartsWith("group:", StringComparison.Ordinal) &&
                    (next.Users.GetValueOrDefault(key) is not { } after || !after.ActiveAt(at) && (previous.Users.GetValueOrDefault(key)?.ActiveAt(at) ?? false));
                _shadows.Batch(w =>
                {
                    foreach (var t in _targets)
                        foreach (var key in changed) w.Enqueue(t.Config.Name, key, Urgent(key), at);
                });
                var anyUrgent = changed.Any(Urgent);
                foreach (var t in _targets) t.Wake(anyUrgent);
                stamp = now;
            }
            catch (Exception e) when (e is FormatException or IOException or System.Text.Json.JsonException or InvalidOperationException)
            {
                // Read again next time (a file caught half-written becomes whole); said once per version of the file.
                if (now != rejected) SyncLog.FileRejected(_log, path, e.Message);
                rejected = now;
            }
        }
    }

    /// <summary>At Trace level: the managed heap and the process's resident memory at a step of a long run.</summary>
    private void Memory(string step)
    {
        if (!_log.IsEnabled(LogLevel.Trace)) return;
        var info = GC.GetGCMemoryInfo();
        using var self = Process.GetCurrentProcess();
        SyncLog.Memory(_log, step, GC.GetTotalMemory(false) / 1048576, info.HeapSizeBytes / 1048576, info.FragmentedBytes / 1048576, self.WorkingSet64 / 1048576, self.PeakWorkingSet64 / 1048576);
    }

    private void SourceWorks()
    {
        lock (_sourceGate) _sourceFailingSince = null;
    }

    private void SourceFails(string reason)
    {
        lock (_sourceGate)
        {
            _sourceFailure = reason;
            _sourceFailingSince ??= _time.GetUtcNow();
        }
    }

    /// <summary>
    /// The span that marks a change learnt from the source, the root of the trace the targets' work on it
    /// joins (<see cref="TargetQueueWorker"/>). Stopped at once: the work happens later, from the durable queue.
    /// </summary>
    private static ActivityContext SourceEvent(SourceChange c)
    {
        using var activity = SyncTelemetry.Source.StartActivity("sync.source_event", ActivityKind.Consumer, default(ActivityContext));
        if (activity is null) return default;
        activity.SetTag("scimsync.resource.type", c.ResourceType);
        activity.SetTag("scimsync.source.id", c.Id);
        activity.SetTag("scimsync.txn", c.Txn);
        if (c.JournalPosition is { } position) activity.SetTag("scimsync.journal.position", position);
        activity.SetTag("scimsync.urgent", c.Urgent);
        return activity.Context;
    }

    public void Dispose()
    {
        foreach (var t in _targets)
        {
            t.Client.Dispose();
            t.Signal.Dispose();
            t.UrgentSignal.Dispose();
            t.Structure.Dispose();
        }
        _source?.Dispose();
        // A JetStream consumer's connection; closing it waits for nothing the engine still needs.
        if (_changes is IAsyncDisposable changes) changes.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _telemetry.Dispose();
        _shadows.Dispose();
    }
}
