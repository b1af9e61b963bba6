using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ScimSync.Client;
using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Intake;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.Passwords;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Runs;

/// <summary>
/// The management side, as the command line drives it: reads the source, plans every target, applies the
/// plans, and in watch mode follows the source's changes, expires contractors at their end date and compares
/// everything periodically. The work lives with its capability: the copy of the source (<see cref="SourceState"/>),
/// the change sources (<see cref="IChangeSource"/>), the targets and their queues (<see cref="TargetLanes"/>,
/// <see cref="TargetQueueWorker"/>), and the one pass over a target that run, reconcile and watch share
/// (<see cref="TargetPass"/>); this class wires them together and orders them.
/// </summary>
public sealed partial class SyncEngine : IDisposable
{
    private readonly SyncConfig _config;
    private readonly TimeProvider _time;
    private readonly ISyncState _shadows;
    private readonly ScimClient? _source;
    private readonly SourceState _sourceState;
    private readonly TargetLanes _lanes;
    private readonly IReadOnlyList<TargetSlot> _targets;
    private readonly ILogger _log;
    private readonly ILoggerFactory _loggers;
    private readonly SyncTelemetry _telemetry;
    private readonly WatchGuard _watchGuard;
    private readonly TargetPass _pass;
    private readonly ChangeOrigins _origins = new();
    private readonly SourceHealth _sourceHealth;
    private readonly EngineStatus _status;
    private readonly LogRetention _retention;
    private readonly Func<EndpointConfig, HttpMessageHandler?>? _handlers;
    // Stop(): reads and waits end, no operation starts, operations in flight run to their answer and are recorded.
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="state">The engine's state, opened by the host (the command line: the configuration's <c>state</c>); the engine disposes it.</param>
    /// <param name="loggers">Where the engine and its clients log (SyncLog, ClientLog; docs/logging.md); nowhere when null.</param>
    /// <param name="handlers">Test seam: the HTTP handler for an endpoint (a fault-injecting proxy, a stub).</param>
    public SyncEngine(SyncConfig config, ISyncState state, TimeProvider time, ILoggerFactory? loggers = null, Func<EndpointConfig, HttpMessageHandler?>? handlers = null)
    {
        _config = config;
        _time = time;
        _handlers = handlers;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _log = _loggers.CreateLogger<SyncEngine>();
        _shadows = state;
        if (config.Source is { Type: SourceType.Scim, Endpoint: { } src })
            _source = Connections.Open(src, "source", time, handlers?.Invoke(src), logger: _loggers.CreateLogger<ScimClient>());
        _sourceState = new SourceState(config, _source, time);
        _sourceHealth = new SourceHealth(_shadows, time, _log);
        _watchGuard = new WatchGuard(_shadows, time, _loggers.CreateLogger<WatchGuard>());
        _retention = new LogRetention(_shadows, config.Log.Keep, time, _loggers.CreateLogger<LogRetention>());
        _telemetry = new SyncTelemetry(() => _status!.Gauges(), time);
        _lanes = TargetLanes.Open(config, _shadows, time, _loggers, _log, _telemetry, handlers, _stopping.Token);
        _targets = _lanes.Slots;
        _status = new EngineStatus(config, _shadows, _lanes, _sourceHealth, time);
        _pass = new TargetPass(_shadows, time, _watchGuard, _log, _stopping.Token);
    }

    /// <summary>
    /// For the command line until it configures logging itself: every entry of Information and above becomes
    /// one line of text for <paramref name="log"/>. Hosts pass an <see cref="ILoggerFactory"/> instead.
    /// </summary>
    public SyncEngine(SyncConfig config, ISyncState state, TimeProvider time, Action<string> log, Func<EndpointConfig, HttpMessageHandler?>? handlers = null)
        : this(config, state, time, LineLogger.Factory(log), handlers)
    {
    }

    public ISyncState Shadows => _shadows;

    /// <summary>
    /// Asks a run, reconciliation or watch to end soon without losing anything: reads of the source and the
    /// targets are abandoned (they change nothing), no further operation starts, and the operations in flight
    /// finish and are written to the shadow. The call returns at once; the run's task then completes (its report
    /// counts what was not started as <see cref="ExecutionReport.Stopped"/>), and <see cref="Dispose"/> flushes the state.
    /// </summary>
    public void Stop() => _stopping.Cancel();

    public bool Stopping => _stopping.IsCancellationRequested;

    public Task<SourceSnapshot> ReadSourceAsync(IProgress<SyncProgress>? progress, CancellationToken ct) => _sourceState.ReadAsync(progress, ct);

    private SourceSnapshot Snapshot => _sourceState.Current ?? throw new InvalidOperationException("the source has not been read");

    /// <summary>
    /// After a resumed engine has read the source: the members who joined or left a group while it was
    /// stopped are queued (with the group) for every target. Their events come again from the feed, but
    /// find the fresh copy already up to date, so they alone could not say who moved. Accounts linked on a
    /// target whose source account is gone are queued too (lastModified queries never see a deletion).
    /// </summary>
    public int QueueChangesSinceLastRun()
    {
        var snapshot = Snapshot;
        var known = _shadows.SourceGroupMembers();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in known.Keys.Union(snapshot.Groups.Keys))
        {
            var before = known.GetValueOrDefault(id) ?? [];
            var current = snapshot.Groups.GetValueOrDefault(id);
            if (before.SetEquals(current?.Baseline ?? [])) continue;
            keys.Add(TargetExecutor.GroupKey(id));
            keys.UnionWith(NestedGroupChanges.MembersMoved(before, current, snapshot));
        }
        var now = _time.GetUtcNow();
        var gone = _targets.ToDictionary(t => t, t => _shadows.LinkedSources(t.Config.Name).Where(id => !snapshot.Users.ContainsKey(id)).ToArray());
        _shadows.Batch(w =>
        {
            foreach (var key in keys) _lanes.QueueEverywhere(w, key, true, now);
            foreach (var t in _targets)
                foreach (var id in gone[t]) w.Enqueue(t.Config.Name, id, true, now);
            w.ReplaceSourceGroups(snapshot.Groups.Values.Select(g => (g.Id, g.Baseline)));
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
        _source is not null && _shadows.GetCheckpoint(EngineCheckpoints.Complete) == "true" &&
        (_config.Source.Feed == FeedMode.Poll ? SourceChanges().Exists : _shadows.GetCheckpoint(EngineCheckpoints.LastModifiedSince) is not null);

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
        var warnings = NestedGroupChanges.ReportCycles(snapshot, null, _log);
        MemoryTrace.Log(_log, "source read");
        // The feed starts before any target is touched: changes made during a long initial load queue up at
        // the source and are applied afterwards, none lost in between.
        if (execute && Claims is null && _source is not null && _config.Source.Feed == FeedMode.Poll)
            await EnsureFeedAsync(snapshot.Position, ct).ConfigureAwait(false);
        var runId = "run:" + started.ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture);
        async Task<TargetRun> PassAsync(TargetSlot t, CancellationToken token)
        {
            var pass = await _pass.RunAsync(t, snapshot, apply: execute, confirm, watching, runId, execute ? "sync.run" : "sync.plan_run", progress, token).ConfigureAwait(false);
            return new TargetRun(pass.Target, pass.Plan, pass.Execution, pass.Error, pass.HeldByGuard, pass.Full?.Incomplete, pass.Stopped);
        }
        // Engines sharing a state: each target's pass is part of the work done while it is held, so it stops when the
        // target is handed over or given up, and the lease is released only after it (TargetOwnership.Join). A target
        // let go since the run began is left out.
        Task<TargetRun?> HeldPassAsync(TargetSlot t) =>
            Ownership!.Join(t.Config.Name, async held =>
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, held);
                return (TargetRun?)await PassAsync(t, both.Token).ConfigureAwait(false);
            }) ?? Task.FromResult<TargetRun?>(null);
        async Task<TargetRun?> AnyPassAsync(TargetSlot t) => Ownership is null ? await PassAsync(t, ct).ConfigureAwait(false) : await HeldPassAsync(t).ConfigureAwait(false);
        var passes = _targets.Where(Works).Select(AnyPassAsync);
        var results = (await Task.WhenAll(passes).ConfigureAwait(false)).OfType<TargetRun>().ToArray();
        var complete = results.All(t => !t.Failed && !t.HeldByGuard && !t.Stopped && (t.Execution?.Stopped ?? 0) == 0);
        DateTimeOffset? expiryFrom = EngineCheckpoints.Time(_shadows.GetCheckpoint(EngineCheckpoints.ExpiryCheckedUntil)) is { } checkedUntil && checkedUntil <= started ? null : started;
        if (execute && Claims is null)
            _shadows.Batch(w =>
            {
                w.SetCheckpoint(EngineCheckpoints.LastRun, started.ToString("O"));
                w.SetCheckpoint(EngineCheckpoints.Complete, complete ? "true" : "false");
                w.SetCheckpoint(EngineCheckpoints.SourceWarnings, string.Join("\n", warnings));
                // Every target was planned against these memberships: the baseline a resumed engine compares with.
                w.ReplaceSourceGroups(snapshot.Groups.Values.Select(g => (g.Id, g.Baseline)));
                // Clocks of two machines disagree a little: look back a few seconds (re-applying is harmless).
                if (_source is not null && _config.Source.Feed == FeedMode.LastModified)
                    w.SetCheckpoint(EngineCheckpoints.LastModifiedSince, (started - TimeSpan.FromSeconds(5)).ToString("O"));
                // The plans judged end dates as of about now: watch mode's expiry check starts from here, so an end
                // date that passes between this run and the first check is not left to the next full comparison.
                if (expiryFrom is not null) w.SetCheckpoint(EngineCheckpoints.ExpiryCheckedUntil, expiryFrom.Value.ToString("O"));
            });
        // An engine run from a timer prunes here; a watching one hourly (its retention loop).
        if (execute && !watching) _retention.PruneOrWarn();
        return new RunReport(started, sw.Elapsed, snapshot.Users.Count, snapshot.Groups.Count, snapshot.Position, results) { SourceWarnings = warnings };
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
        var results = await Task.WhenAll(_targets.Where(Works).Select(async t =>
        {
            var pass = await _pass.RunAsync(t, snapshot, apply: repair, confirm, watching: false, cause, "sync.reconcile", progress, ct).ConfigureAwait(false);
            if (pass.Full is not { } full)
                return new TargetReconcile(pass.Target, 0, [], new SyncPlan(pass.Target, [], [], new Dictionary<Situation, int>(), 0, null), false, pass.Error, null, Stopped: pass.Stopped);
            var repaired = pass.Execution is not null && full.Read.Complete && t.Config.Policies.Drift == DriftReaction.Repair;
            return new TargetReconcile(pass.Target, full.Read.Accounts, full.Drift, full.Plan, repaired, null, pass.Execution, full.Incomplete, HeldByGuard: repair && pass.HeldByGuard);
        })).ConfigureAwait(false);
        return new ReconcileReport(started, sw.Elapsed, results);
    }

    /// <summary>
    /// Each target from the engine's state, with the verdict <see cref="TargetStatus.NeedsAttention"/> (and its
    /// reasons) by the configuration's <c>health</c> thresholds; `sync status` exits non-zero when any target needs it.
    /// </summary>
    public IReadOnlyList<TargetStatus> Status(int audit = 10) => WithLeases(_status.Targets(audit));

    /// <summary>The SETs from the source the engine refused (reported to the source as errors), from its state; null when none.</summary>
    public RefusedEvents? RefusedEvents => _status.Refused;

    /// <summary>What the last executing full run found at the source for a person to look at (a cycle of nested groups), for `sync status`.</summary>
    public IReadOnlyList<string> SourceWarnings =>
        (_shadows.GetCheckpoint(EngineCheckpoints.SourceWarnings) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// Readiness of a watching engine: no target needs attention (<see cref="TargetAttention"/>), and the source
    /// has not been failing for longer than <see cref="HealthConfig.UnreachableFor"/>.
    /// </summary>
    public EngineReadiness Readiness() => _status.Readiness();

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
        if (_sourceState.Current is null) await ReadSourceAsync(progress, ct).ConfigureAwait(false);
        var tasks = new List<Task> { FullCompareLoopAsync(ct, work), _retention.RunAsync(ct) };
        var queues = new TargetQueueWorker(_shadows, _time, _watchGuard, () => Snapshot, _origins.Of, _loggers.CreateLogger<TargetQueueWorker>());
        tasks.Add(WatchTargetsAsync(queues, ct, work));
        tasks.AddRange(_targets.Select(t => t.Health.ProbeWhileDownAsync(t.Client, outage =>
        {
            _shadows.SetCheckpoint(EngineCheckpoints.Down(t.Config.Name), null);
            SyncLog.TargetUp(_log, t.Config.Name, Math.Round(outage.TotalSeconds, 1), _shadows.Counts(t.Config.Name).Pending);
            t.Wake(urgent: true);
        }, ct)));
        // Several engines: each has a feed subscription of its own, made when it first watches.
        if (Ownership is not null && _source is not null && _config.Source.Feed == FeedMode.Poll) await EnsureFeedAsync(Snapshot.Position, ct).ConfigureAwait(false);
        if (_source is not null && _config.Source.Feed == FeedMode.Poll && !SourceChanges().Exists)
            throw new SourceFeedUnavailableException("the engine has no feed subscription at the source yet: run `scimsync sync run` (or `sync watch`, which starts with one)");
        if (TakesPasswords && _source is not null && SourceChanges() is SourceFeed passwordFeed)
        {
            // A resumed engine registers its key (or a new one) with the subscription it already has.
            if (Ownership is null) await EnsureFeedAsync(Snapshot.Position, ct).ConfigureAwait(false);
            tasks.Add(new PasswordRelay(_source, () => passwordFeed.SubscriptionId, PasswordPrivateKey(), _targets, Works, _shadows, _time,
                _loggers.CreateLogger<PasswordRelay>()).FollowAsync(ct));
        }
        var intake = new IntakeContext(_config, _source, _sourceState, _shadows, _lanes, _origins, _telemetry, _sourceHealth, _time, _log) { Changes = _source is null ? null : SourceChanges() };
        tasks.AddRange(ChangeSources.For(intake).Select(s => s.FollowAsync(ct)));
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
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

    /// <summary>
    /// Where the source's changes come from after a snapshot: its RFC 8936 feed, or (<c>source.changes.nats</c>) the
    /// JetStream stream its server relays the journal to (docs/nats.md). One instance: a JetStream consumer keeps its
    /// connection, and what it handed out unacknowledged.
    /// </summary>
    private ISourceChanges SourceChanges() => _changes ??= _config.Source.Changes is { } stream
        ? new JetStreamChanges(stream, _shadows, FeedName)
        : new SourceFeed(_source!, _shadows, FeedName, PasswordJwk());

    private ISourceChanges? _changes;

    /// <summary>Whether any target takes passwords (<c>passwords: sync</c>): only then has the engine a key for them.</summary>
    private bool TakesPasswords => _targets.Any(t => t.Config.Passwords == PasswordPolicy.Sync);

    private System.Security.Cryptography.RSA? _passwordKey;

    private System.Security.Cryptography.RSA PasswordPrivateKey() => _passwordKey ??= PasswordKey.LoadOrCreate(_config.StateDirectory, Ownership?.Instance);

    private System.Text.Json.Nodes.JsonObject? PasswordJwk() => TakesPasswords ? Events.PasswordEnvelope.PublicJwk(PasswordPrivateKey()) : null;

    public void Dispose()
    {
        _lanes.Dispose();
        _source?.Dispose();
        // A JetStream consumer's connection; closing it waits for nothing the engine still needs.
        if (_changes is IAsyncDisposable changes) changes.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _telemetry.Dispose();
        _passwordKey?.Dispose();
        _shadows.Dispose();
    }
}
