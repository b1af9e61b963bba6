using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync sync run|plan|reconcile|status|watch --config FILE</c>. Exit codes: 0 done; 1 some operation or
/// target failed; 4 the mass-change guard held a target (run again with --confirm after reading the plan);
/// 3 configuration error.
/// </summary>
internal static class SyncCommand
{
    public static async Task<int> RunAsync(CommandLine cmd)
    {
        var verb = cmd.Positional.FirstOrDefault() ?? throw new UsageException("sync needs run, plan, reconcile, status or watch");
        var path = cmd.Get("config") ?? throw new UsageException("sync needs --config FILE");
        SyncConfig config;
        try
        {
            config = ConfigLoader.Load(path);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 3;
        }
        var json = cmd.Has("json");
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        using var engine = new SyncEngine(config, TimeProvider.System, m => Console.Error.WriteLine($"{DateTimeOffset.Now:HH:mm:ss} {m}"));
        try
        {
            switch (verb)
            {
                case "plan":
                {
                    var report = await WithProgress(json, p => engine.PlanAsync(p, cts.Token)).ConfigureAwait(false);
                    if (json) WritePlanJson(report);
                    else PrintPlan(report, cmd.Has("verbose") || cmd.Has("all"));
                    return report.Targets.Any(t => t.Error is not null) ? 1 : 0;
                }
                case "run":
                {
                    var report = await WithProgress(json, p => engine.RunAsync(cmd.Has("confirm"), p, cts.Token)).ConfigureAwait(false);
                    if (json) WritePlanJson(report);
                    else PrintRun(report);
                    var code = report.Targets.Any(t => t.HeldByGuard) ? 4 : report.Succeeded ? 0 : 1;
                    if (!cmd.Has("watch")) return code;
                    if (!json) AnsiConsole.MarkupLine("[grey]Watching the source for changes; Ctrl+C stops.[/]");
                    await engine.WatchAsync(null, cts.Token).ConfigureAwait(false);
                    return 0;
                }
                case "watch":
                {
                    // Carries on from where the previous process stopped (feed position and queues are
                    // durable); without a completed run to resume from, it starts with one.
                    // --confirm answers a guard that held the previous run: that needs a full run.
                    if (engine.CanResume && !cmd.Has("confirm"))
                    {
                        var snapshot = await WithProgress(json, p => engine.ReadSourceAsync(p, cts.Token)).ConfigureAwait(false);
                        var moved = engine.QueueChangesSinceLastRun();
                        if (!json) AnsiConsole.MarkupLine($"[grey]Resuming: source holds {snapshot.Users.Count:N0} users and {snapshot.Groups.Count:N0} groups; {moved:N0} membership changes and deletions queued from the comparison with the last run; queued work carries on.[/]");
                    }
                    else
                    {
                        var report = await WithProgress(json, p => engine.RunAsync(cmd.Has("confirm"), p, cts.Token)).ConfigureAwait(false);
                        if (json) WritePlanJson(report);
                        else PrintRun(report);
                    }
                    if (!json) AnsiConsole.MarkupLine("[grey]Watching the source for changes; Ctrl+C stops.[/]");
                    else Console.Error.WriteLine("Watching the source for changes");
                    await engine.WatchAsync(null, cts.Token).ConfigureAwait(false);
                    return 0;
                }
                case "reconcile":
                {
                    var report = await WithProgress(json, p => engine.ReconcileAsync(!cmd.Has("report-only"), cmd.Has("confirm"), p, cts.Token)).ConfigureAwait(false);
                    if (json) Console.WriteLine(JsonSerializer.Serialize(ReconcileJson(report), Indented));
                    else PrintReconcile(report);
                    return report.Targets.Any(t => t.Error is not null || t.Incomplete is not null) ? 1 : 0;
                }
                case "status":
                {
                    var status = engine.Status(cmd.GetInt("audit", 10));
                    if (json) Console.WriteLine(JsonSerializer.Serialize(status, Indented));
                    else PrintStatus(status);
                    return 0;
                }
                default:
                    throw new UsageException($"Unknown sync command \"{verb}\" (run, plan, reconcile, status, watch)");
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Console.Error.WriteLine("scimsync: stopped");
            return 130;
        }
        catch (ScimSync.Sync.Sources.SourceFeedUnavailableException e)
        {
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 3;
        }
        catch (ScimSync.Client.ScimClientException e)
        {
            // The source could not be read (whole): nothing was planned or changed anywhere.
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 1;
        }
    }

    private static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    /// <summary>Counts, rate and ETA per target while a long run works; plain lines when output is not a terminal.</summary>
    private static async Task<T> WithProgress<T>(bool quiet, Func<IProgress<SyncProgress>, Task<T>> work)
    {
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
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

    private static void PrintPlan(RunReport report, bool all)
    {
        AnsiConsole.MarkupLine($"Source: {report.SourceUsers:N0} users, {report.SourceGroups:N0} groups{(report.SourcePosition is { } p ? $" (journal position {p})" : "")}");
        foreach (var t in report.Targets)
        {
            if (t.Error is not null)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(t.Target)}: unreachable: {Markup.Escape(t.Error)}[/]");
                continue;
            }
            var plan = t.Plan!;
            AnsiConsole.Write(new Rule($"{Markup.Escape(t.Target)}: {plan.Operations.Count:N0} operations"));
            if (t.Incomplete is not null) AnsiConsole.MarkupLine($"[yellow]  read incomplete: {Markup.Escape(t.Incomplete)}; nothing is taken away or repaired on this target[/]");
            var table = new Table().AddColumns("operation", "count");
            foreach (var g in plan.Operations.GroupBy(o => o.Verb + " " + o.Subject.Split(' ')[0]).OrderBy(g => g.Key, StringComparer.Ordinal))
                table.AddRow(Markup.Escape(g.Key), g.Count().ToString("N0", CultureInfo.CurrentCulture));
            foreach (var (s, n) in plan.Situations.OrderBy(kv => kv.Key))
                table.AddRow($"[grey]situation {s.ToString().ToLowerInvariant()}[/]", n.ToString("N0", CultureInfo.CurrentCulture));
            AnsiConsole.Write(table);
            var shown = all ? plan.Operations : plan.Operations.Take(50).ToList();
            foreach (var op in shown) Console.WriteLine("  " + op);
            if (shown.Count < plan.Operations.Count) Console.WriteLine($"  ... and {plan.Operations.Count - shown.Count:N0} more (--all lists every one, --json for machines)");
            foreach (var f in plan.Findings.Take(all ? int.MaxValue : 50)) Console.WriteLine("  ! " + f);
            if (plan.NeedsConfirmation) AnsiConsole.MarkupLine($"[yellow]  guard: {Markup.Escape(plan.GuardMessage!)}; a run will wait for --confirm[/]");
        }
    }

