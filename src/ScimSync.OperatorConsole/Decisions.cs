using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using ScimSync.OperatorConsole.Pages;
using ScimSync.Sync.Inquiry;
using ScimSync.Sync.Runs;

namespace ScimSync.OperatorConsole;

/// <summary>
/// The decisions a person makes in the console, each a form POST: operators only (a viewer gets 403 before anything
/// runs), with a valid antiforgery token (else 400), audited in the provisioning log with the person's name
/// (<see cref="SyncEngine.RecordDecision"/>). The work is the engine's own: the same calls as <c>sync run --user</c> and
/// <c>sync confirm</c>.
/// </summary>
internal static class Decisions
{
    public static void Map(WebApplication app)
    {
        app.MapPost(ConsoleHosting.Root + "/people/provision", ProvisionAsync).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();
        app.MapPost(ConsoleHosting.Root + "/people/revert", RevertAsync).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();
        app.MapPost(ConsoleHosting.Root + "/targets/{name}/confirm", ConfirmAsync).RequireAuthorization(ConsoleHosting.OperatorPolicy).DisableAntiforgery();
    }

    /// <summary>The request's antiforgery token is valid (the form's field and the cookie agree).</summary>
    public static async Task<bool> ValidAsync(HttpContext ctx, IAntiforgery antiforgery)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(ctx).ConfigureAwait(false);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    private static async Task<IResult> ProvisionAsync(HttpContext ctx, IAntiforgery antiforgery, SyncEngine engine)
    {
        if (!await ValidAsync(ctx, antiforgery).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
        var who = form["who"].ToString().Trim();
        if (who.Length is 0 or > 256) return Results.BadRequest("say whom to provision: a userName, id or externalId");
        var by = ctx.User.Identity!.Name!;
        DemandReport? report = null;
        string? error = null;
        try
        {
            report = await engine.ProvisionAsync(who, null, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (PersonNotFoundException e)
        {
            error = e.Message;
        }
        engine.RecordDecision("*", $"provision {who} on demand", by, report is null ? "failed" : report.Outcome.ToString(), error ?? report!.Cause);
        return new RazorComponentResult<ProvisionResult>(new { Who = who, Report = report, Error = error });
    }

    /// <summary>
    /// Reverts one person's out-of-band changes on one target: provisioning on demand on that target with drift repaired,
    /// whatever its drift policy (the account is read first, so what is reverted is what is there now); edits accepted
    /// earlier for the account are forgotten first, so they are reverted too.
    /// </summary>
    private static async Task<IResult> RevertAsync(HttpContext ctx, IAntiforgery antiforgery, SyncEngine engine)
    {
        if (!await ValidAsync(ctx, antiforgery).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
        var who = form["who"].ToString().Trim();
        var target = engine.TargetNames.FirstOrDefault(n => string.Equals(n, form["target"].ToString(), StringComparison.OrdinalIgnoreCase));
        if (who.Length is 0 or > 256 || target is null) return Results.BadRequest("say whom to revert, and on which target");
        DemandReport? report = null;
        string? error = null;
        try
        {
            report = await engine.RevertDriftAsync(who, target, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PersonNotFoundException or TargetNotHeldException)
        {
            error = e.Message;
        }
        engine.RecordDecision(target, $"revert out-of-band changes of {who}", ctx.User.Identity!.Name!, report is null ? "failed" : report.Outcome.ToString(), error ?? report!.Cause);
        return new RazorComponentResult<ProvisionResult>(new { Who = who, Report = report, Error = error, Title = $"Reverting out-of-band changes of {who} on {target}" });
    }

    private static async Task<IResult> ConfirmAsync(string name, HttpContext ctx, IAntiforgery antiforgery, SyncEngine engine)
    {
        if (!await ValidAsync(ctx, antiforgery).ConfigureAwait(false)) return Results.BadRequest("the form's antiforgery token is missing or invalid: reload the page");
        var target = engine.TargetNames.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
        if (target is null) return Results.NotFound();
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
        if (!engine.Holds(target))
            return new RazorComponentResult<ReleasePage>(new { Name = target, Refused = new TargetNotHeldException(target).Message });
        var release = await engine.PlanReleaseAsync(target, null, ctx.RequestAborted).ConfigureAwait(false);
        // The person confirmed the list they saw: when it is no longer that list, nothing is applied and they look again.
        if (Fingerprint(release) != form["release"].ToString())
            return new RazorComponentResult<ReleasePage>(new { Name = target, Release = release, Changed = true });
        var by = ctx.User.Identity!.Name!;
        var report = await engine.ConfirmAsync(release, null, ctx.RequestAborted).ConfigureAwait(false);
        var ok = report.Applied.Count(a => a.Result == "ok");
        engine.RecordDecision(target, $"confirm {release.Held.Count} held removals", by, report.Outcome.ToString(),
            $"applied {ok} of {release.Release.Count}; {release.NoLongerAsked.Count} no longer asked; {report.StillHeld.Count} still held");
        return new RazorComponentResult<ConfirmResult>(new { Report = report });
    }

    /// <summary>What a release will apply, as a short value the form carries back: the held keys and the operations.</summary>
    public static string Fingerprint(HoldRelease release)
    {
        var text = string.Join('\n', release.Held.Select(h => "held " + h.Key).Concat(release.Release.Select(o => "op " + o)).Order(StringComparer.Ordinal));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
