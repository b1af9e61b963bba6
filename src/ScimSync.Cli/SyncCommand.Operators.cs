using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Sync;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// The verbs that answer an operator's question about one person or one target: <c>sync run --user</c>
/// (provisioning on demand, each step printed), <c>sync confirm TARGET</c> (release one target's held
/// removals) and <c>sync plan --explain</c> (why each account is in scope). The engine returns data; this
/// file only renders it, the same data for a person and for <c>--json</c>.
/// </summary>
internal static partial class SyncCommand
{
    private static Command Confirm()
    {
        var confirm = Verb("confirm", "Release the removals the mass-change guard holds on one target: lists them, then applies exactly those (the source is read, the target is not; other targets are not touched)",
            out var config, out var json);
        var target = new Argument<string>("TARGET") { Description = "The target whose held removals to release (as named in the configuration)" };
        confirm.Arguments.Add(target);
        var wait = SharedStateOptions(confirm, "default 60");
        confirm.SetAction((parse, _) =>
        {
            var waitFor = Wait(parse, wait, ConfirmWait);
            return WithEngine(parse, parse.GetValue(config)!, owns: true, (engine, stop) =>
            {
                var name = KnownTarget(engine, parse.GetValue(target)!);
                // On a shared state: the target's lease is held from before the held removals are read until they are applied.
                return OnHeldTargetsAsync(engine, stop, "confirm", [name], waitFor, parse.GetValue(json), ct => ConfirmAsync(engine, name, parse.GetValue(json), ct));
            });
        });
        return confirm;
    }

    private static async Task<int> ConfirmAsync(SyncEngine engine, string target, bool asJson, CancellationToken ct)
    {
        var release = await WithProgress(asJson, p => engine.PlanReleaseAsync(target, p, ct)).ConfigureAwait(false);
        if (release.NothingHeld)
        {
            if (asJson) Output.WriteJson(ConfirmJson(release, null, engine.SecretsOf(release.Target)));
            else Output.Line($"{release.Target}: nothing is held; nothing to release.");
            return ExitCodes.Ok;
        }
        if (!asJson) PrintRelease(release);
        var report = await engine.ConfirmAsync(release, null, ct).ConfigureAwait(false);
        if (asJson) Output.WriteJson(ConfirmJson(release, report, engine.SecretsOf(release.Target)));
        else PrintConfirmed(report);
        return Finished(report.Outcome, report.Execution?.Stopped > 0, engine);
    }

    /// <summary>The target as the configuration names it, or a usage error listing the names there are.</summary>
    private static string KnownTarget(SyncEngine engine, string name) =>
        engine.TargetNames.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
        ?? throw CliException.Usage($"no target is named \"{name}\"; the targets are {string.Join(", ", engine.TargetNames)}");

    private static async Task<int> ProvisionAsync(SyncEngine engine, string person, string? target, bool json, CancellationToken ct)
    {
        DemandReport report;
        try
        {
            report = await engine.ProvisionAsync(person, target is null ? null : KnownTarget(engine, target), ct).ConfigureAwait(false);
        }
        catch (PersonNotFoundException e)
        {
            throw e.Ambiguous ? CliException.Usage(e.Message) : CliException.Failed(e.Message);
        }
        if (json) Output.WriteJson(DemandJson(report, engine.SecretsOf));
        else PrintDemand(report);
        return Finished(report.Outcome, false, engine);
    }

    private static void PrintDemand(DemandReport report)
    {
        Output.Line($"Provisioning {report.Person} on demand ({report.Cause})");
        // GroupBy keeps the order in which the groups first appear: the source, then each target in turn.
        foreach (var group in report.Steps.GroupBy(s => s.Target))
        {
            Output.Heading(group.Key ?? "source");
            var n = 0;
            foreach (var step in group)
            {
                if (step.Step == DemandStepKind.Call)
                {
                    Output.Line("        " + step.Detail, step.Call?.Status is null or >= 400 ? "red" : "grey");
                    continue;
                }
                var rule = step.Rule is null ? "" : $" ({step.Rule})";
                Output.Line($"  {++n,2}. {Label(step.Step),-11} {step.Outcome}: {step.Detail}{rule}", Style(step));
            }
        }
        Output.Table(["target", "result", "applied", "failed", "held"], report.Targets.Select(t => (IReadOnlyList<string>)[
            t.Target, report.Steps.LastOrDefault(s => s.Target == t.Target && s.Step == DemandStepKind.Result)?.Outcome ?? "", N(t.Applied), N(t.Failed), t.Held ? "yes" : ""]));
    }

    private static string Label(DemandStepKind kind) => kind.ToString().ToLowerInvariant();

    private static string? Style(DemandStep step) => step.Outcome switch
    {
        "failed" or "partially applied" or "disputed" or "not tried" => "red",
        "held" or "deleted" or "not started" => "yellow",
        "out" or "skipped" or "nothing to do" or "no change" => "grey",
        _ => null,
    };

    private static JsonObject DemandJson(DemandReport report, Func<string, SecretAttributes> secretsOf) => new()
    {
        ["person"] = report.Person,
        ["sourceId"] = report.SourceId,
        ["userName"] = report.UserName,
        ["cause"] = report.Cause,
        ["outcome"] = JsonNamingPolicy.CamelCase.ConvertName(report.Outcome.ToString()),
        ["steps"] = new JsonArray(report.Steps.Select(s => (JsonNode)StepJson(s, secretsOf)).ToArray()),
        ["targets"] = new JsonArray(report.Targets.Select(t => (JsonNode)new JsonObject
        {
            ["target"] = t.Target, ["applied"] = t.Applied, ["failed"] = t.Failed, ["held"] = t.Held, ["error"] = t.Error,
        }).ToArray()),
    };