    private static void PrintRun(RunReport report)
    {
        var table = new Table().AddColumns("target", "planned", "done", "failed", "seconds", "note");
        foreach (var t in report.Targets)
            table.AddRow(Markup.Escape(t.Target), (t.Plan?.Operations.Count ?? 0).ToString("N0", CultureInfo.CurrentCulture),
                (t.Execution?.Succeeded ?? 0).ToString("N0", CultureInfo.CurrentCulture), (t.Execution?.Failed ?? 0).ToString("N0", CultureInfo.CurrentCulture),
                (t.Execution?.Elapsed.TotalSeconds ?? 0).ToString("F1", CultureInfo.CurrentCulture),
                Markup.Escape(t.Error ?? string.Join("; ", new[]
                {
                    t.Incomplete is null ? null : "read incomplete, nothing taken away or repaired: " + t.Incomplete,
                    t.HeldByGuard ? "held by guard: " + t.Plan!.GuardMessage : null,
                    t.Execution?.Errors.FirstOrDefault(),
                }.OfType<string>())));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Source {report.SourceUsers:N0} users, {report.SourceGroups:N0} groups; finished in {report.Elapsed.TotalSeconds:F1} s.");
    }

    private static void PrintReconcile(ReconcileReport report)
    {
        foreach (var t in report.Targets)
        {
            AnsiConsole.Write(new Rule($"{Markup.Escape(t.Target)}: {t.Accounts:N0} accounts, {t.Drift.Count} out-of-band changes"));
            if (t.Error is not null) AnsiConsole.MarkupLine($"[red]{Markup.Escape(t.Error)}[/]");
            if (t.Incomplete is not null) AnsiConsole.MarkupLine($"[yellow]read incomplete: {Markup.Escape(t.Incomplete)}; nothing is taken away or repaired on this target[/]");
            if (t.Plan.GuardMessage is not null) AnsiConsole.MarkupLine($"[yellow]guard: {Markup.Escape(t.Plan.GuardMessage)}; run again with --confirm after checking[/]");
            if (t.Drift.Count > 0)
            {
                var table = new Table().AddColumns("change", "account", "attributes", "owner");
                foreach (var d in t.Drift) table.AddRow(d.Kind.ToString().ToLowerInvariant(), Markup.Escape($"{d.UserName} [{d.TargetId}]"), Markup.Escape(string.Join(", ", d.Attributes)), Markup.Escape(d.SourceId ?? "unmanaged"));
                AnsiConsole.Write(table);
            }
            foreach (var op in t.Plan.Operations.Take(50)) Console.WriteLine("  " + op);
            foreach (var f in t.Plan.Findings.Take(50)) Console.WriteLine("  ! " + f);
            Console.WriteLine(t.Repaired ? $"  repaired: {t.Execution?.Succeeded ?? 0} operations, {t.Execution?.Failed ?? 0} failed" : $"  not repaired ({t.Plan.Operations.Count} operations pending)");
        }
    }

