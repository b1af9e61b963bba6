using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Client;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// Nested groups end to end, with real processes: an HR source whose groups nest three levels deep (A holds B holds
/// C) and hold a cycle (X and Y hold each other); one application that refuses nesting (flattened, the default) and
/// one that takes it (<c>nested: accept</c>), each behind a proxy that records what the engine writes.
/// </summary>
[Collection("EndToEnd")]
public sealed class NestedGroupSyncTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private static JsonObject Member(JsonObject resource, string? type = null)
    {
        var m = new JsonObject { ["value"] = resource["id"]!.GetValue<string>() };
        if (type is not null) m["type"] = type;
        return m;
    }

    private static Task<JsonObject> GroupAsync(Server s, string name, params JsonObject[] members) => s.Client.CreateAsync("Groups", new JsonObject
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
        ["displayName"] = name,
        ["members"] = new JsonArray(members.Select(m => (JsonNode)m).ToArray()),
    }, CancellationToken.None);

    private static JsonObject AddMembers(params JsonObject[] members) =>
        new() { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(members.Select(m => (JsonNode)m).ToArray()) };

    /// <summary>Each group of a target by name, with its members as (display name or userName, type).</summary>
    private static async Task<Dictionary<string, HashSet<(string Name, string Type)>>> MembershipAsync(Server target)
    {
        var names = (await target.UsersAsync()).ToDictionary(u => u["id"]!.GetValue<string>(), u => u["userName"]!.GetValue<string>());
        var groups = await target.GroupsAsync();
        foreach (var g in groups) names[g["id"]!.GetValue<string>()] = g["displayName"]!.GetValue<string>();
        return groups.ToDictionary(g => g["displayName"]!.GetValue<string>(), g => (g["members"] as JsonArray ?? [])
            .Select(m => (names[m!["value"]!.GetValue<string>()], m["type"]?.GetValue<string>() ?? "User")).ToHashSet());
    }

    private static HashSet<(string, string)> Users(params string[] names) => names.Select(n => (n, "User")).ToHashSet();

    private static void Same(HashSet<(string, string)> expected, HashSet<(string Name, string Type)> actual) =>
        Assert.True(expected.SetEquals(actual), $"expected [{string.Join(", ", expected.Order())}], found [{string.Join(", ", actual.Order())}]");

    /// <summary>
    /// An initial load big enough for Bulk (accounts and new groups go in /Bulk requests) to an application that takes
    /// nesting: the groups' nested members are added once every new group exists, so the structure arrives whole. (The
    /// Bulk path once sent a new group's first user members only, audited the nested ones as done, and left A and B
    /// without their groups until the next full comparison.)
    /// </summary>
    [Fact]
    public async Task An_initial_load_through_bulk_keeps_the_structure_where_the_app_takes_nested_groups()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-nested-bulk-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var servers = await Task.WhenAll(Server.StartAsync("hr", root), Server.StartAsync("nesting", root));
        await using var hr = servers[0];
        await using var nesting = servers[1];
        await using var proxy = await FaultProxy.StartAsync(nesting.ScimUrl, failEvery: 0);
        try
        {
            var people = new List<JsonObject>();
            for (var i = 0; i < 8; i++) people.Add(await hr.CreateUserAsync($"c{i}@example.com", kind: "employee"));
            var c = await GroupAsync(hr, "C", people.Select(p => Member(p)).ToArray());
            var b = await GroupAsync(hr, "B", Member(c, "Group"));
            await GroupAsync(hr, "A", Member(b, "Group"));
            var config = Path.Combine(root, "sync.yaml");
            File.WriteAllText(config, $$"""
                state: ./state
                source: { type: scim, url: "{{hr.ScimUrl}}", auth: { type: bearer, token: {{hr.Token}} } }
                targets:
                  - name: nesting
                    url: {{proxy.ScimUrl}}
                    auth: { type: bearer, token: {{nesting.Token}} }
                    scope: { groups: [A] }
                    groups: { names: [A, B, C], nested: accept }
                """);

            var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
            Assert.True(code == 0, output);
            Assert.Contains(proxy.Writes, w => w.Method == "POST" && w.Path.EndsWith("/Bulk", StringComparison.Ordinal));
            var structure = await MembershipAsync(nesting);
            Same(new HashSet<(string, string)> { ("B", "Group") }, structure["A"]);
            Same(new HashSet<(string, string)> { ("C", "Group") }, structure["B"]);
            Same(Users(people.Select(p => p["userName"]!.GetValue<string>()).ToArray()), structure["C"]);

            // Nothing left to do: the next plan finds the structure in place.
            var (planCode, planOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config, "--json");
            Assert.True(planCode == 0, planOut);
            Assert.Empty(Cli.Json(planOut)["targets"]!.AsArray().Single()!["operations"]!.AsArray());
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task A_three_level_hierarchy_scopes_apps_is_flattened_or_kept_a_cycle_is_reported_and_a_deep_change_is_member_patches()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-nested-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var servers = await Task.WhenAll(Server.StartAsync("hr", root), Server.StartAsync("flat", root), Server.StartAsync("nesting", root));
        await using var hr = servers[0];
        await using var flat = servers[1];
        await using var nesting = servers[2];
        await using var flatProxy = await FaultProxy.StartAsync(flat.ScimUrl, failEvery: 0);
        await using var nestingProxy = await FaultProxy.StartAsync(nesting.ScimUrl, failEvery: 0);
        try
        {
            var carol = await hr.CreateUserAsync("carol@example.com", kind: "employee");
            var bert = await hr.CreateUserAsync("bert@example.com", kind: "employee");
            var anna = await hr.CreateUserAsync("anna@example.com", kind: "employee");
            await hr.CreateUserAsync("nora@example.com", kind: "employee"); // in no group: in no scope
            var xena = await hr.CreateUserAsync("xena@example.com", kind: "employee");
            var yuri = await hr.CreateUserAsync("yuri@example.com", kind: "employee");
            var c = await GroupAsync(hr, "C", Member(carol));
            var b = await GroupAsync(hr, "B", Member(bert), Member(c, "Group"));
            await GroupAsync(hr, "A", Member(anna), Member(b, "Group"));
            var x = await GroupAsync(hr, "X", Member(xena));
            var y = await GroupAsync(hr, "Y", Member(yuri), Member(x, "Group"));
            await hr.PatchAsync("Groups", x["id"]!.GetValue<string>(), AddMembers(Member(y, "Group"))); // X holds Y holds X

            var config = Path.Combine(root, "sync.yaml");
            File.WriteAllText(config, $$"""
                state: ./state
                source: { type: scim, url: "{{hr.ScimUrl}}", auth: { type: bearer, token: {{hr.Token}} }, pollInterval: 200ms }
                targets:
                  - name: flat
                    url: {{flatProxy.ScimUrl}}
                    auth: { type: bearer, token: {{flat.Token}} }
                    scope: { groups: [A, C, X] }
                    groups: { names: [A, B, C, X, Y] }
                  - name: nesting
                    url: {{nestingProxy.ScimUrl}}
                    auth: { type: bearer, token: {{nesting.Token}} }
                    scope: { groups: [A, C] }
                    groups: { names: [A, B, C], nested: accept }
                """);

            // The plan reports the cycle and finishes.
            var (planCode, planOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config, "--json");
            Assert.True(planCode == 0, planOut);
            var warnings = Cli.Json(planOut)["source"]!["warnings"]!.AsArray();
            Assert.Contains("groups X, Y contain one another", Assert.Single(warnings)!.GetValue<string>(), StringComparison.Ordinal);

            var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
            Assert.True(code == 0, output);
            Assert.Contains("groups X, Y contain one another", output, StringComparison.Ordinal);
            var (statusCode, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config);
            Assert.True(statusCode == 0, status);
            Assert.Contains("source (last full run): groups X, Y contain one another", status, StringComparison.Ordinal);

            // Scope follows nesting: bert (in B, in A) is in A's scope, yuri (in Y, in X) in X's; nora is in no group and nowhere.
            Assert.Equal(["anna@example.com", "bert@example.com", "carol@example.com", "xena@example.com", "yuri@example.com"],
                (await flat.UsersAsync()).Select(u => u["userName"]!.GetValue<string>()).Order());
            Assert.Equal(["anna@example.com", "bert@example.com", "carol@example.com"],
                (await nesting.UsersAsync()).Select(u => u["userName"]!.GetValue<string>()).Order());

            // Flattened: every user under a group is a direct member, no group is a member; the cycle's groups hold the union.
            var flattened = await MembershipAsync(flat);
            Same(Users("anna@example.com", "bert@example.com", "carol@example.com"), flattened["A"]);
            Same(Users("bert@example.com", "carol@example.com"), flattened["B"]);
            Same(Users("carol@example.com"), flattened["C"]);
            Same(Users("xena@example.com", "yuri@example.com"), flattened["X"]);
            Same(Users("xena@example.com", "yuri@example.com"), flattened["Y"]);

            // Accepted: the structure, nested groups as members of type Group.
            var structure = await MembershipAsync(nesting);
            Assert.Equal(3, structure.Count);
            Same(new HashSet<(string, string)> { ("anna@example.com", "User"), ("B", "Group") }, structure["A"]);
            Same(new HashSet<(string, string)> { ("bert@example.com", "User"), ("C", "Group") }, structure["B"]);
            Same(Users("carol@example.com"), structure["C"]);
            // The accepting target's own User.groups shows carol in A through nesting.
            var aThere = (await nesting.GroupsAsync()).Single(g => g["displayName"]!.GetValue<string>() == "A")["id"]!.GetValue<string>();
            var carolThere = (await nesting.UsersAsync()).Single(u => u["userName"]!.GetValue<string>() == "carol@example.com");
            Assert.Contains(carolThere["groups"]!.AsArray(), g => g!["value"]!.GetValue<string>() == aThere && g["type"]!.GetValue<string>() == "indirect");

            // A change deep in the hierarchy, carried by the feed to a watching engine: dora joins C.
            flatProxy.ClearWrites();
            nestingProxy.ClearWrites();
            var log = new StringBuilder();
            using var engine = Cli.Start(["sync", "watch", "--config", config], null, log);
            try
            {
                var dora = await hr.CreateUserAsync("dora@example.com", kind: "employee");
                await hr.PatchAsync("Groups", c["id"]!.GetValue<string>(), AddMembers(Member(dora)));
                await WaitAsync(async () => (await MembershipAsync(flat))["A"].Contains(("dora@example.com", "User")), log);
                await WaitAsync(async () => (await MembershipAsync(nesting))["C"].Contains(("dora@example.com", "User")), log);
                await WaitAsync(async () => (await MembershipAsync(flat))["B"].Contains(("dora@example.com", "User"))
                    && (await MembershipAsync(flat))["C"].Contains(("dora@example.com", "User")), log);

                var doraOnFlat = (await flat.UsersAsync()).Single(u => u["userName"]!.GetValue<string>() == "dora@example.com")["id"]!.GetValue<string>();
                var doraOnNesting = (await nesting.UsersAsync()).Single(u => u["userName"]!.GetValue<string>() == "dora@example.com")["id"]!.GetValue<string>();
                var flatGroups = (await flat.GroupsAsync()).ToDictionary(g => g["displayName"]!.GetValue<string>(), g => g["id"]!.GetValue<string>());
                var nestingGroups = (await nesting.GroupsAsync()).ToDictionary(g => g["displayName"]!.GetValue<string>(), g => g["id"]!.GetValue<string>());
                AssertOnlyMemberAdds(flatProxy.Writes, doraOnFlat, [flatGroups["A"], flatGroups["B"], flatGroups["C"]], log);
                AssertOnlyMemberAdds(nestingProxy.Writes, doraOnNesting, [nestingGroups["C"]], log);
                Same(Users("anna@example.com", "bert@example.com", "carol@example.com", "dora@example.com"), (await MembershipAsync(flat))["A"]);
                Same(Users("xena@example.com", "yuri@example.com"), (await MembershipAsync(flat))["X"]);

                // C is taken out of B: carol and dora (still in scope through C) leave B and A where the app is flattened,
                // and the group C leaves B where the app keeps the structure; every group write a member removal.
                flatProxy.ClearWrites();
                nestingProxy.ClearWrites();
                await hr.PatchAsync("Groups", b["id"]!.GetValue<string>(),
                    new JsonObject { ["op"] = "remove", ["path"] = $"members[value eq \"{c["id"]!.GetValue<string>()}\"]" });
                await WaitAsync(async () => (await MembershipAsync(flat)) is var m && Same(m["A"], "anna@example.com", "bert@example.com") && Same(m["B"], "bert@example.com"), log);
                await WaitAsync(async () => (await MembershipAsync(nesting))["B"].SetEquals([("bert@example.com", "User")]), log);
                Same(Users("carol@example.com", "dora@example.com"), (await MembershipAsync(flat))["C"]);
                AssertOnlyMemberRemovals(flatProxy.Writes, [flatGroups["A"], flatGroups["B"]], log);
                AssertOnlyMemberRemovals(nestingProxy.Writes, [nestingGroups["B"]], log);
            }
            finally
            {
                engine.Kill(true);
                await engine.WaitForExitAsync();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// What the engine wrote for the new member: the account (one create), then exactly one PATCH per group in
    /// <paramref name="groupIds"/>, each a single <c>add</c> of that one member; no PUT, nothing else.
    /// </summary>
    private static void AssertOnlyMemberAdds(IReadOnlyList<RecordedWrite> writes, string memberId, IReadOnlyList<string> groupIds, StringBuilder log)
    {
        var context = string.Join("\n", writes.Select(w => $"{w.Method} {w.Path} {w.Body}")) + "\n" + log;
        Assert.True(writes.All(w => w.Method != "PUT"), context);
        var groupWrites = writes.Where(w => w.Path.Contains("/Groups", StringComparison.Ordinal)).ToArray();
        Assert.True(groupWrites.All(w => w.Method == "PATCH"), context);
        Assert.Equal(groupIds.Order(), groupWrites.Select(w => w.Path[(w.Path.LastIndexOf('/') + 1)..]).Order());
        foreach (var w in groupWrites)
        {
            var op = Assert.Single(JsonNode.Parse(w.Body)!["Operations"]!.AsArray())!;
            Assert.Equal("add", op["op"]!.GetValue<string>());
            Assert.Equal("members", op["path"]!.GetValue<string>());
            Assert.Equal(memberId, Assert.Single(op["value"]!.AsArray())!["value"]!.GetValue<string>());
        }
        Assert.True(writes.Count(w => !w.Path.Contains("/Groups", StringComparison.Ordinal)) == 1, context);
        Assert.Equal("POST", writes.Single(w => !w.Path.Contains("/Groups", StringComparison.Ordinal)).Method);
    }

    private static bool Same(HashSet<(string Name, string Type)> actual, params string[] users) => Users(users).SetEquals(actual);

    /// <summary>The writes to groups are PATCHes of <paramref name="groupIds"/> alone, each removing members and nothing else; no PUT anywhere.</summary>
    private static void AssertOnlyMemberRemovals(IReadOnlyList<RecordedWrite> writes, IReadOnlyList<string> groupIds, StringBuilder log)
    {
        var context = string.Join("\n", writes.Select(w => $"{w.Method} {w.Path} {w.Body}")) + "\n" + log;
        Assert.True(writes.All(w => w.Method != "PUT"), context);
        var groupWrites = writes.Where(w => w.Path.Contains("/Groups", StringComparison.Ordinal)).ToArray();
        Assert.True(groupWrites.All(w => w.Method == "PATCH"), context);
        Assert.True(groupIds.Order().SequenceEqual(groupWrites.Select(w => w.Path[(w.Path.LastIndexOf('/') + 1)..]).Distinct().Order()), context);
        Assert.All(groupWrites.SelectMany(w => JsonNode.Parse(w.Body)!["Operations"]!.AsArray()), op => Assert.Equal("remove", op!["op"]!.GetValue<string>()));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, StringBuilder log)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is ScimClientException or HttpRequestException or KeyNotFoundException) { }
            await Task.Delay(100);
        }
        string text;
        lock (log) text = log.ToString();
        Assert.Fail("condition not met in time; engine output:\n" + text);
    }
}
