using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace ScimSync.OperatorConsole.Tests;

using Server = ScimSync.Sync.Tests.EndToEnd.Server;

/// <summary>
/// The decisions about what happened outside the engine, in chromium against real processes (<see cref="ConsoleLandscape"/>):
/// accepting an out-of-band edit at a target (it stays, is no longer reported, and lapses when the source changes), and
/// replaying a SET the source dead-lettered after the engine refused it. A viewer sees neither button, and their
/// hand-made POSTs are refused.
/// </summary>
[Collection("Console")]
public sealed class ConsoleDecisionTests(ConsoleLandscape l) : IClassFixture<ConsoleLandscape>
{
    [Fact]
    public async Task An_operator_accepts_an_out_of_band_edit_it_stays_until_the_source_changes_and_a_viewer_cannot()
    {
        const string person = "emp14@example.com";
        await l.Source.PatchAsync("Users", l.Ids[person], Server.Replace("title", "Clerk"));
        await l.WaitAsync(async () => Title(await l.FindAsync(l.Support, person)) == "Clerk", "support has the title");
        var account = (await l.FindAsync(l.Support, person))!;
        var accountId = account["id"]!.GetValue<string>();
        await l.Support.PatchAsync("Users", accountId, Server.Replace("title", "Kept in the app"));

        // The account read on demand: the support desk only reports drift, so the edit stays, and is in the shadow.
        var op = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await op.GotoAsync($"/console/people?who={person}");
        await op.ClickAsync("#provision-now");
        await Expect(op.Locator("#provision-outcome")).ToBeVisibleAsync();

        // A viewer reads the finding, without the buttons; their POST is refused before anything runs.
        var viewer = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        await viewer.GotoAsync("/console/targets/support/drift");
        var viewerRow = viewer.Locator($"#drift tr[data-account='{accountId}']");
        await Expect(viewerRow).ToContainTextAsync("title: Clerk → Kept in the app");
        Assert.Equal(0, await viewer.Locator("#drift button").CountAsync());
        var token = await viewer.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        var forged = await viewer.APIRequest.PostAsync("/console/targets/support/drift/accept", new() { Form = ConsoleLandscape.Form(viewer.APIRequest, ("__RequestVerificationToken", token!), ("account", accountId)), MaxRedirects = 0 });
        Assert.Equal(403, forged.Status);
        await viewer.ReloadAsync();
        await Expect(viewerRow).ToHaveCountAsync(1);

        await op.GotoAsync("/console/targets/support/drift");
        var row = op.Locator($"#drift tr[data-account='{accountId}']");
        await Expect(row).ToContainTextAsync("title: Clerk → Kept in the app");
        await ConsoleLandscape.ScreenshotAsync(op, "drift");
        await row.Locator("button.accept").ClickAsync();
        await Expect(op.Locator("#decision-outcome")).ToContainTextAsync("The target's title stays as it is");
        await op.ClickAsync("#decision-back");
        await Expect(op.Locator($"#drift tr[data-account='{accountId}']")).ToHaveCountAsync(0);
        await op.GotoAsync("/console/targets/support");
        await Expect(op.Locator("#recent")).ToContainTextAsync($"accept out-of-band changes of {person}");
        await Expect(op.Locator("#recent")).ToContainTextAsync("console:olivia");

        // The next runs leave it: one for the person now, and watch mode's for a change at the source to another attribute.
        await op.GotoAsync($"/console/people?who={person}");
        await op.ClickAsync("#provision-now");
        await Expect(op.Locator("#provision-outcome")).ToContainTextAsync("Succeeded");
        await l.Source.PatchAsync("Users", l.Ids[person], Server.Replace("displayName", "Emp Fourteen"));
        await l.WaitAsync(async () => (await l.FindAsync(l.Support, person))?["displayName"]?.GetValue<string>() == "Emp Fourteen", "support has the new displayName");
        Assert.Equal("Kept in the app", Title(await l.FindAsync(l.Support, person)));
        await op.GotoAsync($"/console/people?who={person}");
        await Expect(op.Locator(".card[data-target=support] table.diff tr", new() { HasText = "title" })).ToContainTextAsync("accepted by a person");

        // The source's value changes: the acceptance lapses, and the new value is written.
        await l.Source.PatchAsync("Users", l.Ids[person], Server.Replace("title", "Senior clerk"));
        await l.WaitAsync(async () => Title(await l.FindAsync(l.Support, person)) == "Senior clerk", "support has the source's new title");
    }

    [Fact]
    public async Task An_operator_replays_a_dead_lettered_SET_and_it_is_applied_a_viewer_cannot()
    {
        const string person = "emp15@example.com";
        var id = l.Ids[person];
        l.Spoiled = id;
        JsonArray dead = [];
        try
        {
            await l.Source.PatchAsync("Users", id, Server.Replace("title", "Replayed"));
            await l.WaitAsync(async () => (dead = await DeadLettersAsync()).Count > 0, "the source dead-letters the refused SET");
        }
        finally
        {
            l.Spoiled = null;
        }
        Assert.Equal(id, Assert.Single(dead)!["resourceId"]!.GetValue<string>());
        Assert.NotEqual("Replayed", Title(await l.FindAsync(l.Helpdesk, person)));

        var viewer = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        await Expect(viewer.Locator("#dead-letter-count")).ToHaveTextAsync("1");
        await Expect(viewer.Locator("#dead-letter-list")).ToContainTextAsync(id);
        Assert.Equal(0, await viewer.Locator("#replay-dead-letters").CountAsync());
        var token = await viewer.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        var forged = await viewer.APIRequest.PostAsync("/console/source/dead-letters/replay", new() { Form = ConsoleLandscape.Form(viewer.APIRequest, ("__RequestVerificationToken", token!)), MaxRedirects = 0 });
        Assert.Equal(403, forged.Status);
        Assert.Single(await DeadLettersAsync());

        var op = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await Expect(op.Locator("#dead-letter-count")).ToHaveTextAsync("1");
        await ConsoleLandscape.ScreenshotAsync(op, "dead-letters");
        await op.ClickAsync("#replay-dead-letters");
        await Expect(op.Locator("#decision-outcome")).ToContainTextAsync("delivers 1 dead letters again");
        await l.WaitAsync(async () => Title(await l.FindAsync(l.Helpdesk, person)) == "Replayed", "the replayed SET reaches the helpdesk");
        await l.WaitAsync(async () => Title(await l.FindAsync(l.Support, person)) == "Replayed", "and the support desk");
        Assert.Empty(await DeadLettersAsync());
        await op.GotoAsync("/console");
        await Expect(op.Locator("#dead-letter-count")).ToHaveTextAsync("0");
        await Expect(op.Locator("#dead-letters .source-decision")).ToContainTextAsync("console:olivia: replay the dead letters of the engine's feed subscription: ok");
    }

    private async Task<JsonArray> DeadLettersAsync()
    {
        var subscriptions = (JsonArray)(await l.Source.Client.GetJsonAsync("/feeds/v1/subscriptions", CancellationToken.None))!["subscriptions"]!;
        var engine = subscriptions.Single(s => s!["name"]!.GetValue<string>().StartsWith("scimsync-sync-", StringComparison.Ordinal))!;
        return (JsonArray)(await l.Source.Client.GetJsonAsync($"/feeds/v1/subscriptions/{engine["id"]}/dead-letters", CancellationToken.None))!["deadLetters"]!;
    }

    private static string? Title(JsonObject? account) => account?["title"]?.GetValue<string>();
}
