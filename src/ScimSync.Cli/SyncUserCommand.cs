using System.CommandLine;
using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Inquiry;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync sync user &lt;userName|id|externalId&gt; --config FILE [--history N] [--json]</c>: one person across every
/// target (<see cref="PersonInquiry"/>), from the engine's state and one read of the person at the source; no
/// target is called. Exit 0 when the person is known; 1 when neither the source nor the state knows them.
/// </summary>
internal static class SyncUserCommand
{
    public static Command Create()
    {
        var user = SyncCommand.Verb("user", "One person across every target: scope and the rule that decided it, the account and its situation, the shadow against what the mapping wants, groups, queued and held work, and the history of operations with old → new values (engine state and one source read; no call to any target)", out var config, out var json);
        var key = new Argument<string>("person") { Description = "The person's userName, source id or externalId" };
        var history = Options.Positive("--history", "Operations to show per target, newest first (default 20)");
        user.Arguments.Add(key);
        user.Options.Add(history);
        user.Options.Add(EngineState.StateOption);
        user.SetAction((parse, ct) => SyncLogCommand.WithState(parse.GetValue(config)!, parse.GetValue(EngineState.StateOption), async (cfg, shadows) =>
        {
            var (format, level) = SyncCommand.Logging(parse);
            using var loggers = Observability.EngineLoggers(format, level);
            using var source = cfg.Source is { Type: SourceType.Scim, Endpoint: { } endpoint }
                ? Connections.Open(endpoint, "source", TimeProvider.System, logger: Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<ScimClient>(loggers))
                : null;
            IPersonSource people = source is not null ? new ScimPersonSource(source, cfg.Kinds) : new FilePersonSource(cfg.Source.FilePath!, cfg.Source.Format, cfg.Kinds);
            var name = parse.GetValue(key)!;
            PersonReport? report;
            try
            {
                report = await new PersonInquiry(cfg, shadows, people, TimeProvider.System).AskAsync(name, parse.GetValue(history) ?? 20, ct).ConfigureAwait(false);
            }
            catch (ScimClientException e)
            {
                throw CliException.Failed($"the source could not be read: {e.Message}");
            }
            if (report is null) throw CliException.Failed($"no person \"{name}\" at the source or in the engine's state");
            if (parse.GetValue(json)) Output.WriteJson(Json(report));
            else Print(report);
            return ExitCodes.Ok;
        }));
        return user;
    }

    private static void Print(PersonReport report)
    {
        if (report.Source is { } p)
        {
            Output.Heading(p.UserName);
            Output.Line($"source: id {p.Id}, externalId {p.ExternalId ?? "(none)"}, kind {p.Kind}, end date {(p.EndDate is { } end ? SyncLogCommand.Time(end) : "(none)")}, " +
                $"{(p.ActiveAtSource ? "active" : "inactive")} at the source{(p.ActiveAtSource && !p.ActiveOnTargets ? " (past its end date: inactive on targets)" : "")}; " +
                $"groups: {(p.Groups.Count == 0 ? "(none)" : string.Join(", ", p.Groups))}");
        }
        else
        {
            Output.Heading(report.Key);
            Output.Line("source: not found (deleted there, or never there); below is what the engine remembers", "yellow");
        }
        foreach (var t in report.Targets)
        {
            Output.Heading($"{t.Target}: {(t.Scope.InScope ? "in scope" : "out of scope")} ({t.Scope.Rule}: {t.Scope.Reason})");
            var account = t.Active is { } active ? $" ({(active ? "active" : "inactive")} on the target; last seen {SyncLogCommand.Time(t.Seen!.Value)})" : "";
            Console.Out.WriteLine($"  {t.Situation}: {t.Explanation}{account}");
            if (t.Attributes.Count > 0)
                Output.Table(["attribute", "on the target", "wanted", "note"], t.Attributes.Select(a => (IReadOnlyList<string>)[
                    a.Path, SyncLogCommand.Value(a.OnTarget), SyncLogCommand.Value(a.Wanted), Note(a)]));
            foreach (var g in t.Groups)
                Console.Out.WriteLine($"  group {g.Name}: {(g.OnTarget ? "member on the target" : "not a member on the target")}{(g.Wanted ? ", wanted" : ", not wanted")}");
            if (t.Queued is { } q)
                Console.Out.WriteLine($"  queued: {(q.Urgent ? "urgent " : "")}change waiting since {SyncLogCommand.Time(q.Since)} ({q.Changes + 1} changes queued)");
            if (t.Held is { } h)
                Output.Line($"  held by the guard since {SyncLogCommand.Time(h.Since)}: {h.Verb} {h.Subject} ({h.Reason}); `sync run --confirm` releases it", "yellow");
            foreach (var op in t.Planned) Console.Out.WriteLine($"  a run would: {op}");
            foreach (var f in t.Findings) Console.Out.WriteLine($"  ! {f}");
            if (t.History.Count == 0) Console.Out.WriteLine("  history: none");
            else
            {
                Console.Out.WriteLine("  history, newest first:");
                foreach (var e in t.History) SyncLogCommand.Print(e, "    ");
            }
        }
    }

