using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.State;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync sync log --config FILE [--user X] [--target T] [--result ok|failed] [--since T] [--until T] [--limit N] [--json]</c>:
/// the provisioning log, newest first: each operation with what it changed (old → new), the source change behind
/// it (journal position, time, writer), and on failure the target's answer and what to do. From the engine's
/// state alone, beside a running engine. Also the formatting <c>sync user</c> shares.
/// </summary>
internal static class SyncLogCommand
{
    public static Command Create()
    {
        var log = SyncCommand.Verb("log", "The provisioning log, newest first: each operation with old → new values, the source change behind it, and on failure the target's answer and what to do (engine state only, no call to any target)", out var config, out var json);
        var user = new Option<string?>("--user") { Description = "One person: a userName or source id (entries under an earlier userName are found through the id)", HelpName = "X" };
        var target = new Option<string?>("--target") { Description = "One target, by its name in the configuration", HelpName = "T" };
        var result = new Option<string?>("--result") { Description = "ok or failed", HelpName = "ok|failed" };
        result.AcceptOnlyFromAmong("ok", "failed");
        var since = Instant("--since", "From this time on: ISO 8601 (UTC unless it says otherwise), or an age such as 30m, 24h, 7d");
        var until = Instant("--until", "Before this time, as --since");
        var limit = Options.Positive("--limit", "Entries to show (default 100)");
        foreach (var o in new Option[] { user, target, result, since, until, limit, EngineState.StateOption }) log.Options.Add(o);
        log.SetAction((parse, ct) => WithState(parse.GetValue(config)!, parse.GetValue(EngineState.StateOption), (_, shadows) =>
        {
            var entries = shadows.Log(new AuditQuery(parse.GetValue(user) is { } u ? [u] : null, parse.GetValue(target), parse.GetValue(result),
                parse.GetValue(since), parse.GetValue(until), parse.GetValue(limit) ?? 100));
            if (parse.GetValue(json)) Output.WriteJson(new JsonArray(entries.Select(e => (JsonNode)Json(e)).ToArray()));
            else if (entries.Count == 0) Output.Line("No entries.", "grey");
            else foreach (var e in entries) Print(e, "");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return log;
    }

    /// <summary>A point in time as operators write it: an ISO 8601 instant, or how long ago (<c>24h</c>).</summary>
    private static Option<DateTimeOffset?> Instant(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "TIME",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (Age(text) is { } age) return DateTimeOffset.UtcNow - age;
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)) return at;
            r.AddError($"{name} needs an ISO 8601 time (2025-06-01T09:00:00Z) or an age (30m, 24h, 7d), not \"{text}\"");
            return null;
        },
    };

    private static TimeSpan? Age(string text)
    {
        if (text.Length < 2 || !double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0) return null;
        return text[^1] switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            _ => null,
        };
    }

    /// <summary>
    /// Opens the engine's state beside whatever else has it open (a watching engine): the configuration's directory,
    /// or the PostgreSQL state that <c>--state</c> names. Reads only; nothing is called.
    /// </summary>
    internal static async Task<int> WithState(string configPath, string? state, Func<SyncConfig, ISyncState, Task<int>> work)
    {
        var config = ConfigLoader.Load(configPath);
        using var shadows = EngineState.Open(config, state);
        return await work(config, shadows).ConfigureAwait(false);
    }

    /// <summary>UTC, ISO 8601, to the millisecond: one form for people and for JSON.</summary>
    internal static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A value for a person: JSON (so "" and none differ), "(none)" when absent, the secret marker as it is.</summary>
    internal static string Value(JsonNode? v) => v switch
    {
        null => "(none)",
        JsonValue s when s.TryGetValue<string>(out var text) && text == Sync.Mapping.SecretAttributes.Redacted => text,
        _ => v.ToJsonString(Compact),
    };

    private static readonly System.Text.Json.JsonSerializerOptions Compact = new(Output.Json) { WriteIndented = false };

    /// <summary>Where the change came from: the cause, and for a change from the source's feed its position, time and writer.</summary>
    internal static string Cause(AuditRecord e)
    {
        var parts = new List<string> { e.Cause };
        if (e.JournalPosition is { } p) parts.Add($"journal position {p}");
        if (e.EventTime is { } t) parts.Add($"made {Time(t)}");
        if (e.Writer is { } w) parts.Add($"by {w}");
        return string.Join(", ", parts);
    }

    /// <summary>One entry for a person: a heading line, then the cause, the target's answer and action on failure, and each change.</summary>
    internal static void Print(AuditRecord e, string indent)
    {
        var outcome = e.Result == "ok" ? "ok" : $"{e.Result}{(e.Status is { } s ? " " + s.ToString(CultureInfo.InvariantCulture) : "")}{(e.ScimType is { } st ? " " + st : "")}";
        Output.Line($"{indent}{Time(e.Time)}  {e.Target}  {e.Verb} {e.Subject}  {outcome}  {e.DurationMs.ToString("F0", CultureInfo.InvariantCulture)} ms", e.Result == "ok" ? null : "red");
        Console.Out.WriteLine($"{indent}    cause: {Cause(e)}");
        if (e.Result != "ok" && e.Detail is not null) Console.Out.WriteLine($"{indent}    answer: {e.Detail}");
        else if (e.Detail is not null && e.Changes.Count == 0) Console.Out.WriteLine($"{indent}    detail: {e.Detail}");
        if (e.Action is not null) Output.Line($"{indent}    action: {e.Action}", "yellow");
        foreach (var c in e.Changes) Console.Out.WriteLine($"{indent}    {c.Path}: {Value(c.Old)} → {Value(c.New)}");
    }

    internal static JsonObject Json(AuditRecord e) => new()
    {
        ["time"] = Time(e.Time),
        ["target"] = e.Target,
        ["verb"] = e.Verb,
        ["subject"] = e.Subject,
        ["userName"] = e.UserName,
        ["sourceId"] = e.SourceId,
        ["targetId"] = e.TargetId,
        ["result"] = e.Result,
        ["status"] = e.Status,
        ["scimType"] = e.ScimType,
        ["detail"] = e.Detail,
        ["action"] = e.Action,
        ["durationMs"] = Math.Round(e.DurationMs, 1),
        ["cause"] = e.Cause,
        ["source"] = e.JournalPosition is null && e.EventTime is null && e.Writer is null ? null : new JsonObject
        {
            ["journalPosition"] = e.JournalPosition,
            ["time"] = e.EventTime is { } t ? Time(t) : null,
            ["writer"] = e.Writer,
        },
        ["changes"] = new JsonArray(e.Changes.Select(c => (JsonNode)new JsonObject { ["path"] = c.Path, ["old"] = c.Old?.DeepClone(), ["new"] = c.New?.DeepClone() }).ToArray()),
    };
}
