using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting.Systemd;
using Spectre.Console;
using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync sync plan|run|confirm|reconcile|status|watch --config FILE</c> (the operator verbs, <c>run --user</c>,
/// <c>confirm</c> and <c>plan --explain</c>, render in SyncCommand.Operators.cs; <c>sync user</c> and <c>sync log</c>: SyncUserCommand, SyncLogCommand). Exit codes (<see cref="ExitCodes"/>) follow
/// the report's <see cref="RunOutcome"/>: 0 nothing failed, 4 the mass-change guard held a target (a plan: would
/// hold it), 5 some operations applied and something failed, 1 something failed and nothing was applied; 3 the
/// configuration, the state directory or the source's feed cannot be used. plan, run, confirm, reconcile and watch own
/// the state directory (one at a time, <see cref="InstanceLock"/>); status reads it beside them. The first
/// SIGTERM or Ctrl+C stops the engine without losing anything (<see cref="SyncEngine.Stop"/>) and exits as the
/// work done says (0 when nothing failed); a second one abandons the operations in flight (exit 1).
/// </summary>
internal static partial class SyncCommand
{
    public static Command Create()
    {
        var sync = new Command("sync", "The sync engine (docs/sync.md): provisions a source (SCIM server or HR export) into SCIM targets and keeps them right.");

        var plan = Verb("plan", "Dry run: read the source and every target and print every operation a run would perform (exit 4 when the guard would hold a run)", out var planConfig, out var planJson);
        var all = new Option<bool>("--all") { Description = "List every operation (default: the first 50 per target)" };
        var explain = new Option<bool>("--explain") { Description = "Also print, per target, why each account is in scope (the rule that decided) and why each linked account out of scope is not" };
        plan.Options.Add(all);
        plan.Options.Add(explain);
        var planWait = SharedStateOptions(plan, "default 0: skip those targets");
        plan.SetAction((parse, _) =>
        {
            var wait = Wait(parse, planWait, TimeSpan.Zero);
            return WithEngine(parse, parse.GetValue(planConfig)!, owns: true, (engine, stop) => OnHeldTargetsAsync(engine, stop, "plan", null, wait, parse.GetValue(planJson), async ct =>
            {
                var json = parse.GetValue(planJson);
                var report = await WithProgress(json, p => engine.PlanAsync(p, ct)).ConfigureAwait(false);
                var scope = parse.GetValue(explain) ? engine.ExplainScope() : null;
                if (json) WritePlanJson(report, engine.SecretsOf, scope);
                else
                {
                    PrintPlan(report, parse.GetValue(all));
                    if (scope is not null) PrintScope(scope, parse.GetValue(all));
                }
                return ExitCode(report.Outcome);
            }));
        });

        var run = Verb("run", "Apply the plan to every target (exit 4 when the guard holds a target: read the plan, then `sync confirm TARGET` or run again with --confirm); with --user, provision one person now", out var runConfig, out var runJson);
        var runConfirm = Options.Confirm();
        var follow = new Option<bool>("--watch") { Description = "Then follow the source's changes until stopped (as `sync watch`)" };
        var runListen = Listen();
        var user = new Option<string?>("--user")
        {
            Description = "Provision this one person now (userName, id or externalId at the source), printing each step; nobody else is touched",
            HelpName = "USER",
        };
        var onlyTarget = new Option<string?>("--target") { Description = "With --user: on this target only", HelpName = "TARGET" };
        run.Options.Add(runConfirm);
        run.Options.Add(follow);
        run.Options.Add(runListen);
        run.Options.Add(user);
        run.Options.Add(onlyTarget);
        var runWait = SharedStateOptions(run, "default 0: skip those targets");
        run.SetAction((parse, _) =>
        {
            // Before anything is opened: a wrong combination changes nothing.
            if (parse.GetValue(follow) && parse.GetValue(EngineState.StateOption) is not null)
                throw CliException.Usage("--watch on a shared state: start `scimsync sync watch --state … --instance NAME` instead (the watching engines divide the targets by leases)");
            var wait = Wait(parse, runWait, TimeSpan.Zero);
            return WithEngine(parse, parse.GetValue(runConfig)!, owns: true, (engine, stop) =>
            {
                var json = parse.GetValue(runJson);
                if (parse.GetValue(user) is { } person)
                {
                    if (parse.GetValue(runConfirm) || parse.GetValue(follow))
                        throw CliException.Usage("--user provisions one person: it takes neither --confirm (held removals are released by `scimsync sync confirm TARGET`) nor --watch");
                    var only = parse.GetValue(onlyTarget) is { } named ? [KnownTarget(engine, named)] : (IReadOnlyList<string>?)null;
                    return OnHeldTargetsAsync(engine, stop, "run", only, wait, json, ct => ProvisionAsync(engine, person, only?[0], json, ct));
                }
                if (parse.GetValue(onlyTarget) is not null) throw CliException.Usage("--target goes with --user (a full run covers every target)");
                return OnHeldTargetsAsync(engine, stop, "run", null, wait, json, async ct =>
                {
                    var report = await WithProgress(json, p => engine.RunAsync(parse.GetValue(runConfirm), p, ct)).ConfigureAwait(false);
                    if (json) WritePlanJson(report, engine.SecretsOf);
                    else PrintRun(report);
                    if (!parse.GetValue(follow) || engine.Stopping) return Finished(report.Outcome, report.Stopped, engine);
                    await WatchAsync(engine, json, parse.GetValue(runListen), stop).ConfigureAwait(false);
                    return ExitCodes.Ok;
                });
            });
        });

        var reconcile = Verb("reconcile", "Report out-of-band changes in the targets and repair them per each target's drift policy", out var reconcileConfig, out var reconcileJson);
        var reportOnly = new Option<bool>("--report-only") { Description = "Report, repair nothing" };
        var reconcileConfirm = Options.Confirm();
        reconcile.Options.Add(reportOnly);
        reconcile.Options.Add(reconcileConfirm);
        var reconcileWait = SharedStateOptions(reconcile, "default 0: skip those targets");
        reconcile.SetAction((parse, _) =>
        {
            var wait = Wait(parse, reconcileWait, TimeSpan.Zero);
            return WithEngine(parse, parse.GetValue(reconcileConfig)!, owns: true, (engine, stop) => OnHeldTargetsAsync(engine, stop, "reconcile", null, wait, parse.GetValue(reconcileJson), async ct =>
            {
                var json = parse.GetValue(reconcileJson);
                var report = await WithProgress(json, p => engine.ReconcileAsync(!parse.GetValue(reportOnly), parse.GetValue(reconcileConfirm), p, ct)).ConfigureAwait(false);
                if (json) Output.WriteJson(ReconcileJson(report));
                else PrintReconcile(report);
                return Finished(report.Outcome, report.Stopped, engine);
            }));
        });

        var status = Verb("status", "Each target's shadow, queue, held removals and recent audit, from the engine's state alone (no call to any target)", out var statusConfig, out var statusJson);
        var audit = Options.Positive("--audit", "Audit records to show per target (default 10)");
        status.Options.Add(audit);
        status.Options.Add(EngineState.StateOption);
        status.SetAction((parse, _) => WithEngine(parse, parse.GetValue(statusConfig)!, owns: false, (engine, _) =>
        {
            var targets = engine.Status(parse.GetValue(audit) ?? 10);
            if (parse.GetValue(statusJson)) Output.WriteJson(targets);
            else
            {
                PrintStatus(targets);
                // Refused SETs are the source's, not a target's: said once, under the targets.
                if (engine.RefusedEvents is { } refused)
                    Console.Out.WriteLine($"  source feed: {refused.Count:N0} SET{(refused.Count == 1 ? "" : "s")} refused (reported to the source, which keeps them as dead letters); the last, {refused.LastJti} at {refused.LastAt:u}: {refused.LastReason}");
                // A cycle of nested groups is the source's too; it fails nothing, so it does not change the exit code.
                foreach (var warning in engine.SourceWarnings) Console.Out.WriteLine($"  source (last full run): {warning}");
            }
            return Task.FromResult(targets.Any(t => t.NeedsAttention) ? ExitCodes.NeedsAttention : ExitCodes.Ok);
        }));

        var watch = Verb("watch", "Follow the source's changes until stopped, resuming where the previous process stopped (a full run first when it cannot)", out var watchConfig, out var watchJson);
        var watchConfirm = Options.Confirm();
        var watchListen = Listen();
        watch.Options.Add(watchConfirm);
        watch.Options.Add(watchListen);
        watch.Options.Add(EngineState.StateOption);
        watch.Options.Add(EngineState.InstanceOption);
        watch.SetAction((parse, _) => WithEngine(parse, parse.GetValue(watchConfig)!, owns: true, async (engine, stop) =>
        {
            var json = parse.GetValue(watchJson);
            // Carries on from where the previous process stopped (feed position and queues are durable);
            // without a completed run to resume from, it starts with one.
            // --confirm answers a guard that held the previous run: that needs a full run.
            if (engine.Ownership is not null)
            {
                // Several engines on a shared state: each target gets a full pass when an engine takes it (SyncEngine.Leases.cs).
                if (parse.GetValue(watchConfirm)) throw CliException.Usage("--confirm goes with a full run, which engines sharing a PostgreSQL state do not make: release a target's held removals with `scimsync sync confirm TARGET --state …` beside the watching engines");
                await WithProgress(json, p => engine.ReadSourceAsync(p, stop.Abort)).ConfigureAwait(false);
            }
            else if (engine.CanResume && !parse.GetValue(watchConfirm))
            {
                var snapshot = await WithProgress(json, p => engine.ReadSourceAsync(p, stop.Abort)).ConfigureAwait(false);
                var moved = engine.QueueChangesSinceLastRun();
                if (!json) Output.Line($"Resuming: source holds {snapshot.Users.Count:N0} users and {snapshot.Groups.Count:N0} groups; {moved:N0} membership changes and deletions queued from the comparison with the last run; queued work carries on.", "grey");
            }
            else
            {
                var report = await WithProgress(json, p => engine.RunAsync(parse.GetValue(watchConfirm), p, stop.Abort)).ConfigureAwait(false);
                if (json) WritePlanJson(report, engine.SecretsOf);
                else PrintRun(report);
                if (engine.Stopping) return Finished(report.Outcome, report.Stopped, engine);
            }
            await WatchAsync(engine, json, parse.GetValue(watchListen), stop).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));

        foreach (var verb in new[] { plan, run, Confirm(), reconcile, status, watch, SyncUserCommand.Create(), SyncLogCommand.Create() }) sync.Subcommands.Add(verb);
        return sync;
    }

    internal static Command Verb(string name, string description, out Option<string> config, out Option<bool> json)
    {
        var command = new Command(name, description);
        config = Options.EngineConfig();
        json = Options.Json();
        command.Options.Add(config);
        command.Options.Add(json);
        command.Options.Add(LogFormatOption);
        command.Options.Add(LogLevelOption);
        return command;
    }

    // One instance of each, shared by every verb: the verbs read them back from their own parse result.
    private static readonly Option<string?> LogFormatOption = Options.LogFormat();
    private static readonly Option<string?> LogLevelOption = Options.LogLevel();

    /// <summary>
    /// --listen HOST:PORT for the verbs that watch: health and metrics of the engine (<see cref="EngineListener"/>).
    /// </summary>
    private static Option<string?> Listen() => new("--listen")
    {
        Description = "Serve health (/healthz/ready) and Prometheus metrics (/metrics) at HOST:PORT while watching; no authentication, so a loopback address",
        HelpName = "HOST:PORT",
    };

    /// <summary>The verb's --log-format and --log-level, else SCIMSYNC_LOG_FORMAT and SCIMSYNC_LOG_LEVEL, else simple and information.</summary>
    internal static (string Format, Microsoft.Extensions.Logging.LogLevel Level) Logging(ParseResult parse)
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        var (format, formatFrom) = parse.GetValue(LogFormatOption) is { } f ? (f, "--log-format") : (Env("SCIMSYNC_LOG_FORMAT") ?? "simple", "SCIMSYNC_LOG_FORMAT");
        var (level, levelFrom) = parse.GetValue(LogLevelOption) is { } l ? (l, "--log-level") : (Env("SCIMSYNC_LOG_LEVEL") ?? "information", "SCIMSYNC_LOG_LEVEL");
        CliException Wrong(string from, string what) => from.StartsWith("--", StringComparison.Ordinal) ? CliException.Usage($"{from} {what}") : CliException.Configuration($"{from} {what}");
        if (!Observability.LogFormats.Contains(format.ToLowerInvariant()))
            throw Wrong(formatFrom, $"is one of {string.Join(", ", Observability.LogFormats)}, not \"{format}\"");
        try
        {
            return (format.ToLowerInvariant(), Observability.ParseLogLevel(level));
        }
        catch (ArgumentException)
        {
            throw Wrong(levelFrom, $"is one of {string.Join(", ", Observability.LogLevels)}, not \"{level}\"");
        }
    }

    private static int ExitCode(RunOutcome outcome) => outcome switch
    {
        RunOutcome.Succeeded => ExitCodes.Ok,
        RunOutcome.HeldByGuard => ExitCodes.HeldByGuard,
        RunOutcome.PartiallyApplied => ExitCodes.PartiallyApplied,
        _ => ExitCodes.Failed,
    };

    private static int Finished(RunOutcome outcome, bool stopped, SyncEngine engine)
    {
        if (stopped || engine.Stopping)
            Console.Error.WriteLine("scimsync: stopped on request; the operations in flight finished and are recorded, the rest waits for the next run");
        return ExitCode(outcome);
    }

    /// <summary>Loads the configuration, owns the state directory when asked, opens the engine, and stops it on SIGTERM or Ctrl+C.</summary>
    private static async Task<int> WithEngine(ParseResult parse, string configPath, bool owns, Func<SyncEngine, StopSignals, Task<int>> work)
    {
        var (format, level) = Logging(parse);
        var config = ConfigLoader.Load(configPath);
        var command = parse.CommandResult.Command;
        var state = command.Options.Contains(EngineState.StateOption) ? parse.GetValue(EngineState.StateOption) : null;
        var instance = command.Options.Contains(EngineState.InstanceOption) ? parse.GetValue(EngineState.InstanceOption) : null;
        // The name keys this engine's feed subscription at the source: a name that changed with every start would
        // leave a subscription behind each time.
        if (state is not null && instance is null && command.Options.Contains(EngineState.InstanceOption))
            throw CliException.Usage("--state postgres://… needs --instance NAME, a name that stays the same across restarts (it names this engine's feed subscription and its leases)");
        InstanceLock? owner = null;
        // A PostgreSQL state is shared by design: leases, not a directory lock, keep engines apart.
        if (owns && state is null)
        {
            PrivateFiles.EnsureDirectory(config.StateDirectory, "state directory");
            owner = InstanceLock.Take(config.StateDirectory, $"scimsync sync ({Path.GetFullPath(configPath)})");
        }
        try
        {
            // Disposed last: the shadow writer flushes everything queued before the process exits.
            // Disposed after the engine (declared first): the console logger writes from a queue, and disposing flushes it.
            using var loggers = Observability.EngineLoggers(format, level);
            var shadows = EngineState.Open(config, KeyRing.ForDirectory(config.StateDirectory, config.KeyFile), state: state, instance: instance);
            // A watching engine (named) divides the targets by leases; status reads them (not owning); the verbs that change
            // targets hold the leases of theirs for their job instead (OnHeldTargetsAsync).
            var ownership = instance is not null || !owns ? EngineState.Ownership(shadows, instance, loggers) : null;
            using var engine = new SyncEngine(config, shadows, TimeProvider.System, loggers) { Ownership = ownership };
            using var stop = new StopSignals(engine, loggers);
            try
            {
                return await work(engine, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.Abort.IsCancellationRequested)
            {
                throw CliException.Failed("abandoned on a second signal: operations in flight may have been applied without being recorded; the next run finds them by correlation");
            }
            catch (OperationCanceledException) when (engine.Stopping)
            {
                Console.Error.WriteLine("scimsync: stopped on request before anything was applied");
                return ExitCodes.Ok;
            }
        }
        finally
        {
            owner?.Dispose();
        }
    }

    private static async Task WatchAsync(SyncEngine engine, bool json, string? listen, StopSignals stop)
    {
        var otlp = Observability.OtlpFromEnvironment();
        // With a listener, telemetry lives in it (Prometheus, and OTLP when asked); without, OTLP only when asked.
        EngineListener? listener = null;
        IDisposable? telemetry = null;
        try
        {
            if (listen is not null)
            {
                try
                {
                    listener = await EngineListener.StartAsync(engine, listen, stop.Loggers, otlp, stop.Abort).ConfigureAwait(false);
                }
                catch (ArgumentException e)
                {
                    throw CliException.Usage(e.Message);
                }
                catch (IOException e)
                {
                    throw CliException.Configuration($"--listen {listen}: {e.Message}");
                }
            }
            else telemetry = Observability.StartEngineTelemetry(otlp);
            var where = listener is null ? "" : $"; health and metrics at {listener.Address}";
            if (!json) Output.Line($"Watching the source for changes{where}; Ctrl+C stops.", "grey");
            else Console.Error.WriteLine($"Watching the source for changes{where}");
            // Under systemd (Type=notify) the unit is started once the engine watches.
            stop.Notifier.Notify(ServiceState.Ready);
            await engine.WatchAsync(null, stop.Abort).ConfigureAwait(false);
        }
        finally
        {
            if (listener is not null) await listener.DisposeAsync().ConfigureAwait(false);
            telemetry?.Dispose();
        }
    }

    /// <summary>
    /// SIGTERM and Ctrl+C: the first stops the engine gracefully (<see cref="SyncEngine.Stop"/>), a second abandons
    /// what is in flight. Without this the runtime would end the process at once on SIGTERM, queued shadow writes unwritten.
    /// </summary>
    private sealed class StopSignals : IDisposable
    {
        private readonly CancellationTokenSource _abort = new();
        private readonly PosixSignalRegistration[] _registrations;
        private int _signals;

        public StopSignals(SyncEngine engine, Microsoft.Extensions.Logging.ILoggerFactory loggers)
        {
            Loggers = loggers;
            void Handle(PosixSignalContext context)
            {
                context.Cancel = true;
                if (Interlocked.Increment(ref _signals) == 1)
                {
                    Console.Error.WriteLine($"scimsync: {context.Signal}: stopping; operations in flight finish (a second signal abandons them)");
                    Notifier.Notify(ServiceState.Stopping);
                    engine.Stop();
                }
                else _abort.Cancel();
            }
            _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle), PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle)];
        }

        public CancellationToken Abort => _abort.Token;

        public Microsoft.Extensions.Logging.ILoggerFactory Loggers { get; }

        public SystemdNotifier Notifier { get; } = new();

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
            _abort.Dispose();
        }
    }

    /// <summary>Counts, rate and ETA per target while a long run works; plain lines when output is not a terminal.</summary>
    private static async Task<T> WithProgress<T>(bool quiet, Func<IProgress<SyncProgress>, Task<T>> work)
    {
        if (quiet || !Output.Interactive || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var sw = Stopwatch.StartNew();
            var last = TimeSpan.Zero;
            var progress = new SyncProgressLog(p =>
            {
                if (quiet || sw.Elapsed - last < TimeSpan.FromSeconds(2)) return;
                last = sw.Elapsed;
                Console.Error.WriteLine($"{p.Target}: {p.Phase} {p.Done:N0}{(p.Total > 0 ? $"/{p.Total:N0}" : "")}");
            });
            return await work(progress).ConfigureAwait(false);
        }
        T result = default!;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var rates = new Dictionary<string, Stopwatch>();
                var progress = new SyncProgressLog(p =>
                {
                    lock (tasks)
                    {
                        var key = p.Target + "/" + p.Phase;
                        if (!tasks.TryGetValue(key, out var task))
                        {
                            tasks[key] = task = ctx.AddTask($"{p.Target} {p.Phase}", maxValue: Math.Max(1, p.Total));
                            rates[key] = Stopwatch.StartNew();
                        }
                        if (p.Total > 0) task.MaxValue = p.Total;
                        else task.IsIndeterminate = true;
                        task.Value = p.Done;
                        var rate = p.Done / Math.Max(0.001, rates[key].Elapsed.TotalSeconds);
                        task.Description = $"{p.Target} {p.Phase} {p.Done:N0}{(p.Total > 0 ? "/" + p.Total.ToString("N0", CultureInfo.CurrentCulture) : "")} ({rate:N0}/s)";
                    }
                });
                result = await work(progress).ConfigureAwait(false);
                lock (tasks) foreach (var t in tasks.Values) t.StopTask();
            }).ConfigureAwait(false);
        return result;
    }

    /// <summary>Reports synchronously on the caller's thread (Progress&lt;T&gt; would post to the thread pool out of order).</summary>
    private sealed class SyncProgressLog(Action<SyncProgress> report) : IProgress<SyncProgress>
    {
        public void Report(SyncProgress value) => report(value);
    }
}
