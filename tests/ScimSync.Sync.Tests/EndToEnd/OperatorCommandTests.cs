using System.Text.Json.Nodes;
using static ScimSync.Sync.Tests.EndToEnd.Server;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// The commands that answer an operator's questions, with real processes (the field scenario's landscape):
/// releasing one target's held removals, provisioning one person now with a trace, and why each account
/// is in scope.
/// </summary>
[Collection("EndToEnd")]
public sealed class OperatorCommandTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private const string Department = Enterprise + ":department";

    /// <summary>Employees (every fourth in Support, the others in Sales), an agent the support desk names in scope.also, and the Expenses group with emp1.</summary>
    private sealed record People(Dictionary<string, JsonObject> Users, string ExpensesGroupId)
    {
        public string Id(string userName) => Users[userName]["id"]!.GetValue<string>();
    }

    private static async Task<People> SeedAsync(Landscape l, int employees)
    {
        var users = new Dictionary<string, JsonObject>();
        for (var i = 0; i < employees; i++)
            users[$"emp{i}@example.com"] = await l.Source.CreateUserAsync($"emp{i}@example.com", kind: "employee", department: i % 4 == 0 ? "Support" : "Sales");
        users["named.person@example.com"] = await l.Source.CreateUserAsync("named.person@example.com", kind: "agent");
        var group = await l.Source.Client.CreateAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Expenses",
            ["members"] = new JsonArray(new JsonObject { ["value"] = users["emp1@example.com"]["id"]!.GetValue<string>() }),
        }, CancellationToken.None);
        return new People(users, group["id"]!.GetValue<string>());
    }

    /// <summary>The JSON document a command printed: standard error (logs) shares the captured output, around it.</summary>
    internal static JsonNode Json(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var start = lines.FindIndex(l => l is "{" or "[");
        Assert.True(start >= 0, output);
        var end = lines.FindIndex(start, l => l == (lines[start] == "{" ? "}" : "]"));
        return JsonNode.Parse(string.Join('\n', lines.Skip(start).Take(end - start + 1)))!;
    }

    private static JsonNode Target(JsonNode report, string name) => report["targets"]!.AsArray().Single(t => t!["target"]!.GetValue<string>() == name)!;

    private static string S(JsonNode? node) => node!.GetValue<string>();

    private static async Task<JsonObject?> UserAsync(Server server, string userName) =>
        (await server.UsersAsync()).SingleOrDefault(u => S(u["userName"]) == userName);

    [Fact]
    public async Task Sync_confirm_releases_the_removals_held_on_one_target_and_nothing_else()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 30);
        const string guard = "    guard: { maxDeactivations: 20%, floor: 3 }";
        var config = l.WriteConfig(helpdeskExtra: guard, supportExtra: guard);
        var (first, firstOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(first == 0, firstOut);

        // The support department leaves: 8 of the helpdesk's 30 and 8 of the support desk's 9, past both limits.
        var leavers = p.Users.Keys.Where(n => p.Users[n][Enterprise]?["department"]?.GetValue<string>() == "Support").ToArray();
        Assert.Equal(8, leavers.Length);
        foreach (var name in leavers) await l.Source.PatchAsync("Users", p.Id(name), Replace("active", false));

        // plan exits with the "held" code, so that a pipeline stops on it; then a run holds both targets.
        var (planned, planOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config, "--json");
        Assert.True(planned == 4, planOut);
        var plan = Json(planOut);
        Assert.True(Target(plan, "helpdesk")["heldByGuard"]!.GetValue<bool>());
        Assert.True(Target(plan, "support")["heldByGuard"]!.GetValue<bool>());
        Assert.False(Target(plan, "expenses")["heldByGuard"]!.GetValue<bool>());
        var (run, runOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(run == 4, runOut);

        var (unknown, unknownOut) = await Cli.RunAsync(RunTimeout, "sync", "confirm", "payroll", "--config", config);
        Assert.True(unknown == 2, unknownOut);
        Assert.Contains("the targets are helpdesk, support, expenses", unknownOut);

        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "confirm", "support", "--config", config, "--json");
        Assert.True(code == 0, output);
        var confirmed = Json(output);
        Assert.Equal(8, confirmed["held"]!.AsArray().Count);
        var released = confirmed["released"]!.AsArray();
        Assert.Equal(leavers.Order(), released.Select(r => S(r!["subject"]).Split(' ')[1]).Order());
        Assert.All(released, r => Assert.Equal("ok", S(r!["result"])));
        Assert.Empty(confirmed["stillHeld"]!.AsArray());

        // The support desk has them deactivated; the helpdesk, also held, was not touched and stays held.
        var support = await l.Support.UsersAsync();
        Assert.Equal(leavers.Order(), support.Where(u => !u["active"]!.GetValue<bool>()).Select(u => S(u["userName"])).Order());
        Assert.True((await UserAsync(l.Support, "named.person@example.com"))!["active"]!.GetValue<bool>());
        Assert.All(await l.Helpdesk.UsersAsync(), u => Assert.True(u["active"]!.GetValue<bool>()));
        var (_, statusOut) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config, "--json");
        var status = Json(statusOut).AsArray();
        Assert.Equal(8, status.Single(s => S(s!["target"]) == "helpdesk")!["held"]!.AsArray().Count);
        Assert.Empty(status.Single(s => S(s!["target"]) == "support")!["held"]!.AsArray());

        var (again, againOut) = await Cli.RunAsync(RunTimeout, "sync", "confirm", "support", "--config", config);
        Assert.True(again == 0, againOut);
        Assert.Contains("support: nothing is held", againOut);
    }

    [Fact]
    public async Task Provisioning_on_demand_reaches_every_in_scope_target_with_a_trace_and_touches_nobody_else()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 8);
        var config = l.WriteConfig();
        var (first, firstOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(first == 0, firstOut);

        // A new hire for support, in the Expenses group; beside her, another new hire and an edit nobody asked to provision.
        var grace = await l.Source.CreateUserAsync("grace@example.com", kind: "employee", department: "Support");
        var graceId = S(grace["id"]);
        await l.Source.PatchAsync("Groups", p.ExpensesGroupId, new JsonObject
        {
            ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = graceId }),
        });
        await l.Source.CreateUserAsync("henry@example.com", kind: "employee", department: "Support");
        await l.Source.PatchAsync("Users", p.Id("emp2@example.com"), Replace("title", "Changed at the source"));

        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--user", "grace@example.com", "--config", config, "--json");
        Assert.True(code == 0, output);
        var report = Json(output);
        Assert.Equal(graceId, S(report["sourceId"]));
        var steps = report["steps"]!.AsArray().Select(s => s!).ToArray();
        Assert.Equal("found", S(steps[0]["outcome"]));
        Assert.Contains(steps, s => S(s["step"]) == "call" && s["target"] is null && S(s["call"]!["endpoint"]) == "source" && s["call"]!["status"]!.GetValue<int>() == 200);
        foreach (var (target, rule) in new[] { ("helpdesk", "scope.kinds"), ("support", "scope.filter"), ("expenses", "scope.groups") })
        {
            var mine = steps.Where(s => s["target"] is { } t && S(t) == target).ToArray();
            var scope = mine.Single(s => S(s["step"]) == "scope");
            Assert.Equal("in", S(scope["outcome"]));
            Assert.Equal(rule, S(scope["rule"]));
            Assert.Equal("none", S(mine.Single(s => S(s["step"]) == "correlation")["outcome"]));
            Assert.Contains(mine, s => S(s["step"]) == "plan" && S(s["operation"]!["verb"]) == "create");
            Assert.Contains(mine, s => S(s["step"]) == "operation" && S(s["outcome"]) == "ok" && S(s["operation"]!["verb"]) == "create");
            Assert.Contains(mine, s => S(s["step"]) == "call" && S(s["call"]!["method"]) == "POST" && s["call"]!["status"]!.GetValue<int>() == 201);
            Assert.Equal("applied", S(mine.Last()["outcome"]));
            Assert.Equal(graceId, S((await UserAsync(l.Targets.Single(t => t.Name == target), "grace@example.com"))!["externalId"]));
        }
        // Of the Expenses group, grace's membership alone was added.
        var members = steps.Where(s => s["target"] is { } t && S(t) == "expenses" && S(s["step"]) == "operation" && S(s["operation"]!["verb"]) == "members").ToArray();
        Assert.Equal("ok", S(Assert.Single(members)["outcome"]));
        var expensesIds = (await l.Expenses.UsersAsync()).ToDictionary(u => S(u["id"]), u => S(u["userName"]));
        var group = Assert.Single(await l.Expenses.GroupsAsync());
        Assert.Equal(["emp1@example.com", "grace@example.com"], group["members"]!.AsArray().Select(m => expensesIds[S(m!["value"])]).Order());

        // Nobody else: the other new hire is nowhere, the other edit was not applied.
        foreach (var t in l.Targets) Assert.Null(await UserAsync(t, "henry@example.com"));
        Assert.NotEqual("Changed at the source", (await UserAsync(l.Helpdesk, "emp2@example.com"))!["title"]?.GetValue<string>());

        // Again: nothing left to do. The terminal shows the same steps.
        var (again, againOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--user", graceId, "--config", config);
        Assert.True(again == 0, againOut);
        Assert.Contains("correlation linked: grace@example.com [", againOut);
        Assert.Contains("nothing to do", againOut);

        // One target only; and a name nobody has.
        var (one, oneOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--user", "henry@example.com", "--target", "support", "--config", config, "--json");
        Assert.True(one == 0, oneOut);
        Assert.Equal(["support"], Json(oneOut)["targets"]!.AsArray().Select(t => S(t!["target"])));
        Assert.NotNull(await UserAsync(l.Support, "henry@example.com"));
        Assert.Null(await UserAsync(l.Helpdesk, "henry@example.com"));
        var (nobody, nobodyOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--user", "nobody@example.com", "--config", config);
        Assert.True(nobody == 1, nobodyOut);
        Assert.Contains("nobody at the source has the id, userName or externalId \"nobody@example.com\"", nobodyOut);
    }

    [Fact]
    public async Task A_removal_provisioned_on_demand_past_the_guard_is_held_until_sync_confirm()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-e2e-" + Guid.NewGuid().ToString("N")[..10]);
        await using var source = await Server.StartAsync("hr", root);
        await using var app = await Server.StartAsync("app", root);
        var leaver = await source.CreateUserAsync("leaver@example.com", kind: "employee");
        await source.CreateUserAsync("stayer@example.com", kind: "employee");
        var config = Path.Combine(root, "sync.yaml");
        File.WriteAllText(config, $"""
            state: ./state
            source: {"{"} type: scim, url: {source.ScimUrl}, auth: {"{"} type: bearer, token: {source.Token} {"}"} {"}"}
            targets:
              - name: app
                url: {app.ScimUrl}
                auth: {"{"} type: bearer, token: {app.Token} {"}"}
                guard: {"{"} maxDeactivations: 0, floor: 0 {"}"}
            """);
        var (first, firstOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(first == 0, firstOut);
        await source.PatchAsync("Users", S(leaver["id"]), Replace("active", false));

        var (held, heldOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--user", "leaver@example.com", "--config", config, "--json");
        Assert.True(held == 4, heldOut);
        var step = Json(heldOut)["steps"]!.AsArray().Single(s => S(s!["step"]) == "guard")!;
        Assert.Equal("held", S(step["outcome"]));
        Assert.Contains("`scimsync sync confirm app` releases it", S(step["detail"]));
        Assert.True((await UserAsync(app, "leaver@example.com"))!["active"]!.GetValue<bool>());

        var (confirmed, confirmOut) = await Cli.RunAsync(RunTimeout, "sync", "confirm", "app", "--config", config);
        Assert.True(confirmed == 0, confirmOut);
        Assert.False((await UserAsync(app, "leaver@example.com"))!["active"]!.GetValue<bool>());
        Assert.True((await UserAsync(app, "stayer@example.com"))!["active"]!.GetValue<bool>());
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Plan_explain_says_why_each_account_is_in_scope_and_why_linked_ones_are_not()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 8);
        var config = l.WriteConfig();
        var (first, firstOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(first == 0, firstOut);
        // emp0 moves from Support to Sales: still linked at the support desk, no longer in its scope.
        await l.Source.PatchAsync("Users", p.Id("emp0@example.com"), Replace(Department, "Sales"));

        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--explain", "--config", config, "--json");
        Assert.True(code == 0, output);
        var plan = Json(output);
        JsonNode Verdict(string target, string userName) => Target(plan, target)["scope"]!.AsArray().Single(v => S(v!["userName"]) == userName)!;
        bool Listed(string target, string userName) => Target(plan, target)["scope"]!.AsArray().Any(v => S(v!["userName"]) == userName);

        Assert.Equal("scope.also", S(Verdict("support", "named.person@example.com")["rule"]));
        Assert.Equal("scope.filter", S(Verdict("support", "emp4@example.com")["rule"]));
        var moved = Verdict("support", "emp0@example.com");
        Assert.False(moved["inScope"]!.GetValue<bool>());
        Assert.Equal("scope.filter", S(moved["rule"]));
        Assert.Contains("does not match scope.filter", S(moved["reason"]));
        Assert.NotNull(moved["targetId"]);
        Assert.False(Listed("support", "emp1@example.com")); // out of scope and not linked there: not the question
        Assert.Equal("scope.kinds", S(Verdict("helpdesk", "emp0@example.com")["rule"]));
        Assert.False(Listed("helpdesk", "named.person@example.com"));
        Assert.Equal("member of [Expenses] (scope.groups)", S(Verdict("expenses", "emp1@example.com")["reason"]));
        Assert.Contains(Target(plan, "support")["operations"]!.AsArray(), o => S(o!["verb"]) == "deactivate" && S(o["subject"]).StartsWith("user emp0@example.com", StringComparison.Ordinal));

        var (text, textOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--explain", "--config", config);
        Assert.True(text == 0, textOut);
        Assert.Contains("out emp0@example.com [", textOut);
        Assert.Matches(@"in  named\.person@example\.com \[[^\]]+\]: named\.person@example\.com is named in scope\.also", textOut);

        // The old `include` is refused where it is written, naming what to write instead.
        File.WriteAllText(config, File.ReadAllText(config).Replace("also: [named.person@example.com]", "include: [named.person@example.com]", StringComparison.Ordinal));
        var (refused, refusedOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config);
        Assert.True(refused == 3, refusedOut);
        Assert.Matches(@"sync\.yaml:\d+:\d+: targets\[1\]\.scope\.include: no longer accepted", refusedOut);
        Assert.Contains("only: [...]", refusedOut);
    }
}