    private static string Note(AttributeState a) => (a.Differs, a.ChangedAtTarget) switch
    {
        (true, true) => $"changed at the target (the engine wrote {SyncLogCommand.Value(a.LastWritten)}); a run restores it unless drift is reported only",
        (false, true) => $"changed at the target (the engine wrote {SyncLogCommand.Value(a.LastWritten)}), as the source wants",
        (true, false) => "differs: a run updates it",
        _ => "",
    };

    private static JsonObject Json(PersonReport report) => new()
    {
        ["key"] = report.Key,
        ["source"] = report.Source is not { } p ? null : new JsonObject
        {
            ["id"] = p.Id, ["userName"] = p.UserName, ["externalId"] = p.ExternalId, ["kind"] = p.Kind,
            ["endDate"] = p.EndDate is { } e ? SyncLogCommand.Time(e) : null, ["activeAtSource"] = p.ActiveAtSource, ["activeOnTargets"] = p.ActiveOnTargets,
            ["groups"] = new JsonArray(p.Groups.Select(g => (JsonNode)g).ToArray()),
        },
        ["targets"] = new JsonArray(report.Targets.Select(t => (JsonNode)new JsonObject
        {
            ["target"] = t.Target,
            ["inScope"] = t.Scope.InScope,
            ["scopeRule"] = t.Scope.Rule,
            ["scopeReason"] = t.Scope.Reason,
            ["situation"] = t.Situation,
            ["explanation"] = t.Explanation,
            ["targetId"] = t.TargetId,
            ["active"] = t.Active,
            ["seen"] = t.Seen is { } seen ? SyncLogCommand.Time(seen) : null,
            ["attributes"] = new JsonArray(t.Attributes.Select(a => (JsonNode)new JsonObject
            {
                ["path"] = a.Path, ["onTarget"] = a.OnTarget?.DeepClone(), ["wanted"] = a.Wanted?.DeepClone(), ["lastWritten"] = a.LastWritten?.DeepClone(),
                ["differs"] = a.Differs, ["changedAtTarget"] = a.ChangedAtTarget,
            }).ToArray()),
            ["groups"] = new JsonArray(t.Groups.Select(g => (JsonNode)new JsonObject { ["name"] = g.Name, ["targetGroupId"] = g.TargetGroupId, ["onTarget"] = g.OnTarget, ["wanted"] = g.Wanted }).ToArray()),
            ["queued"] = t.Queued is not { } q ? null : new JsonObject { ["urgent"] = q.Urgent, ["since"] = SyncLogCommand.Time(q.Since), ["changes"] = q.Changes + 1 },
            ["held"] = t.Held is not { } h ? null : new JsonObject { ["verb"] = h.Verb, ["subject"] = h.Subject, ["reason"] = h.Reason, ["since"] = SyncLogCommand.Time(h.Since) },
            ["planned"] = new JsonArray(t.Planned.Select(o => (JsonNode)o).ToArray()),
            ["findings"] = new JsonArray(t.Findings.Select(f => (JsonNode)f).ToArray()),
            ["history"] = new JsonArray(t.History.Select(e => (JsonNode)SyncLogCommand.Json(e)).ToArray()),
        }).ToArray()),
    };
}
