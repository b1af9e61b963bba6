using System.Text.RegularExpressions;
using Microsoft.Playwright;
using ScimSync.Sync.Tests.EndToEnd;
using static Microsoft.Playwright.Assertions;

namespace ScimSync.OperatorConsole.Tests;

using Server = ScimSync.Sync.Tests.EndToEnd.Server;
using Cli = ScimSync.Sync.Tests.EndToEnd.Cli;

/// <summary>
/// The operator console in chromium, against real processes (<see cref="ConsoleLandscape"/>): signing in as a viewer
/// and as an operator, what a viewer may not do, a target going down and coming back on the overview, a person's
/// timeline after an edit at the source, a new hire provisioned on demand, and a held mass deactivation confirmed.
/// </summary>
[Collection("Console")]
public sealed class ConsoleBrowserTests(ConsoleLandscape l) : IClassFixture<ConsoleLandscape>
{
    private static readonly LocatorAssertionsToContainTextOptions Slowly = new() { Timeout = 60_000 };

    /// <summary>
    /// A client on 127.0.0.2 (the console listens on 127.0.0.1; the whole of 127/8 is this machine), so that the
    /// throttled address is not the one the other tests sign in from.
    /// </summary>
    private static HttpClient ClientFrom(string address, Uri baseAddress) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = true,
        CookieContainer = new System.Net.CookieContainer(),
        ConnectCallback = async (context, ct) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(address), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }) { BaseAddress = baseAddress };

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string token)
    {
        var page = await client.GetStringAsync("/console/signin");
        var input = Regex.Match(page, "<input[^>]*__RequestVerificationToken[^>]*>").Value;
        var antiforgery = Regex.Match(input, "value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(antiforgery);
        return await client.PostAsync("/console/session", new FormUrlEncodedContent([new("token", token), new("__RequestVerificationToken", antiforgery)]));
    }

    [Fact]
    public async Task Ten_failed_sign_ins_from_an_address_close_sign_in_from_there_even_with_a_right_token_and_nowhere_else()
    {
        using var guesser = ClientFrom("127.0.0.2", l.ConsoleUrl);
        for (var i = 0; i < SignInThrottle.FailuresAllowed; i++)
        {
            using var wrong = await SignInAsync(guesser, $"a-wrong-guess-number-{i:D4}");
            Assert.Equal(System.Net.HttpStatusCode.Redirect, wrong.StatusCode);
            Assert.Equal("/console/signin?failed=1", wrong.Headers.Location!.OriginalString);
        }
        using var refused = await SignInAsync(guesser, ConsoleLandscape.OperatorToken);
        Assert.Equal(System.Net.HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), SignInThrottle.Window);
        Assert.False(refused.Headers.Contains("Set-Cookie") && refused.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("scimsync-console=", StringComparison.Ordinal)),
            "a throttled sign-in with the right token got a session");

        using var elsewhere = ClientFrom("127.0.0.1", l.ConsoleUrl);
        using var ok = await SignInAsync(elsewhere, ConsoleLandscape.OperatorToken);
        Assert.Equal(System.Net.HttpStatusCode.Redirect, ok.StatusCode);
        Assert.Equal("/console", ok.Headers.Location!.OriginalString);
        await l.WaitAsync(() => Task.FromResult(l.EngineLog.Contains($"{SignInThrottle.FailuresAllowed} failed sign-ins from 127.0.0.2", StringComparison.Ordinal)),
            "the engine logs the throttled address");
        Assert.Contains("console: olivia signed in as operator from 127.0.0.1", l.EngineLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signing_in_needs_a_console_token_and_the_session_cookie_is_HttpOnly_and_SameSite_Strict()
    {
        var context = await l.Browser.NewContextAsync(new() { BaseURL = l.ConsoleUrl.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/targets/helpdesk");
        Assert.Equal("/console/signin", new Uri(page.Url).AbsolutePath);
        await ConsoleLandscape.ScreenshotAsync(page, "signin");

        await page.FillAsync("#token", "not-a-console-token-at-all");
        await page.ClickAsync("#signin");
        await Expect(page.Locator("#signin-failed")).ToBeVisibleAsync();
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "scimsync-console");

        await page.FillAsync("#token", ConsoleLandscape.ViewerToken);
        await page.ClickAsync("#signin");
        await Expect(page.Locator("header .who")).ToHaveTextAsync("vera (viewer)");
        var session = (await context.CookiesAsync()).Single(c => c.Name == "scimsync-console");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.Equal("/console", session.Path);
        // No secret on any page: not the console tokens, not the targets' or the source's credentials.
        foreach (var path in new[] { "/console", "/console/targets/helpdesk", "/console/people?who=emp10@example.com", "/console/targets/helpdesk/release", "/console/targets/support/drift", "/console/plan" })
        {
            await page.GotoAsync(path);
            var html = await page.ContentAsync();
            foreach (var secret in new[] { ConsoleLandscape.ViewerToken, ConsoleLandscape.OperatorToken, l.Source.Token, l.Helpdesk.Token, l.Support.Token })
                Assert.DoesNotContain(secret, html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_viewer_reads_but_cannot_decide_the_buttons_are_absent_and_the_posts_are_refused()
    {
        var page = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        await Expect(page.Locator("#targets tr[data-target=helpdesk]")).ToBeVisibleAsync();

        await page.GotoAsync("/console/people?who=emp10@example.com");
        await Expect(page.Locator("#person-name")).ToHaveTextAsync("emp10@example.com");
        Assert.Equal(0, await page.Locator("#provision-now").CountAsync());
        await page.GotoAsync("/console/targets/helpdesk/release");
        Assert.Equal(0, await page.Locator("#confirm-release").CountAsync());

        // The forms posted by hand, with the viewer's session and a valid antiforgery token (the sign-out form's): 403.
        var token = await page.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        var heldBefore = (await l.Helpdesk.UsersAsync()).Count(u => !u["active"]!.GetValue<bool>());
        var confirm = await page.APIRequest.PostAsync("/console/targets/helpdesk/confirm", new() { Form = ConsoleLandscape.Form(page.APIRequest, ("__RequestVerificationToken", token!), ("release", "x")), MaxRedirects = 0 });
        Assert.Equal(403, confirm.Status);
        var provision = await page.APIRequest.PostAsync("/console/people/provision", new() { Form = ConsoleLandscape.Form(page.APIRequest, ("__RequestVerificationToken", token!), ("who", "emp10@example.com")), MaxRedirects = 0 });
        Assert.Equal(403, provision.Status);
        Assert.Equal(heldBefore, (await l.Helpdesk.UsersAsync()).Count(u => !u["active"]!.GetValue<bool>()));

        // An operator's POST without the antiforgery token is refused too (400), and nothing runs.
        var op = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        var forged = await op.APIRequest.PostAsync("/console/people/provision", new() { Form = ConsoleLandscape.Form(op.APIRequest, ("who", "emp10@example.com")), MaxRedirects = 0 });
        Assert.Equal(400, forged.Status);
        // Without a session at all: 401, never a page.
        var anonymous = await (await l.Browser.NewContextAsync(new() { BaseURL = l.ConsoleUrl.ToString() })).APIRequest.PostAsync("/console/targets/helpdesk/confirm", new() { MaxRedirects = 0 });
        Assert.Equal(401, anonymous.Status);
    }

    [Fact]
    public async Task The_overview_shows_a_target_go_down_and_come_back_by_itself()
    {
        var page = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        var support = page.Locator("#targets tr[data-target=support] td.health");
        await Expect(support).ToContainTextAsync("reachable");
        await ConsoleLandscape.ScreenshotAsync(page, "overview");

        await l.Support.StopAsync();
        // A change at the source sends the engine to the support desk, which does not answer.
        await l.Source.PatchAsync("Users", l.Ids["emp20@example.com"], Server.Replace("title", "Down test"));
        // No reload here: the page refreshes itself (meta refresh), as a wall display would.
        await Expect(support).ToContainTextAsync("unreachable", Slowly);
        await ConsoleLandscape.ScreenshotAsync(page, "overview-target-down");

        await l.Support.StartAsync();
        await Expect(support).Not.ToContainTextAsync("unreachable", new() { Timeout = 60_000 });
        await Expect(support).ToContainTextAsync("reachable");
    }

    [Fact]
    public async Task A_person_page_shows_the_timeline_with_old_and_new_values_after_an_edit_at_the_source()
    {
        await l.Source.PatchAsync("Users", l.Ids["emp11@example.com"], Server.Replace("title", "Accountant"));
        await l.WaitAsync(async () => (await l.FindAsync(l.Helpdesk, "emp11@example.com"))?["title"]?.GetValue<string>() == "Accountant", "helpdesk has the new title");
        await l.WaitAsync(async () => (await l.FindAsync(l.Support, "emp11@example.com"))?["title"]?.GetValue<string>() == "Accountant", "support has the new title");

        var page = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        // Found through the target's shadow search, then its person page.
        await page.GotoAsync("/console/targets/helpdesk?q=EMP11");
        await Expect(page.Locator("#shadow-total")).ToHaveTextAsync("1 accounts match.");
        await ConsoleLandscape.ScreenshotAsync(page, "target");
        await page.ClickAsync("#shadow a:text('emp11@example.com')");
        await Expect(page.Locator("#person-name")).ToHaveTextAsync("emp11@example.com");
        var timeline = page.Locator("#timeline tbody tr");
        await Expect(timeline.Filter(new() { HasText = "helpdesk" }).Filter(new() { HasText = "title: (none) → Accountant" })).ToHaveCountAsync(1);
        await Expect(timeline.Filter(new() { HasText = "support" }).Filter(new() { HasText = "title: (none) → Accountant" })).ToHaveCountAsync(1);
        await Expect(page.Locator(".card[data-target=helpdesk]")).ToContainTextAsync("linked");
        await ConsoleLandscape.ScreenshotAsync(page, "person");
    }

    [Fact]
    public async Task An_operator_provisions_a_new_hire_on_demand_and_sees_each_step()
    {
        var hire = await l.Source.CreateUserAsync("newhire@example.com", kind: "employee", department: "Sales");
        var page = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await page.GotoAsync("/console/people?who=newhire@example.com");
        await page.ClickAsync("#provision-now");
        await Expect(page.Locator("h1")).ToHaveTextAsync(new Regex("Provisioning .* on demand"));
        await Expect(page.Locator("#provision-targets tbody tr")).ToHaveCountAsync(2);
        await Expect(page.Locator("#provision-outcome")).ToContainTextAsync("Succeeded");
        foreach (var target in new[] { "helpdesk", "support" })
            await Expect(page.Locator("h2", new() { HasText = target })).ToHaveCountAsync(1);
        // The source's step, then each target's: scope, correlation, plan, the operation applied, the result.
        await Expect(page.Locator("ol.steps")).ToHaveCountAsync(3);
        foreach (var i in new[] { 1, 2 })
            foreach (var step in new[] { "scope in", "correlation", "result" })
                await Expect(page.Locator("ol.steps").Nth(i)).ToContainTextAsync(step);
        await ConsoleLandscape.ScreenshotAsync(page, "provision-now");
        Assert.NotNull(await l.FindAsync(l.Helpdesk, "newhire@example.com"));
        Assert.NotNull(await l.FindAsync(l.Support, "newhire@example.com"));
        Assert.NotNull(hire);
    }

    [Fact]
    public async Task An_operator_confirms_a_held_mass_deactivation_after_reading_what_it_releases()
    {
        var page = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await page.ClickAsync("#targets tr[data-target=helpdesk] a.warn");
        Assert.Equal("/console/targets/helpdesk/release", new Uri(page.Url).AbsolutePath);
        var ops = page.Locator("#release tbody tr");
        await Expect(ops).ToHaveCountAsync(l.Leavers.Count);
        foreach (var name in l.Leavers) await Expect(page.Locator("#release")).ToContainTextAsync(name);
        Assert.All(await l.Helpdesk.UsersAsync(), u => Assert.True(u["active"]!.GetValue<bool>(), "nothing is deactivated on the helpdesk before the confirmation"));
        await ConsoleLandscape.ScreenshotAsync(page, "release");

        await page.ClickAsync("#confirm-release");
        await Expect(page.Locator("#confirm-summary")).ToContainTextAsync($"Applied {l.Leavers.Count} of {l.Leavers.Count}; nothing is held any more.");
        await ConsoleLandscape.ScreenshotAsync(page, "confirmed");
        var inactive = (await l.Helpdesk.UsersAsync()).Where(u => !u["active"]!.GetValue<bool>()).Select(u => u["userName"]!.GetValue<string>()).Order();
        Assert.Equal(l.Leavers.Order(), inactive);

        // The decision is in the provisioning log with who made it.
        await page.GotoAsync("/console/targets/helpdesk");
        await Expect(page.Locator("#recent")).ToContainTextAsync("console:olivia");
        await Expect(page.Locator("#recent")).ToContainTextAsync($"confirm {l.Leavers.Count} held removals");
    }

    [Fact]
    public async Task An_operator_reverts_an_out_of_band_edit_the_target_only_reports()
    {
        const string person = "emp12@example.com";
        await l.Source.PatchAsync("Users", l.Ids[person], Server.Replace("title", "Clerk"));
        await l.WaitAsync(async () => (await l.FindAsync(l.Support, person))?["title"]?.GetValue<string>() == "Clerk", "support has the title");
        var account = (await l.FindAsync(l.Support, person))!;
        // Someone edits the account in the application itself.
        await l.Support.PatchAsync("Users", account["id"]!.GetValue<string>(), Server.Replace("title", "Edited in the app"));

        var page = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await page.GotoAsync($"/console/people?who={person}");
        // Provisioning on demand reads the account: the support desk only reports drift, so the edit stays and shows.
        await page.ClickAsync("#provision-now");
        await Expect(page.Locator("#provision-outcome")).ToBeVisibleAsync();
        Assert.Equal("Edited in the app", (await l.FindAsync(l.Support, person))!["title"]!.GetValue<string>());
        await page.GotoAsync($"/console/people?who={person}");
        var support = page.Locator(".card[data-target=support]");
        await Expect(support.Locator("table.diff tr", new() { HasText = "title" })).ToContainTextAsync("changed at the target (the engine wrote Clerk)");
        await ConsoleLandscape.ScreenshotAsync(page, "person-drift");
        Assert.Equal(0, await page.Locator("#revert-helpdesk").CountAsync());

        await page.ClickAsync("#revert-support");
        await Expect(page.Locator("h1")).ToContainTextAsync("Reverting out-of-band changes");
        await Expect(page.Locator("#provision-outcome")).ToContainTextAsync("Succeeded");
        Assert.Equal("Clerk", (await l.FindAsync(l.Support, person))!["title"]!.GetValue<string>());
        await page.GotoAsync("/console/targets/support");
        await Expect(page.Locator("#recent")).ToContainTextAsync($"revert out-of-band changes of {l.Ids[person]}");
    }
}