    private static void PrintStatus(IReadOnlyList<TargetStatus> status)
    {
        var table = new Table().AddColumns("target", "accounts", "linked", "groups", "queued", "held", "last complete read");
        foreach (var s in status)
            table.AddRow(Markup.Escape(s.Target), s.Accounts.ToString("N0", CultureInfo.CurrentCulture), s.Links.ToString("N0", CultureInfo.CurrentCulture),
                s.Groups.ToString("N0", CultureInfo.CurrentCulture), s.Pending.ToString("N0", CultureInfo.CurrentCulture), s.Held.Count.ToString("N0", CultureInfo.CurrentCulture),
                s.LastRead?.LastCompleteAt is { } at ? $"{at:u} ({s.LastRead.LastCompleteAccounts:N0} accounts)" : "never");
        AnsiConsole.Write(table);
        foreach (var s in status)
        {
            if (s.LastRead is { Complete: false } read)
                Console.WriteLine($"  {s.Target}: the last read ({read.At:u}) was incomplete: {read.Problems}");
            if (s.Held.Count == 0) continue;
            Console.WriteLine($"  {s.Target}: the mass-change guard holds {s.Held.Count:N0} removals since {s.Held.Min(h => h.Since):u}: {s.Held[^1].Reason}");
            foreach (var h in s.Held.Take(20)) Console.WriteLine($"    held: {h.Verb} {h.Subject}");
            if (s.Held.Count > 20) Console.WriteLine($"    ... and {s.Held.Count - 20:N0} more (--json lists every one); release them with `scimsync sync run --confirm`");
        }
        foreach (var s in status)
            foreach (var a in s.RecentAudit)
                Console.WriteLine($"  {a.Time:u} {a.Target} {a.Verb} {a.Subject} {a.Result}{(a.Status is { } st ? " " + st : "")} {a.DurationMs:F0} ms ({a.Cause}){(a.Detail is null ? "" : ": " + a.Detail)}");
    }

