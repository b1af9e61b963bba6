using System.Text.Json.Nodes;
using ScimSync.Sync.Tests.EndToEnd;
using static Microsoft.Playwright.Assertions;

namespace ScimSync.OperatorConsole.Tests;

using Server = ScimSync.Sync.Tests.EndToEnd.Server;
using Cli = ScimSync.Sync.Tests.EndToEnd.Cli;

/// <summary>
/// The plan viewer against real processes (<see cref="ConsoleLandscape"/>, a landscape of its own: the test stops its
/// engine): the counts it shows for each target are those of <c>scimsync sync plan --json</c> for the same state.
/// </summary>
[Collection("Console")]
public sealed class ConsolePlanTests(ConsoleLandscape l) : IClassFixture<ConsoleLandscape>
{
    private static readonly string[] Categories = ["create", "update", "deactivate", "delete", "link", "unlink", "group"];

    [Fact]
    public async Task The_plan_viewer_counts_what_sync_plan_json_plans_for_the_same_state()
    {
        // Work for the plan beside the helpdesk's held deactivations: out-of-band edits, which watch mode does not see
        // until its next full comparison; the helpdesk repairs drift (an update), the support desk only reports it.
        foreach (var (server, person) in new[] { (l.Helpdesk, "emp20@example.com"), (l.Support, "emp21@example.com") })
            await server.PatchAsync("Users", (await l.FindAsync(server, person))!["id"]!.GetValue<string>(), Server.Replace("title", "Edited in the app"));
        // A plan reads every target whole: a viewer may look at one but not ask for one (no button; the POST is refused).
        var viewer = await l.SignInAsync(ConsoleLandscape.ViewerToken);
        await viewer.GotoAsync("/console/plan");
        await Expect(viewer.Locator("#no-plan")).ToBeVisibleAsync();
        await Expect(viewer.Locator("#make-plan")).ToHaveCountAsync(0);
        var token = await viewer.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        var refused = await viewer.APIRequest.PostAsync("/console/plan/fresh", new() { Form = ConsoleLandscape.Form(viewer.APIRequest, ("__RequestVerificationToken", token!)), MaxRedirects = 0 });
        Assert.Equal(403, refused.Status);
        var op = await l.SignInAsync(ConsoleLandscape.OperatorToken);
        await op.GotoAsync("/console/plan");
        await op.ClickAsync("#make-plan");
        await Expect(op.Locator("#plan-counts tbody tr")).ToHaveCountAsync(2, new() { Timeout = 120_000 });
        await Expect(op.Locator("#plan-made")).ToContainTextAsync("for olivia");
        await viewer.GotoAsync("/console/plan");
        await ConsoleLandscape.ScreenshotAsync(viewer, "plan");
        var shown = new Dictionary<string, Dictionary<string, int>>();
        foreach (var target in new[] { "helpdesk", "support" })
        {
            var row = viewer.Locator($"#plan-counts tr[data-target={target}]");
            shown[target] = [];
            foreach (var c in Categories.Append("total").Append("held"))
                shown[target][c] = int.Parse(await row.Locator($"td[data-count={c}]").InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
        // The helpdesk's eight leavers, held by the guard, are in it, each deactivation shown as held.
        Assert.Equal(l.Leavers.Count, shown["helpdesk"]["held"]);
        await Expect(viewer.Locator(".plan-ops[data-target=helpdesk] td.warn")).ToHaveCountAsync(l.Leavers.Count);
        await Expect(viewer.Locator(".plan-ops[data-target=helpdesk]")).ToContainTextAsync("title: Edited in the app → (none)");

        await l.StopEngineAsync();
        var (code, output) = await Cli.RunAsync(TimeSpan.FromMinutes(3), "sync", "plan", "--config", l.ConfigPath, "--json", "--log-level", "warning");
        Assert.True(code is 0 or 4, output);
        // The document starts a line of its own; log lines may come before or after it.
        var start = System.Text.RegularExpressions.Regex.Match(output, @"^\{", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(start.Success, output);
        var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(output[start.Index..]));
        var plan = JsonNode.Parse(ref reader)!;
        foreach (var t in plan["targets"]!.AsArray())
        {
            var name = t!["target"]!.GetValue<string>();
            var ops = t["operations"]!.AsArray().Select(o => o!.AsObject()).ToArray();
            foreach (var c in Categories)
                Assert.True(ops.Count(o => Category(o) == c) == shown[name][c], $"{name} {c}: the console shows {shown[name][c]}, sync plan --json has {ops.Count(o => Category(o) == c)}\n{output}");
            Assert.Equal(ops.Length, shown[name]["total"]);
            var held = t["guard"] is null ? 0 : ops.Count(TakesAccessAway);
            Assert.Equal(held, shown[name]["held"]);
        }
    }

    /// <summary>As the viewer counts: by verb, every group operation as "group".</summary>
    private static string Category(JsonObject op) =>
        op["subject"]!.GetValue<string>().StartsWith("group ", StringComparison.Ordinal) ? "group" : op["verb"]!.GetValue<string>();

    private static bool TakesAccessAway(JsonObject op) => op["verb"]!.GetValue<string>() switch
    {
        "deactivate" or "delete" => true,
        "update" => op["operations"]!.AsArray().Any(p => p!["path"]?.GetValue<string>() == "active" && p["value"] is JsonValue v && v.TryGetValue<bool>(out var b) && !b),
        _ => false,
    };
}
