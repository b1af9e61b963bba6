using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// How plan, run, reconcile and status render their reports: tables and lines for a person, JSON (written as it goes)
/// for scripts. The engine returns the data; nothing here decides anything.
/// </summary>
internal static partial class SyncCommand
{
    private static string N(long n) => n.ToString("N0", CultureInfo.CurrentCulture);

    private static void PrintPlan(RunReport report, bool all)
    {
        Output.Line($"Source: {report.SourceUsers:N0} users, {report.SourceGroups:N0} groups{(report.SourcePosition is { } p ? $" (journal position {p})" : "")}");
        foreach (var warning in report.SourceWarnings) Output.Line("Source: " + warning, "yellow");
        foreach (var t in report.Targets)
        {
            if (t.Error is not null || t.Plan is null)
            {
                Output.Line($"{t.Target}: {(t.Stopped ? "not read: stopped on request" : "unreachable: " + t.Error)}", "red");
                continue;
            }
            var plan = t.Plan;
            Output.Heading($"{t.Target}: {plan.Operations.Count:N0} operations");
            if (t.Incomplete is not null) Output.Line($"  read incomplete: {t.Incomplete}; nothing is taken away or repaired on this target", "yellow");
            Output.Table(["operation", "count"],
                plan.Operations.GroupBy(o => o.Verb + " " + o.Subject.Split(' ')[0]).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (IReadOnlyList<string>)[g.Key, N(g.Count())])
                    .Concat(plan.Situations.OrderBy(kv => kv.Key).Select(kv => (IReadOnlyList<string>)[$"situation {kv.Key.ToString().ToLowerInvariant()}", N(kv.Value)])));
            var shown = all ? plan.Operations : plan.Operations.Take(50).ToList();
            foreach (var op in shown) Console.Out.WriteLine("  " + op);
            if (shown.Count < plan.Operations.Count) Console.Out.WriteLine($"  ... and {plan.Operations.Count - shown.Count:N0} more (--all lists every one, --json for machines)");
            foreach (var f in plan.Findings.Take(all ? int.MaxValue : 50)) Console.Out.WriteLine("  ! " + f);
            if (plan.NeedsConfirmation) Output.Line($"  guard: {plan.GuardMessage}; a run will wait for --confirm", "yellow");
        }
    }

    private static void PrintRun(RunReport report)
    {
        Output.Table(["target", "planned", "done", "failed", "not started", "seconds", "note"], report.Targets.Select(t => (IReadOnlyList<string>)[
            t.Target, N(t.Plan?.Operations.Count ?? 0), N(t.Execution?.Succeeded ?? 0), N(t.Execution?.Failed ?? 0), N(t.Execution?.Stopped ?? 0),
            (t.Execution?.Elapsed.TotalSeconds ?? 0).ToString("F1", CultureInfo.CurrentCulture),
            t.Error ?? string.Join("; ", new[]
            {
                t.Stopped ? "stopped on request before it was read" : null,
                t.Incomplete is null ? null : "read incomplete, nothing taken away or repaired: " + t.Incomplete,
                t.HeldByGuard ? "held by guard: " + t.Plan!.GuardMessage : null,
                t.Execution?.Errors.FirstOrDefault(),
            }.OfType<string>())]));
        Output.Line($"Source {report.SourceUsers:N0} users, {report.SourceGroups:N0} groups; finished in {report.Elapsed.TotalSeconds:F1} s.");
        foreach (var warning in report.SourceWarnings) Output.Line("Source: " + warning, "yellow");
    }

    private static void PrintReconcile(ReconcileReport report)
    {
        foreach (var t in report.Targets)
        {
            Output.Heading($"{t.Target}: {t.Accounts:N0} accounts, {t.Drift.Count} out-of-band changes");
            if (t.Stopped) Output.Line("not read: stopped on request", "yellow");
            if (t.Error is not null) Output.Line(t.Error, "red");
            if (t.Incomplete is not null) Output.Line($"read incomplete: {t.Incomplete}; nothing is taken away or repaired on this target", "yellow");
            if (t.Plan.GuardMessage is not null) Output.Line($"guard: {t.Plan.GuardMessage}; run again with --confirm after checking", "yellow");
            if (t.Drift.Count > 0)
                Output.Table(["change", "account", "attributes", "owner"], t.Drift.Select(d => (IReadOnlyList<string>)[
                    d.Kind.ToString().ToLowerInvariant(), $"{d.UserName} [{d.TargetId}]", string.Join(", ", d.Attributes), d.SourceId ?? "unmanaged"]));
            foreach (var op in t.Plan.Operations.Take(50)) Console.Out.WriteLine("  " + op);
            foreach (var f in t.Plan.Findings.Take(50)) Console.Out.WriteLine("  ! " + f);
            Console.Out.WriteLine(t.Repaired ? $"  repaired: {t.Execution?.Succeeded ?? 0} operations, {t.Execution?.Failed ?? 0} failed" : $"  not repaired ({t.Plan.Operations.Count} operations pending)");
        }
    }

    private static void PrintStatus(IReadOnlyList<TargetStatus> status)
    {
        Output.Table(["target", "accounts", "linked", "groups", "queued", "held", "last complete read"], status.Select(s => (IReadOnlyList<string>)[
            s.Target, N(s.Accounts), N(s.Links), N(s.Groups), N(s.Pending), N(s.Held.Count),
            s.LastRead?.LastCompleteAt is { } at ? $"{at:u} ({s.LastRead.LastCompleteAccounts:N0} accounts)" : "never"]));
        foreach (var s in status)
        {
            // Engines sharing a PostgreSQL state: who works on the target (a lease past its expiry is free to take).
            if (s.Owner is not null) Console.Out.WriteLine($"  {s.Target}: owned by engine {s.Owner}, lease until {s.LeaseExpires:u}");
            if (s.LastRead is { Complete: false } read)
                Console.Out.WriteLine($"  {s.Target}: the last read ({read.At:u}) was incomplete: {read.Problems}");
            if (s.Held.Count == 0) continue;
            Console.Out.WriteLine($"  {s.Target}: the mass-change guard holds {s.Held.Count:N0} removals since {s.Held.Min(h => h.Since):u}: {s.Held[^1].Reason}");
            foreach (var h in s.Held.Take(20)) Console.Out.WriteLine($"    held: {h.Verb} {h.Subject}");
            if (s.Held.Count > 20) Console.Out.WriteLine($"    ... and {s.Held.Count - 20:N0} more (--json lists every one)");
            Console.Out.WriteLine($"    release them with `scimsync sync confirm {s.Target}` (this target alone) or `scimsync sync run --confirm` (a full run)");
        }
        foreach (var s in status)
            foreach (var a in s.RecentAudit)
                Console.Out.WriteLine($"  {a.Time:u} {a.Target} {a.Verb} {a.Subject} {a.Result}{(a.Status is { } st ? " " + st : "")} {a.DurationMs:F0} ms ({a.Cause}){(a.Detail is null ? "" : ": " + a.Detail)}");
    }

    /// <summary>
    /// The run or plan as JSON on standard output, written as it goes: an initial load's plan holds 100,000
    /// operations with their documents, which as one tree (then one string) took seconds and half a gigabyte.
    /// </summary>
    /// <param name="scope">With <c>plan --explain</c>: each target's scope decisions, written as the target's <c>scope</c>.</param>
    private static void WritePlanJson(RunReport report, Func<string, SecretAttributes> secretsOf, IReadOnlyList<TargetScope>? scope = null)
    {
        Console.Out.Flush();
        using (var stdout = Console.OpenStandardOutput())
        using (var w = new Utf8JsonWriter(stdout, Output.JsonWriter))
        {
            w.WriteStartObject();
            w.WriteString("started", report.Started.ToString("O"));
            w.WriteString("outcome", JsonNamingPolicy.CamelCase.ConvertName(report.Outcome.ToString()));
            w.WriteBoolean("stopped", report.Stopped);
            w.WriteNumber("elapsedSeconds", report.Elapsed.TotalSeconds);
            w.WritePropertyName("source");
            new JsonObject
            {
                ["users"] = report.SourceUsers, ["groups"] = report.SourceGroups, ["position"] = report.SourcePosition,
                ["warnings"] = new JsonArray(report.SourceWarnings.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()),
            }.WriteTo(w);
            w.WriteStartArray("targets");
            foreach (var t in report.Targets)
            {
                w.WriteStartObject();
                w.WriteString("target", t.Target);
                if (t.Error is null) w.WriteNull("error");
                else w.WriteString("error", t.Error);
                w.WriteBoolean("heldByGuard", t.HeldByGuard);
                w.WriteBoolean("stopped", t.Stopped);
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
                    OperationJson(op, secretsOf(t.Target)).WriteTo(w);
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
                if (scope?.FirstOrDefault(x => x.Target == t.Target) is { } explained)
                {
                    w.WriteStartArray("scope");
                    foreach (var v in explained.Accounts)
                    {
                        ScopeJson(v).WriteTo(w);
                        if (w.BytesPending > 1 << 16) w.Flush();
                    }
                    w.WriteEndArray();
                }
                w.WritePropertyName("executed");
                if (t.Execution is null) w.WriteNullValue();
                else new JsonObject { ["succeeded"] = t.Execution.Succeeded, ["failed"] = t.Execution.Failed, ["notStarted"] = t.Execution.Stopped, ["seconds"] = t.Execution.Elapsed.TotalSeconds, ["errors"] = new JsonArray(t.Execution.Errors.Select(e => (JsonNode)JsonValue.Create(e)).ToArray()) }.WriteTo(w);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Console.WriteLine();
    }

    /// <param name="secrets">The target's secret attributes: their values are shown as "(secret)" (DESIGN.md invariant 9).</param>
    private static JsonNode OperationJson(PlannedOperation op, SecretAttributes secrets)
    {
        var o = new JsonObject { ["verb"] = op.Verb, ["subject"] = op.Subject, ["detail"] = op.Detail, ["urgent"] = op.Urgent };
        switch (op)
        {
            case CreateAccount c: o["sourceId"] = c.SourceId; o["resource"] = secrets.RedactResource(c.Document); break;
            case UpdateAccount u: o["targetId"] = u.TargetId; o["sourceId"] = u.SourceId; o["operations"] = new JsonArray(u.Operations.Select(x => (JsonNode)secrets.RedactPatchOperation(x)).ToArray()); break;
            case DeactivateAccount d: o["targetId"] = d.TargetId; o["sourceId"] = d.SourceId; break;
            case DeleteAccount d: o["targetId"] = d.TargetId; o["sourceId"] = d.SourceId; break;
            case LinkAccount l: o["targetId"] = l.TargetId; o["sourceId"] = l.SourceId; break;
            case RetireGroup r: o["targetGroupId"] = r.TargetGroupId; o["sourceGroupId"] = r.SourceGroupId; break;
            case ChangeMembers m:
                o["targetGroupId"] = m.TargetGroupId;
                o["add"] = new JsonArray(m.AddSourceIds.Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
                o["addGroups"] = new JsonArray(m.AddGroups.Select(x => (JsonNode)JsonValue.Create(x.SourceGroupId)).ToArray());
                o["remove"] = new JsonArray(m.RemoveTargetIds.Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
                break;
        }
        return o;
    }

    private static object ReconcileJson(ReconcileReport report) => new
    {
        report.Started,
        report.Outcome,
        report.Stopped,
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
            t.HeldByGuard,
            t.Stopped,
            executed = t.Execution is null ? null : new { t.Execution.Succeeded, t.Execution.Failed, notStarted = t.Execution.Stopped, t.Execution.Errors },
        }),
    };
}