    /// <summary>
    /// The run or plan as JSON on standard output, written as it goes: an initial load's plan holds 100,000
    /// operations with their documents, which as one tree (then one string) took seconds and half a gigabyte.
    /// </summary>
    private static void WritePlanJson(RunReport report)
    {
        Console.Out.Flush();
        using (var stdout = Console.OpenStandardOutput())
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("started", report.Started.ToString("O"));
            w.WriteNumber("elapsedSeconds", report.Elapsed.TotalSeconds);
            w.WritePropertyName("source");
            new JsonObject { ["users"] = report.SourceUsers, ["groups"] = report.SourceGroups, ["position"] = report.SourcePosition }.WriteTo(w);
            w.WriteStartArray("targets");
            foreach (var t in report.Targets)
            {
                w.WriteStartObject();
                w.WriteString("target", t.Target);
                if (t.Error is null) w.WriteNull("error");
                else w.WriteString("error", t.Error);
                w.WriteBoolean("heldByGuard", t.HeldByGuard);
                if (t.Incomplete is null) w.WriteNull("incomplete");
                else w.WriteString("incomplete", t.Incomplete);
                if (t.Plan?.GuardMessage is { } guard) w.WriteString("guard", guard);
                else w.WriteNull("guard");
                w.WritePropertyName("situations");
                if (t.Plan is null) w.WriteNullValue();
                else new JsonObject(t.Plan.Situations.Select(kv => KeyValuePair.Create(kv.Key.ToString().ToLowerInvariant(), (JsonNode?)kv.Value))).WriteTo(w);
                w.WriteStartArray("operations");
                foreach (var op in t.Plan?.Operations ?? [])
                {
                    OperationJson(op).WriteTo(w);
                    if (w.BytesPending > 1 << 16) w.Flush();
                }
                w.WriteEndArray();
                w.WriteStartArray("findings");
                foreach (var f in t.Plan?.Findings ?? [])
                    new JsonObject
                    {
                        ["situation"] = f.Situation?.ToString().ToLowerInvariant() ?? "protected", ["targetId"] = f.TargetId, ["userName"] = f.UserName, ["detail"] = f.Detail,
                    }.WriteTo(w);
                w.WriteEndArray();
                w.WritePropertyName("executed");
                if (t.Execution is null) w.WriteNullValue();
                else new JsonObject { ["succeeded"] = t.Execution.Succeeded, ["failed"] = t.Execution.Failed, ["seconds"] = t.Execution.Elapsed.TotalSeconds, ["errors"] = new JsonArray(t.Execution.Errors.Select(e => (JsonNode)JsonValue.Create(e)).ToArray()) }.WriteTo(w);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Console.WriteLine();
    }

    private static JsonNode OperationJson(PlannedOperation op)
    {
        var o = new JsonObject { ["verb"] = op.Verb, ["subject"] = op.Subject, ["detail"] = op.Detail, ["urgent"] = op.Urgent };
        switch (op)
        {
            case CreateAccount c: o["sourceId"] = c.SourceId; o["resource"] = c.Document; break;
            case UpdateAccount u: o["targetId"] = u.TargetId; o["sourceId"] = u.SourceId; o["operations"] = new JsonArray(u.Operations.Select(x => x.DeepClone()).ToArray()); break;
            case DeactivateAccount d: o["targetId"] = d.TargetId; o["sourceId"] = d.SourceId; break;
            case DeleteAccount d: o["targetId"] = d.TargetId; o["sourceId"] = d.SourceId; break;
            case LinkAccount l: o["targetId"] = l.TargetId; o["sourceId"] = l.SourceId; break;
            case RetireGroup r: o["targetGroupId"] = r.TargetGroupId; o["sourceGroupId"] = r.SourceGroupId; break;
            case ChangeMembers m: o["targetGroupId"] = m.TargetGroupId; o["add"] = new JsonArray(m.AddSourceIds.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()); o["remove"] = new JsonArray(m.RemoveTargetIds.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()); break;
        }
        return o;
    }

    private static object ReconcileJson(ReconcileReport report) => new
    {
        report.Started,
        elapsedSeconds = report.Elapsed.TotalSeconds,
        targets = report.Targets.Select(t => new
        {
            t.Target,
            t.Accounts,
            t.Error,
            t.Incomplete,
            guard = t.Plan.GuardMessage,
            drift = t.Drift.Select(d => new { kind = d.Kind.ToString().ToLowerInvariant(), d.TargetId, d.UserName, d.SourceId, d.Attributes }),
            planned = t.Plan.Operations.Select(o => o.ToString()),
            findings = t.Plan.Findings.Select(f => f.ToString()),
            t.Repaired,
            executed = t.Execution is null ? null : new { t.Execution.Succeeded, t.Execution.Failed, t.Execution.Errors },
        }),
    };
}
