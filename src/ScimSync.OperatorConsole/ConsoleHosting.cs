using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using ScimSync.OperatorConsole.Components;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Runs;

namespace ScimSync.OperatorConsole;

/// <summary>
/// Puts the operator console on a host that has the engine: its services (<see cref="AddOperatorConsole"/>) and its
/// pages and actions under <c>/console</c> (<see cref="MapOperatorConsole"/>). Pages are Razor components rendered on
/// the server; every decision is a form POST with an antiforgery token, refused (403) for a viewer.
/// </summary>
public static class ConsoleHosting
{
    public const string Scheme = "scimsync-console";
    public const string OperatorPolicy = "console-operator";
    public const string Root = "/console";

    /// <summary>Whether a listen URL is on loopback: the console is served there only (its cookies are not Secure over plain HTTP).</summary>
    public static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    public static IServiceCollection AddOperatorConsole(this IServiceCollection services, SyncEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var config = engine.Config.Console ?? throw new ArgumentException("the configuration has no console section", nameof(engine));
        services.AddSingleton(engine);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(new ConsoleSignIn(config));
        services.AddSingleton(sp => new SignInThrottle(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<PlanViewer>();
        services.AddRazorComponents();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "scimsync-console-af";
            o.Cookie.Path = Root;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddAuthentication(Scheme).AddCookie(Scheme, o =>
        {
            o.Cookie.Name = "scimsync-console";
            o.Cookie.Path = Root;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.LoginPath = Root + "/signin";
            o.Events.OnRedirectToAccessDenied = ctx =>
            {
                // A viewer's POST to a decision: refused as such, not redirected to a page that does not exist.
                ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
            o.Events.OnRedirectToLogin = ctx =>
            {
                if (HttpMethods.IsGet(ctx.Request.Method)) ctx.Response.Redirect(ctx.RedirectUri);
                else ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Task.CompletedTask;
            };
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(OperatorPolicy, p => p.RequireAuthenticatedUser().RequireRole(nameof(ConsoleRole.Operator).ToLowerInvariant()));
        return services;
    }

    public static WebApplication MapOperatorConsole(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments(Root))
            {
                // No page is cached or framed, and nothing is loaded from anywhere else (no CDN, no script at all).
                var h = ctx.Response.Headers;
                h.CacheControl = "no-store";
                h.XFrameOptions = "DENY";
                h.XContentTypeOptions = "nosniff";
                h.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
                h["Referrer-Policy"] = "no-referrer";
            }
            await next(ctx).ConfigureAwait(false);
        });
        app.MapRazorComponents<App>().RequireAuthorization();
        app.MapPost(Root + "/session", SignInAsync).AllowAnonymous().DisableAntiforgery();
        app.MapPost(Root + "/session/end", async (HttpContext ctx, IAntiforgery af) =>
        {
            if (!await Decisions.ValidAsync(ctx, af).ConfigureAwait(false)) return Results.BadRequest();
            await ctx.SignOutAsync(Scheme).ConfigureAwait(false);
            return Results.Redirect(Root + "/signin");
        }).RequireAuthorization().DisableAntiforgery();
        Decisions.Map(app);
        DriftDecisions.Map(app);
        PlanViewer.Map(app);
        return app;
    }

    private static async Task<IResult> SignInAsync(HttpContext ctx, IAntiforgery af, ConsoleSignIn people, SignInThrottle throttle, ILoggerFactory loggers)
    {
        var address = ctx.Connection.RemoteIpAddress;
        // Before the token is even looked at: while an address is throttled, no answer says whether a guess was right.
        if (throttle.Refusal(address) is { } wait)
        {
            ctx.Response.Headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            return Results.Text("Too many failed sign-ins from this address; try again later.", "text/plain", statusCode: StatusCodes.Status429TooManyRequests);
        }
        if (!await Decisions.ValidAsync(ctx, af).ConfigureAwait(false)) return Results.BadRequest();
        var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
        var person = people.Find(form["token"]);
        var log = loggers.CreateLogger("ScimSync.OperatorConsole");
        var from = address?.ToString() ?? "an unknown address";
        if (person is null)
        {
            ConsoleLog.SignInRefused(log, from);
            if (throttle.Failed(address) is { } reopens)
                ConsoleLog.SignInsThrottled(log, SignInThrottle.FailuresAllowed, from, (int)SignInThrottle.Window.TotalSeconds, reopens);
            return Results.Redirect(Root + "/signin?failed=1");
        }
        await ctx.SignInAsync(Scheme, ConsoleSignIn.Principal(person)).ConfigureAwait(false);
        ConsoleLog.SignedIn(log, person.Name, person.Role.ToString().ToLowerInvariant(), from);
        return Results.Redirect(Root);
    }
}
