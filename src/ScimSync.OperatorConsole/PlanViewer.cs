using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Runs;

namespace ScimSync.OperatorConsole;

/// <summary>
/// The plan viewer's plan: made by <see cref="SyncEngine.PlanAsync"/>, the dry run <c>sync plan</c> prints (the source
/// and every target read, nothing applied), one at a time, and kept until the next is asked for. What a page shows is
/// summarised once, when the plan is made: counts per target, and the first <see cref="Shown"/> operations of each with
/// their values (old → new, secrets redacted), so rendering costs the same whether a target plans ten operations or
/// 100,000.
/// </summary>
public sealed class PlanViewer(SyncEngine engine, TimeProvider time)
{
    /// <summary>Operations listed per target; the rest are counted.</summary>
    public const int Shown = 200;

    private readonly SemaphoreSlim _one = new(1, 1);

    public PlanSnapshot? Last { get; private set; }

    /// <summary>Why the last attempt to make a plan failed, and when; cleared by the next plan made.</summary>
    public (DateTimeOffset At, string By, string Error)? LastFailure { get; private set; }

    /// <summary>Whether a plan is being made now (another request waits for it rather than starting a second).</summary>
    public bool Busy => _one.CurrentCount == 0;

    public async Task<PlanSnapshot?> FreshAsync(string by, CancellationToken ct)
    {
        await _one.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var report = await engine.PlanAsync(null, ct).ConfigureAwait(false);
            LastFailure = null;
            return Last = new PlanSnapshot(time.GetUtcNow(), by, report.SourceUsers, report.Targets.Select(Summarise).ToArray());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The page says what went wrong (the source unreachable, say) rather than answering 500.
            LastFailure = (time.GetUtcNow(), by, e.Message);
            return Last;
        }
        finally
        {
            _one.Release();
        }
    }

    internal static void Map(WebApplication app) =>
        // Operators only: a plan changes nothing at the targets, but it reads the source and every target whole, which at
        // 100,000 accounts is minutes of work for the engine and each application.
        app.MapPost(ConsoleHosting.Root + "/plan/fresh", async (HttpContext ctx, IAntiforgery af, PlanViewer viewer) =>
        {
            if (!await Decisions.ValidAsync(ctx, af).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
            await viewer.FreshAsync(ctx.User.Identity!.Name!, ctx.RequestAborted).ConfigureAwait(false);
            return Results.Redirect(ConsoleHosting.Root + "/plan");
        }).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();

    private TargetPlanSummary Summarise(TargetRun run)
    {
        if (run.Plan is not { } plan) return new TargetPlanSummary(run.Target, run.Error ?? (run.Stopped ? "stopped" : "not planned"), new Dictionary<string, int>(), 0, null, [], 0, []);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var op in plan.Operations) counts[Category(op)] = counts.GetValueOrDefault(Category(op)) + 1;
        var held = plan.NeedsConfirmation ? plan.Operations.Count(o => o.TakesAccessAway) : 0;
        var secrets = engine.SecretsOf(run.Target);
        var shown = plan.Operations.Take(Shown).Select(op => new ShownOperation(Category(op), op.Subject, op.Detail, plan.NeedsConfirmation && op.TakesAccessAway, Changes(run.Target, op, secrets))).ToArray();
        return new TargetPlanSummary(run.Target, run.Incomplete, counts, held, plan.GuardMessage, shown, plan.Operations.Count, plan.Findings.Take(Shown).Select(f => f.ToString()).ToArray())
        {
            FindingCount = plan.Findings.Count,
        };
    }

    /// <summary>How the viewer counts an operation: by its verb, every group operation as "group".</summary>
    public static string Category(PlannedOperation op) => op.Subject.StartsWith("group ", StringComparison.Ordinal) ? "group" : op.Verb;

    /// <summary>An update's attributes as the shadow holds them (as last read) against what the update writes.</summary>
    private IReadOnlyList<string> Changes(string target, PlannedOperation op, Sync.Mapping.SecretAttributes secrets)
    {
        if (op is not UpdateAccount u) return [];
        var before = engine.Shadows.AccountData(target, u.TargetId);
        return u.Operations.Select(o =>
        {
            var path = o["path"]?.ToString() ?? "";
            var old = before is null ? null : Sync.MappedPath.Parse(path).Read(before);
            return $"{path}: {Show(secrets.Redact(path, old))} → {Show(secrets.Redact(path, o["op"]?.ToString() == "remove" ? null : o["value"]))}";
        }).ToArray();
    }

    private static string Show(JsonNode? node) => Components.Format.Value(node);
}

public sealed record PlanSnapshot(DateTimeOffset At, string By, int SourceUsers, IReadOnlyList<TargetPlanSummary> Targets);

/// <param name="Problem">The target's error, or why its read was incomplete.</param>
/// <param name="Held">Removals the mass-change guard holds (a run would wait for a person to confirm them).</param>
public sealed record TargetPlanSummary(string Target, string? Problem, IReadOnlyDictionary<string, int> Counts, int Held, string? Guard,
    IReadOnlyList<ShownOperation> Shown, int Total, IReadOnlyList<string> Findings)
{
    public int FindingCount { get; init; }
}

public sealed record ShownOperation(string Category, string Subject, string Detail, bool Held, IReadOnlyList<string> Changes);