    private static JsonObject StepJson(DemandStep s, Func<string, SecretAttributes> secretsOf)
    {
        var o = new JsonObject { ["step"] = Label(s.Step), ["target"] = s.Target, ["outcome"] = s.Outcome, ["detail"] = s.Detail };
        if (s.Rule is not null) o["rule"] = s.Rule;
        if (s.TargetId is not null) o["targetId"] = s.TargetId;
        if (s.Operation is not null) o["operation"] = OperationJson(s.Operation, secretsOf(s.Operation.Target));
        if (s.Call is { } c)
            o["call"] = new JsonObject { ["endpoint"] = c.Endpoint, ["method"] = c.Method, ["path"] = c.Path, ["status"] = c.Status, ["ms"] = Math.Round(c.Ms, 1), ["error"] = c.Error };
        return o;
    }

    private static void PrintRelease(HoldRelease release)
    {
        var since = release.Held.Min(h => h.Since);
        Output.Heading($"{release.Target}: {release.Held.Count:N0} removals held since {since:u}");
        Output.Line($"  held because: {release.Held[^1].Reason}", "grey");
        if (release.Release.Count > 0)
        {
            Output.Line($"  releasing {release.Release.Count:N0} (the source still asks for them):");
            foreach (var op in release.Release) Console.Out.WriteLine("    " + op);
        }
        if (release.NoLongerAsked.Count > 0)
        {
            Output.Line($"  released without a change, the source no longer asks for them ({release.NoLongerAsked.Count:N0}):");
            foreach (var h in release.NoLongerAsked) Console.Out.WriteLine($"    {h.Verb} {h.Subject}");
        }
    }

    private static void PrintConfirmed(ConfirmReport report)
    {
        foreach (var a in report.Applied.Where(a => a.Result != "ok"))
            Output.Line($"  {a.Result}: {a.Operation}{(a.Detail is null ? "" : ": " + a.Detail)}", "red");
        var ok = report.Applied.Count(a => a.Result == "ok");
        Output.Line($"{report.Release.Target}: applied {ok:N0} of {report.Release.Release.Count:N0}; " +
            (report.StillHeld.Count == 0 ? "nothing is held any more." : $"{report.StillHeld.Count:N0} still held (run `scimsync sync confirm {report.Release.Target}` again after checking)."));
    }

    private static JsonObject ConfirmJson(HoldRelease release, ConfirmReport? report, SecretAttributes secrets) => new()
    {
        ["target"] = release.Target,
        ["outcome"] = JsonNamingPolicy.CamelCase.ConvertName((report?.Outcome ?? RunOutcome.Succeeded).ToString()),
        ["held"] = new JsonArray(release.Held.Select(h => (JsonNode)new JsonObject
        {
            ["key"] = h.Key, ["verb"] = h.Verb, ["subject"] = h.Subject, ["targetId"] = h.TargetId, ["reason"] = h.Reason, ["since"] = h.Since.ToString("O", CultureInfo.InvariantCulture),
        }).ToArray()),
        ["released"] = new JsonArray(release.Release.Select(op =>
        {
            var o = OperationJson(op, secrets).AsObject();
            var applied = report?.Applied.FirstOrDefault(a => ReferenceEquals(a.Operation, op));
            o["result"] = applied?.Result;
            o["error"] = applied?.Detail;
            return (JsonNode)o;
        }).ToArray()),
        ["noLongerAsked"] = new JsonArray(release.NoLongerAsked.Select(h => (JsonNode)new JsonObject { ["key"] = h.Key, ["verb"] = h.Verb, ["subject"] = h.Subject }).ToArray()),
        ["stillHeld"] = new JsonArray((report?.StillHeld ?? release.Held).Select(h => (JsonNode)new JsonObject { ["key"] = h.Key, ["verb"] = h.Verb, ["subject"] = h.Subject }).ToArray()),
    };

    private static void PrintScope(IReadOnlyList<TargetScope> scope, bool all)
    {
        foreach (var t in scope)
        {
            Output.Heading($"{t.Target}: {t.InScope:N0} in scope, {t.LinkedOutOfScope:N0} linked accounts out of scope");
            // The rules at a glance, then each account (the first 50 without --all).
            foreach (var g in t.Accounts.GroupBy(a => (a.Decision.InScope, a.Decision.Rule)).OrderByDescending(g => g.Key.InScope).ThenBy(g => g.Key.Rule, StringComparer.Ordinal))
                Output.Line($"  {(g.Key.InScope ? "in " : "out")} by {g.Key.Rule}: {g.Count():N0}", "grey");
            var shown = all ? t.Accounts : t.Accounts.Take(50).ToList();
            foreach (var v in shown)
                Output.Line($"  {(v.Decision.InScope ? "in " : "out")} {v.UserName}{(v.TargetId is null ? "" : $" [{v.TargetId}]")}: {v.Decision.Reason}", v.Decision.InScope ? null : "yellow");
            if (shown.Count < t.Accounts.Count) Console.Out.WriteLine($"  ... and {t.Accounts.Count - shown.Count:N0} more (--all lists every one, --json for machines)");
        }
    }

    private static JsonObject ScopeJson(ScopeVerdict v) => new()
    {
        ["sourceId"] = v.SourceId,
        ["userName"] = v.UserName,
        ["inScope"] = v.Decision.InScope,
        ["rule"] = v.Decision.Rule,
        ["reason"] = v.Decision.Reason,
        ["targetId"] = v.TargetId,
    };
}
