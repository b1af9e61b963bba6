using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using ScimSync.OperatorConsole.Pages;
using ScimSync.Sync.Intake;
using ScimSync.Sync.Runs;

namespace ScimSync.OperatorConsole;

/// <summary>
/// The decisions about what happened outside the engine: accepting an out-of-band change at a target
/// (<see cref="SyncEngine.AcceptDrift"/>), and replaying the dead letters of the engine's feed subscription at the
/// source (<see cref="SyncEngine.ReplayDeadLettersAsync"/>). Checked as every decision is (<see cref="Decisions"/>):
/// operators only, a valid antiforgery token, audited with the person's name.
/// </summary>
internal static class DriftDecisions
{
    public static void Map(WebApplication app)
    {
        app.MapPost(ConsoleHosting.Root + "/targets/{name}/drift/accept", AcceptAsync).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();
        app.MapPost(ConsoleHosting.Root + "/source/dead-letters/replay", ReplayAsync).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();
    }

    private static async Task<IResult> AcceptAsync(string name, HttpContext ctx, IAntiforgery antiforgery, SyncEngine engine)
    {
        if (!await Decisions.ValidAsync(ctx, antiforgery).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
        var target = engine.TargetNames.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
        if (target is null) return Results.NotFound();
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
        var account = form["account"].ToString();
        if (account.Length is 0 or > 256) return Results.BadRequest("say which account's out-of-band changes to accept");
        var back = $"{ConsoleHosting.Root}/targets/{Uri.EscapeDataString(target)}/drift";
        try
        {
            var kept = engine.AcceptDrift(target, account, ctx.User.Identity!.Name!);
            return Result($"Accepted on {target}", $"The target's {string.Join(", ", kept)} stays as it is, until the source's value changes.", true, back);
        }
        catch (DriftDecisionException e)
        {
            return Result($"Not accepted on {target}", e.Message, false, back);
        }
    }

    private static async Task<IResult> ReplayAsync(HttpContext ctx, IAntiforgery antiforgery, SyncEngine engine)
    {
        if (!await Decisions.ValidAsync(ctx, antiforgery).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
        try
        {
            var n = await engine.ReplayDeadLettersAsync(ctx.User.Identity!.Name!, ctx.RequestAborted).ConfigureAwait(false);
            return Result("Dead letters replayed", $"The source delivers {n} dead letters again on the engine's next poll.", true, ConsoleHosting.Root);
        }
        catch (SourceFeedUnavailableException e)
        {
            return Result("Dead letters not replayed", e.Message, false, ConsoleHosting.Root);
        }
    }

    private static RazorComponentResult<DecisionResult> Result(string title, string message, bool ok, string back) =>
        new(new { Title = title, Message = message, Ok = ok, Back = back });
}
