using System.Text.Json.Nodes;
using ScimSync.Client;
using static ScimSync.Sync.Tests.EndToEnd.Server;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// The field scenario with real processes: `scimsync serve` as the HR source and as three applications
/// with different limits, and `scimsync sync` in between. Every test ends by checking the full state of
/// every target and that protected and unmanaged accounts were never touched.
/// </summary>
[Collection("EndToEnd")]
public sealed class FieldScenarioTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    /// <summary>The source population: who should end up where.</summary>
    private sealed record Population(Dictionary<string, JsonObject> Users, string ExpensesGroupId, HashSet<string> ExpensesMembers);

    private static async Task<Population> SeedAsync(Landscape l, int employees = 20)
    {
        var users = new Dictionary<string, JsonObject>();
        async Task Add(string userName, string kind, string? department = null, DateTimeOffset? endDate = null) =>
            users[userName] = await l.Source.CreateUserAsync(userName, kind: kind, department: department, endDate: endDate);
        for (var i = 0; i < employees; i++) await Add($"emp{i}@example.com", "employee", i % 4 == 0 ? "Support" : "Sales");
        for (var i = 0; i < 4; i++) await Add($"con{i}@example.com", "contractor", endDate: DateTimeOffset.UtcNow.AddDays(30));
        await Add("agent0@example.com", "agent", "Support");
        await Add("named.person@example.com", "agent");
        await Add("hr-queue", "service", "Support");
        await Add("admin", "builtin", "Support");
        var members = new[] { "emp1@example.com", "emp2@example.com", "con0@example.com", "hr-queue" };
        var group = await l.Source.Client.CreateAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Expenses",
            ["members"] = new JsonArray(members.Select(m => (JsonNode)new JsonObject { ["value"] = users[m]["id"]!.GetValue<string>() }).ToArray()),
        }, CancellationToken.None);
        await l.Source.Client.CreateAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Other",
            ["members"] = new JsonArray(new JsonObject { ["value"] = users["emp3@example.com"]["id"]!.GetValue<string>() }),
        }, CancellationToken.None);
        return new Population(users, group["id"]!.GetValue<string>(), ["emp1@example.com", "emp2@example.com", "con0@example.com"]);
    }

    /// <summary>Accounts the applications own: builtin admins everywhere, customers and an unknown account at the support desk.</summary>
    private static async Task<Dictionary<string, JsonObject>> SeedTargetsAsync(Landscape l)
    {
        var own = new Dictionary<string, JsonObject>();
        foreach (var t in l.Targets) own[t.Name + "/admin"] = await t.CreateUserAsync("admin", userType: "Builtin");
        own["support/customer1"] = await l.Support.CreateUserAsync("customer1@shop.example", kind: "customer");
        own["support/customer2"] = await l.Support.CreateUserAsync("customer2@shop.example", userType: "Customer");
        own["support/stranger"] = await l.Support.CreateUserAsync("stranger@example.com");
        own["helpdesk/stranger"] = await l.Helpdesk.CreateUserAsync("legacy-tool");
        return own;
    }

    private static async Task AssertUntouchedAsync(Landscape l, Dictionary<string, JsonObject> own)
    {
        foreach (var (key, before) in own)
        {
            var server = l.Targets.Single(t => t.Name == key.Split('/')[0]);
            var now = await server.Client.GetAsync("Users", before["id"]!.GetValue<string>(), null, CancellationToken.None);
            Assert.NotNull(now);
            Assert.Equal(before["meta"]!["version"]!.GetValue<string>(), now!["meta"]!["version"]!.GetValue<string>());
        }
    }

    private static HashSet<string> Names(IEnumerable<JsonObject> users) => users.Select(u => u["userName"]!.GetValue<string>()).ToHashSet();

    private static async Task AssertTargetsAsync(Landscape l, Population p, Dictionary<string, JsonObject> own, IReadOnlySet<string>? inactive = null)
    {
        var helpdesk = await l.Helpdesk.UsersAsync();
        var expectedHelpdesk = p.Users.Keys.Where(n => n.StartsWith("emp", StringComparison.Ordinal) || n.StartsWith("con", StringComparison.Ordinal)).ToHashSet();
        Assert.Equal(expectedHelpdesk.Concat(["admin", "legacy-tool"]).Order(), Names(helpdesk).Order());
        foreach (var u in helpdesk.Where(u => expectedHelpdesk.Contains(u["userName"]!.GetValue<string>())))
        {
            var name = u["userName"]!.GetValue<string>();
            Assert.Equal(p.Users[name]["id"]!.GetValue<string>(), u["externalId"]!.GetValue<string>());
            Assert.Equal(!(inactive?.Contains(name) ?? false), u["active"]!.GetValue<bool>());
        }

        var support = Names(await l.Support.UsersAsync());
        var expectedSupport = p.Users.Where(kv => kv.Value["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]?["department"]?.GetValue<string>() == "Support"
                && kv.Value["urn:scimsync:params:scim:schemas:extension:account:2.0:User"]!["kind"]!.GetValue<string>() is not ("service" or "builtin"))
            .Select(kv => kv.Key).Append("named.person@example.com");
        Assert.Equal(expectedSupport.Concat(["admin", "customer1@shop.example", "customer2@shop.example", "stranger@example.com"]).Order(), support.Order());

        var expensesUsers = await l.Expenses.UsersAsync();
        Assert.Equal(p.ExpensesMembers.Append("admin").Order(), Names(expensesUsers).Order());
        var groups = await l.Expenses.GroupsAsync();
        var group = Assert.Single(groups);
        Assert.Equal("Expenses", group["displayName"]!.GetValue<string>());
        var idToName = expensesUsers.ToDictionary(u => u["id"]!.GetValue<string>(), u => u["userName"]!.GetValue<string>());
        var members = (group["members"] as JsonArray ?? []).Select(m => idToName[m!["value"]!.GetValue<string>()]).ToHashSet();
        Assert.Equal(p.ExpensesMembers.Order(), members.Order());
        await AssertUntouchedAsync(l, own);
    }

    [Fact]
    public async Task Initial_run_provisions_each_application_with_its_scope_and_never_touches_what_is_not_ours()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l);
        var own = await SeedTargetsAsync(l);
        // An employee already present at the helpdesk (loaded from an HR export long ago): linked, not duplicated.
        await l.Helpdesk.CreateUserAsync("emp5@example.com");
        var config = l.WriteConfig();

        var (planCode, planOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config, "--json");
        Assert.True(planCode == 0, planOut);
        var plan = Cli.Json(planOut);
        var helpdeskOps = plan["targets"]!.AsArray().Single(t => t!["target"]!.GetValue<string>() == "helpdesk")!["operations"]!.AsArray();
        Assert.Equal(23, helpdeskOps.Count(o => o!["verb"]!.GetValue<string>() == "create"));
        Assert.Single(helpdeskOps, o => o!["verb"]!.GetValue<string>() == "link");
        Assert.Empty(await l.Expenses.GroupsAsync()); // a plan changes nothing

        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(code == 0, output);
        await AssertTargetsAsync(l, p, own);

        // A second plan has nothing to do: the run converged.
        var (again, againOut) = await Cli.RunAsync(RunTimeout, "sync", "plan", "--config", config, "--json");
        Assert.Equal(0, again);
        Assert.All(Cli.Json(againOut)["targets"]!.AsArray(), t => Assert.Empty(t!["operations"]!.AsArray()));

        var (statusCode, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config, "--json");
        Assert.Equal(0, statusCode);
        var helpdeskStatus = Cli.Json(status).AsArray().Single(t => t!["target"]!.GetValue<string>() == "helpdesk")!;
        Assert.Equal(26, helpdeskStatus["accounts"]!.GetValue<int>()); // the shadow answers without calling the helpdesk
        Assert.Equal(24, helpdeskStatus["links"]!.GetValue<int>());
    }

    [Fact]
    public async Task Changes_flow_in_about_a_second_including_during_the_initial_load_and_with_a_target_down()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l);
        var own = await SeedTargetsAsync(l);
        var config = l.WriteConfig();
        var output = new System.Text.StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch"], null, output);
        try
        {
            // Changes while the engine starts and loads.
            var emp0 = p.Users["emp0@example.com"]["id"]!.GetValue<string>();
            await l.Source.PatchAsync("Users", emp0, Replace("title", "Lead"));
            p.Users["emp99@example.com"] = await l.Source.CreateUserAsync("emp99@example.com", kind: "employee");
            await WaitAsync(async () => Names(await l.Helpdesk.UsersAsync()).Contains("emp99@example.com"), output);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp0@example.com"))?["title"]?.GetValue<string>() == "Lead", output);

            // Deactivation, membership change, deletion: each reaches every target.
            var emp1 = p.Users["emp1@example.com"]["id"]!.GetValue<string>();
            await l.Source.PatchAsync("Users", emp1, Replace("active", false));
            var emp3 = p.Users["emp3@example.com"]["id"]!.GetValue<string>();
            await l.Source.PatchAsync("Groups", p.ExpensesGroupId, new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = emp3 }) });
            p.ExpensesMembers.Add("emp3@example.com");
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp1@example.com"))?["active"]?.GetValue<bool>() == false, output);
            await WaitAsync(async () => (await FindAsync(l.Expenses, "emp1@example.com"))?["active"]?.GetValue<bool>() == false, output);
            await WaitAsync(async () => Names(await l.Expenses.UsersAsync()).Contains("emp3@example.com"), output);

            // The expenses application goes down; the others keep up; it catches up when it returns.
            await l.Expenses.StopAsync();
            var emp2 = p.Users["emp2@example.com"]["id"]!.GetValue<string>();
            await l.Source.PatchAsync("Users", emp2, Replace("title", "Manager"));
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp2@example.com"))?["title"]?.GetValue<string>() == "Manager", output);
            await l.Expenses.StartAsync();
            await WaitAsync(async () => (await FindAsync(l.Expenses, "emp2@example.com"))?["title"]?.GetValue<string>() == "Manager", output, TimeSpan.FromSeconds(90));
            await WaitAsync(async () =>
            {
                var g = (await l.Expenses.GroupsAsync()).Single();
                return (g["members"] as JsonArray)?.Count == p.ExpensesMembers.Count;
            }, output);

            // emp1 is inactive at the source, so inactive everywhere; everything else as at the start.
            await AssertTargetsAsync(l, p, own, inactive: new HashSet<string> { "emp1@example.com" });
        }
        finally
        {
            engine.Kill(true);
        }
    }

    [Fact]
    public async Task An_engine_killed_mid_load_resumes_without_duplicating_accounts()
    {
        await using var l = await Landscape.StartAsync(helpdeskRate: 400);
        const int count = 1500;
        var bulk = new JsonArray();
        for (var i = 0; i < count; i++)
            bulk.Add(new JsonObject
            {
                ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i,
                ["data"] = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = $"bulk{i}@example.com", ["userType"] = "Employee" },
            });
        foreach (var chunk in bulk.Chunk(500))
            await l.Source.Client.PostJsonAsync("Bulk", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                ["Operations"] = new JsonArray(chunk.Select(o => o!.DeepClone()).ToArray()),
            }, CancellationToken.None);
        // One request per create: through Bulk, the whole load is in flight in a few requests at once, and a stop
        // lets requests in flight finish, so nothing would be left for the next run (BulkLoadTests covers Bulk).
        var config = l.WriteConfig(helpdeskExtra: "    dialect: { disableBulk: true }");
        var output = new System.Text.StringBuilder();
        using (var engine = Cli.Start(["sync", "run", "--config", config], null, output))
        {
            await WaitAsync(async () => (await l.Helpdesk.UsersAsync()).Count > 200, output);
            engine.Kill(true);
            await engine.WaitForExitAsync();
        }
        var partial = (await l.Helpdesk.UsersAsync()).Count;
        Assert.InRange(partial, 201, count - 1);
        var (code, text) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(code == 0, text);
        var users = await l.Helpdesk.UsersAsync();
        Assert.Equal(count, users.Count);
        Assert.Equal(count, users.Select(u => u["externalId"]!.GetValue<string>()).Distinct().Count());
        var (_, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config, "--json");
        Assert.Equal(count, Cli.Json(status).AsArray().Single(t => t!["target"]!.GetValue<string>() == "helpdesk")!["links"]!.GetValue<int>());
    }

    [Fact]
    public async Task Sigterm_mid_load_exits_0_with_every_applied_operation_recorded()
    {
        await using var l = await Landscape.StartAsync(helpdeskRate: 400);
        const int count = 1500;
        var bulk = new JsonArray();
        for (var i = 0; i < count; i++)
            bulk.Add(new JsonObject
            {
                ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i,
                ["data"] = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = $"bulk{i}@example.com", ["userType"] = "Employee" },
            });
        foreach (var chunk in bulk.Chunk(500))
            await l.Source.Client.PostJsonAsync("Bulk", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                ["Operations"] = new JsonArray(chunk.Select(o => o!.DeepClone()).ToArray()),
            }, CancellationToken.None);
        // One request per create: through Bulk, the whole load is in flight in a few requests at once, and a stop
        // lets requests in flight finish, so nothing would be left for the next run (BulkLoadTests covers Bulk).
        var config = l.WriteConfig(helpdeskExtra: "    dialect: { disableBulk: true }");
        var output = new System.Text.StringBuilder();
        using (var engine = Cli.Start(["sync", "run", "--config", config], null, output))
        {
            await WaitAsync(async () => (await l.Helpdesk.UsersAsync()).Count > 200, output);
            Cli.Terminate(engine);
            using var stopped = new CancellationTokenSource(RunTimeout);
            await engine.WaitForExitAsync(stopped.Token);
            lock (output) Assert.True(engine.ExitCode == 0, $"exit {engine.ExitCode}: {output}");
            lock (output) Assert.Contains("stopped on request", output.ToString());
        }
        var applied = await l.Helpdesk.UsersAsync();
        Assert.InRange(applied.Count, 201, count - 1); // stopped part-way, not run to the end

        // Nothing lost: every account the helpdesk got is linked in the engine's state (a SIGKILL loses the
        // queued shadow writes, and the next run must find those accounts by correlation instead).
        var (_, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config, "--json");
        Assert.Equal(applied.Count, Cli.Json(status).AsArray().Single(t => t!["target"]!.GetValue<string>() == "helpdesk")!["links"]!.GetValue<int>());

        // The rest waits for the next run, which completes the load without a duplicate.
        var (code, text) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(code == 0, text);
        var users = await l.Helpdesk.UsersAsync();
        Assert.Equal(count, users.Count);
        Assert.Equal(count, users.Select(u => u["externalId"]!.GetValue<string>()).Distinct().Count());
    }

    [Fact]
    public async Task Sync_watch_tells_the_service_manager_ready_once_it_watches_and_stopping_on_sigterm()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 6);
        var config = l.WriteConfig();
        // This test in systemd's place (deploy/systemd/scimsync-sync.service is Type=notify): the unix datagram
        // socket NOTIFY_SOCKET names. A short path: a unix socket's is limited to 107 bytes.
        var socketPath = Path.Combine(Path.GetTempPath(), "ssw-" + Guid.NewGuid().ToString("N")[..10]);
        using var notify = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        notify.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        var output = new System.Text.StringBuilder();
        try
        {
            using var engine = Cli.Start(["sync", "watch", "--config", config], new() { ["NOTIFY_SOCKET"] = socketPath }, output);
            try
            {
                async Task<string> Next()
                {
                    var buffer = new byte[4096];
                    var deadline = DateTime.UtcNow + RunTimeout;
                    while (true)
                    {
                        // Short receives, so that an engine that exited is noticed: a datagram is queued in the socket
                        // as soon as it is sent, so once the process is gone with nothing queued, none is coming.
                        using var slice = new CancellationTokenSource(TimeSpan.FromMilliseconds(250));
                        try
                        {
                            return System.Text.Encoding.UTF8.GetString(buffer, 0, await notify.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, slice.Token));
                        }
                        catch (OperationCanceledException) when (DateTime.UtcNow < deadline && !(engine.HasExited && notify.Available == 0))
                        {
                        }
                        catch (OperationCanceledException)
                        {
                            lock (output) Assert.Fail($"nothing (more) from the engine on NOTIFY_SOCKET: {output}");
                            throw;
                        }
                    }
                }

                Assert.Equal("READY=1", await Next());
                // Without an earlier run to resume, watching starts after a full run: by READY=1 it has been applied.
                var expected = p.Users.Keys.Count(n => n.StartsWith("emp", StringComparison.Ordinal) || n.StartsWith("con", StringComparison.Ordinal));
                Assert.Equal(expected, (await l.Helpdesk.UsersAsync()).Count);

                Cli.Terminate(engine);
                Assert.Equal("STOPPING=1", await Next());
                using var stopped = new CancellationTokenSource(RunTimeout);
                await engine.WaitForExitAsync(stopped.Token);
                lock (output) Assert.True(engine.ExitCode == 0, $"exit {engine.ExitCode}: {output}");
            }
            finally
            {
                if (!engine.HasExited) engine.Kill(true);
            }
        }
        finally
        {
            File.Delete(socketPath);
        }
    }

    [Fact]
    public async Task Out_of_band_edits_are_reported_and_repaired_per_policy()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 8);
        var own = await SeedTargetsAsync(l);
        var config = l.WriteConfig(helpdeskExtra: "    policies: { drift: report }");
        Assert.Equal(0, (await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config)).Code);

        var edited = await FindAsync(l.Support, "emp4@example.com");
        await l.Support.Client.ReplaceAsync("Users", edited!["id"]!.GetValue<string>(), new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
            ["userName"] = "emp4@example.com", ["externalId"] = edited["externalId"]!.DeepClone(), ["active"] = true,
            ["name"] = new JsonObject { ["givenName"] = "Mallory", ["familyName"] = "Test" },
            ["emails"] = edited["emails"]!.DeepClone(),
        }, null, CancellationToken.None);
        var victim = await FindAsync(l.Helpdesk, "emp6@example.com");
        await l.Helpdesk.PatchAsync("Users", victim!["id"]!.GetValue<string>(), Replace("active", false));
        var reactivated = await FindAsync(l.Expenses, "emp1@example.com");
        await l.Expenses.Client.DeleteAsync("Users", reactivated!["id"]!.GetValue<string>(), CancellationToken.None);
        await l.Expenses.CreateUserAsync("walk-in@example.com");
        // A change at the source meanwhile: it reaches the helpdesk too, whose drift policy is only to report.
        await l.Source.PatchAsync("Users", p.Users["emp7@example.com"]["id"]!.GetValue<string>(), Replace("title", "Lead"));

        var (code, json) = await Cli.RunAsync(RunTimeout, "sync", "reconcile", "--config", config, "--json");
        Assert.True(code == 0, json);
        var report = Cli.Json(json)["targets"]!.AsArray();
        JsonArray Drift(string target) => report.Single(t => t!["target"]!.GetValue<string>() == target)!["drift"]!.AsArray();
        Assert.Contains(Drift("support"), d => d!["kind"]!.GetValue<string>() == "edited" && d["userName"]!.GetValue<string>() == "emp4@example.com");
        Assert.Contains(Drift("helpdesk"), d => d!["kind"]!.GetValue<string>() == "deactivated" && d["userName"]!.GetValue<string>() == "emp6@example.com");
        Assert.Contains(Drift("expenses"), d => d!["kind"]!.GetValue<string>() == "deleted");
        Assert.Contains(Drift("expenses"), d => d!["kind"]!.GetValue<string>() == "created" && d["userName"]!.GetValue<string>() == "walk-in@example.com");

        // Support and expenses repair (the default); the helpdesk only reports.
        Assert.Equal("emp4", (await FindAsync(l.Support, "emp4@example.com"))!["name"]!["givenName"]!.GetValue<string>());
        Assert.NotNull(await FindAsync(l.Expenses, "emp1@example.com"));
        Assert.NotNull(await FindAsync(l.Expenses, "walk-in@example.com")); // unmanaged: reported, never deleted
        Assert.False((await FindAsync(l.Helpdesk, "emp6@example.com"))!["active"]!.GetValue<bool>());
        Assert.Equal("Lead", (await FindAsync(l.Helpdesk, "emp7@example.com"))!["title"]!.GetValue<string>());

        // Still reported next time: drift is measured against what the engine wrote, not what it last read.
        var (_, again) = await Cli.RunAsync(RunTimeout, "sync", "reconcile", "--config", config, "--json");
        var helpdeskDrift = Cli.Json(again)["targets"]!.AsArray().Single(t => t!["target"]!.GetValue<string>() == "helpdesk")!["drift"]!.AsArray();
        Assert.Contains(helpdeskDrift, d => d!["kind"]!.GetValue<string>() == "deactivated");
        await AssertUntouchedAsync(l, own);
    }

    [Fact]
    public async Task A_mass_deactivation_waits_for_confirmation()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l, employees: 30);
        var config = l.WriteConfig(helpdeskExtra: "    guard: { maxDeactivations: 20%, floor: 3 }");
        Assert.Equal(0, (await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config)).Code);
        foreach (var name in p.Users.Keys.Where(n => n.StartsWith("emp", StringComparison.Ordinal)).Take(12))
            await l.Source.PatchAsync("Users", p.Users[name]["id"]!.GetValue<string>(), Replace("active", false));

        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(code == 4, output);
        Assert.Contains("held by guard", output);
        Assert.All(await l.Helpdesk.UsersAsync(), u => Assert.True(u["active"]!.GetValue<bool>()));

        var (confirmed, text) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config, "--confirm");
        Assert.True(confirmed == 0, text);
        Assert.Equal(12, (await l.Helpdesk.UsersAsync()).Count(u => !u["active"]!.GetValue<bool>()));
    }

    [Fact]
    public async Task Contractors_are_deactivated_at_their_end_date_and_reactivated_when_it_moves()
    {
        await using var l = await Landscape.StartAsync();
        await l.Source.CreateUserAsync("emp0@example.com", kind: "employee");
        var end = DateTimeOffset.UtcNow.AddSeconds(8);
        end = new DateTimeOffset(end.UtcTicks - end.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero); // the attribute has whole seconds
        var con = await l.Source.CreateUserAsync("temp@example.com", kind: "contractor", endDate: end);
        var config = l.WriteConfig();
        var output = new System.Text.StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch"], null, output);
        try
        {
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "temp@example.com"))?["active"]?.GetValue<bool>() == true, output);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "temp@example.com"))?["active"]?.GetValue<bool>() == false, output, TimeSpan.FromSeconds(40));
            var deactivatedAt = DateTimeOffset.UtcNow;
            Assert.True(deactivatedAt >= end, $"deactivated before the end date ({deactivatedAt:O} < {end:O})");
            Assert.True(deactivatedAt - end < TimeSpan.FromSeconds(15), $"deactivated {deactivatedAt - end} after the end date");

            // The contract is extended: the account comes back.
            await l.Source.PatchAsync("Users", con["id"]!.GetValue<string>(),
                Replace("urn:scimsync:params:scim:schemas:extension:account:2.0:User:endDate", DateTimeOffset.UtcNow.AddDays(30).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ")));
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "temp@example.com"))?["active"]?.GetValue<bool>() == true, output);
        }
        finally
        {
            engine.Kill(true);
        }
    }

    [Fact]
    public async Task Changes_to_unmapped_attributes_cause_no_target_calls()
    {
        await using var l = await Landscape.StartAsync();
        var emp = await l.Source.CreateUserAsync("emp0@example.com", kind: "employee");
        var config = l.WriteConfig();
        var output = new System.Text.StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch"], null, output);
        try
        {
            await WaitAsync(async () => await FindAsync(l.Helpdesk, "emp0@example.com") is not null, output);
            var before = (await FindAsync(l.Helpdesk, "emp0@example.com"))!["meta"]!["version"]!.GetValue<string>();
            // nickName is not mapped (like lastLogin): noise. A title change afterwards proves the engine was listening.
            for (var i = 0; i < 5; i++) await l.Source.PatchAsync("Users", emp["id"]!.GetValue<string>(), Replace("nickName", "n" + i));
            await l.Source.PatchAsync("Users", emp["id"]!.GetValue<string>(), Replace("title", "Engineer"));
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp0@example.com"))?["title"]?.GetValue<string>() == "Engineer", output);
            var after = (await FindAsync(l.Helpdesk, "emp0@example.com"))!["meta"]!["version"]!.GetValue<string>();
            Assert.Equal(int.Parse(before.Trim('W', '/', '"')) + 1, int.Parse(after.Trim('W', '/', '"')));
        }
        finally
        {
            engine.Kill(true);
        }
    }

    [Fact]
    public async Task Server_errors_and_503s_from_a_target_are_retried_until_it_is_right()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l);
        var own = await SeedTargetsAsync(l);
        await using var proxy = await FaultProxy.StartAsync(l.Expenses.ScimUrl, failEvery: 3);
        var path = l.WriteConfig();
        File.WriteAllText(path, File.ReadAllText(path).Replace(l.Expenses.ScimUrl.ToString(), proxy.ScimUrl.ToString(), StringComparison.Ordinal));
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", l.ConfigPath);
        Assert.True(code == 0, output);
        Assert.True(proxy.Injected >= 2, $"only {proxy.Injected} failures were injected");
        await AssertTargetsAsync(l, p, own);
    }

    [Fact]
    public async Task A_restarted_engine_resumes_from_its_feed_without_reading_the_targets_again()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l);
        var own = await SeedTargetsAsync(l);
        var config = l.WriteConfig();
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        Assert.True(code == 0, output);

        // While the engine is down: a new hire, a leaver, a title change, a new expenses member; and an edit
        // made directly in the helpdesk, which only a full comparison would find.
        p.Users["emp50@example.com"] = await l.Source.CreateUserAsync("emp50@example.com", kind: "employee");
        await l.Source.PatchAsync("Users", p.Users["emp1@example.com"]["id"]!.GetValue<string>(), Replace("active", false));
        await l.Source.PatchAsync("Users", p.Users["emp0@example.com"]["id"]!.GetValue<string>(), Replace("title", "Lead"));
        var emp3 = p.Users["emp3@example.com"]["id"]!.GetValue<string>();
        await l.Source.PatchAsync("Groups", p.ExpensesGroupId, new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = emp3 }) });
        p.ExpensesMembers.Add("emp3@example.com");
        var emp5 = (await FindAsync(l.Helpdesk, "emp5@example.com"))!;
        await l.Helpdesk.PatchAsync("Users", emp5["id"]!.GetValue<string>(), Replace("title", "Edited in the app"));

        var log = new System.Text.StringBuilder();
        using var engine = Cli.Start(["sync", "watch", "--config", config], null, log);
        try
        {
            await WaitAsync(async () => Names(await l.Helpdesk.UsersAsync()).Contains("emp50@example.com"), log);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp1@example.com"))?["active"]?.GetValue<bool>() == false, log);
            await WaitAsync(async () => (await FindAsync(l.Expenses, "emp1@example.com"))?["active"]?.GetValue<bool>() == false, log);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp0@example.com"))?["title"]?.GetValue<string>() == "Lead", log);
            await WaitAsync(async () => (await l.Expenses.GroupsAsync()).Single()["members"] is JsonArray m && m.Count == p.ExpensesMembers.Count, log);
            lock (log) Assert.Contains("Resuming", log.ToString(), StringComparison.Ordinal);
            // No full comparison ran: the out-of-band edit is still there, for reconciliation to report.
            Assert.Equal("Edited in the app", (await FindAsync(l.Helpdesk, "emp5@example.com"))!["title"]!.GetValue<string>());
            await AssertTargetsAsync(l, p, own, inactive: new HashSet<string> { "emp1@example.com" });
        }
        finally
        {
            engine.Kill(true);
        }
    }

    [Fact]
    public async Task Without_a_feed_lastModified_queries_carry_changes_also_across_a_restart()
    {
        await using var l = await Landscape.StartAsync();
        var p = await SeedAsync(l);
        var own = await SeedTargetsAsync(l);
        var config = l.WriteConfig(sourceExtra: "  feed: lastModified");
        var log = new System.Text.StringBuilder();
        var engine = Cli.Start(["sync", "run", "--config", config, "--watch"], null, log);
        try
        {
            await WaitAsync(() => Task.FromResult(Contains(log, "Watching")), log, TimeSpan.FromMinutes(2));
            await l.Source.PatchAsync("Users", p.Users["emp0@example.com"]["id"]!.GetValue<string>(), Replace("title", "Lead"));
            // A contractor's end date, seen by the running engine, that passes while it is stopped.
            var end = DateTimeOffset.UtcNow.AddSeconds(10);
            await l.Source.PatchAsync("Users", p.Users["con1@example.com"]["id"]!.GetValue<string>(),
                Replace("urn:scimsync:params:scim:schemas:extension:account:2.0:User:endDate", end.ToString("O")));
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp0@example.com"))?["title"]?.GetValue<string>() == "Lead", log);
            // Longer than the queries' 5 s look-back: on resume only the expiry check can find this account.
            await Task.Delay(TimeSpan.FromSeconds(7));
            engine.Kill(true);
            await engine.WaitForExitAsync();
            engine.Dispose();

            // Changed while the engine is stopped: found from the checkpointed time after `watch` resumes; a
            // deletion, which no lastModified query returns, from the comparison with the links.
            await l.Source.PatchAsync("Users", p.Users["emp2@example.com"]["id"]!.GetValue<string>(), Replace("title", "Manager"));
            await l.Source.PatchAsync("Users", p.Users["emp1@example.com"]["id"]!.GetValue<string>(), Replace("active", false));
            await l.Source.Client.DeleteAsync("Users", p.Users["emp3@example.com"]["id"]!.GetValue<string>(), CancellationToken.None);
            while (DateTimeOffset.UtcNow < end.AddSeconds(1)) await Task.Delay(200);
            lock (log) log.Clear();
            engine = Cli.Start(["sync", "watch", "--config", config], null, log);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp2@example.com"))?["title"]?.GetValue<string>() == "Manager", log);
            await WaitAsync(async () => (await FindAsync(l.Expenses, "emp1@example.com"))?["active"]?.GetValue<bool>() == false, log);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "emp3@example.com"))?["active"]?.GetValue<bool>() == false, log);
            await WaitAsync(async () => (await FindAsync(l.Helpdesk, "con1@example.com"))?["active"]?.GetValue<bool>() == false, log);
            Assert.True(Contains(log, "Resuming"), log.ToString());
            await AssertTargetsAsync(l, p, own, inactive: new HashSet<string> { "emp1@example.com", "emp3@example.com", "con1@example.com" });
        }
        finally
        {
            engine.Kill(true);
            engine.Dispose();
        }
    }

    [Fact]
    public async Task A_file_source_is_followed_when_a_new_export_is_dropped()
    {
        await using var l = await Landscape.StartAsync();
        var admin = await l.Expenses.CreateUserAsync("admin", userType: "Builtin");
        var csv = Path.Combine(l.Root, "hr.csv");
        void Export(string rows)
        {
            // Written beside it and moved into place, as an export job would: never read half-written.
            var tmp = csv + ".tmp";
            File.WriteAllText(tmp, "id,userName,givenName,familyName,email,kind,endDate,department,title,groups,active\n" + rows);
            File.Move(tmp, csv, overwrite: true);
        }
        Export("""
            e1,ann@example.com,Ann,Lee,ann@example.com,employee,,Support,Analyst,Expenses,true
            e2,bob@example.com,Bob,Ray,bob@example.com,employee,,Sales,Rep,,true
            c1,carl@example.com,Carl,Roe,carl@example.com,contractor,2030-01-01T00:00:00Z,,Consultant,Expenses,true
            s1,svc-hr,,,,service,,,,Expenses,true
            """);
        var config = Path.Combine(l.Root, "file.yaml");
        File.WriteAllText(config, $$"""
            state: ./file-state
            source: { type: file, path: hr.csv, pollInterval: 200ms }
            targets:
              - name: expenses
                url: {{l.Expenses.ScimUrl}}
                auth: { type: bearer, token: {{l.Expenses.Token}} }
                scope: { kinds: [employee, contractor] }
                protected: { userNames: [admin] }
                groups: { names: [Expenses], batchSize: 50 }
                dialect: { memberRemoval: valueList }
            """);
        var log = new System.Text.StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch"], null, log);
        try
        {
            await WaitAsync(() => Task.FromResult(Contains(log, "Watching")), log, TimeSpan.FromMinutes(2));
            Assert.Equal(["admin", "ann@example.com", "bob@example.com", "carl@example.com"], Names(await l.Expenses.UsersAsync()).Order());

            // The next export: Bob left, Ann moved out of Expenses and changed title, Dan joined Expenses.
            Export("""
                e1,ann@example.com,Ann,Lee,ann@example.com,employee,,Support,Lead,,true
                e2,bob@example.com,Bob,Ray,bob@example.com,employee,,Sales,Rep,,false
                c1,carl@example.com,Carl,Roe,carl@example.com,contractor,2030-01-01T00:00:00Z,,Consultant,Expenses,true
                e3,dan@example.com,Dan,Fox,dan@example.com,employee,,Sales,Rep,Expenses,true
                s1,svc-hr,,,,service,,,,Expenses,true
                """);
            await WaitAsync(async () => (await FindAsync(l.Expenses, "bob@example.com"))?["active"]?.GetValue<bool>() == false, log);
            await WaitAsync(async () => (await FindAsync(l.Expenses, "ann@example.com"))?["title"]?.GetValue<string>() == "Lead", log);
            await WaitAsync(async () =>
            {
                var users = (await l.Expenses.UsersAsync()).ToDictionary(u => u["id"]!.GetValue<string>(), u => u["userName"]!.GetValue<string>());
                var group = (await l.Expenses.GroupsAsync()).SingleOrDefault();
                var members = (group?["members"] as JsonArray ?? []).Select(m => users.GetValueOrDefault(m!["value"]!.GetValue<string>())).ToHashSet();
                return members.SetEquals(["carl@example.com", "dan@example.com"]);
            }, log);
            Assert.Equal(["admin", "ann@example.com", "bob@example.com", "carl@example.com", "dan@example.com"], Names(await l.Expenses.UsersAsync()).Order());

            // The group is gone from the export: it goes from the application too (its members stay, in scope by kind).
            Export("""
                e1,ann@example.com,Ann,Lee,ann@example.com,employee,,Support,Lead,,true
                e2,bob@example.com,Bob,Ray,bob@example.com,employee,,Sales,Rep,,false
                c1,carl@example.com,Carl,Roe,carl@example.com,contractor,2030-01-01T00:00:00Z,,Consultant,,true
                e3,dan@example.com,Dan,Fox,dan@example.com,employee,,Sales,Rep,,true
                s1,svc-hr,,,,service,,,,,true
                """);
            await WaitAsync(async () => (await l.Expenses.GroupsAsync()).Count == 0, log);
            Assert.Equal(["admin", "ann@example.com", "bob@example.com", "carl@example.com", "dan@example.com"], Names(await l.Expenses.UsersAsync()).Order());
            var adminNow = await l.Expenses.Client.GetAsync("Users", admin["id"]!.GetValue<string>(), null, CancellationToken.None);
            Assert.Equal(admin["meta"]!["version"]!.GetValue<string>(), adminNow!["meta"]!["version"]!.GetValue<string>());
        }
        finally
        {
            engine.Kill(true);
        }
    }

    private static bool Contains(System.Text.StringBuilder log, string text)
    {
        lock (log) return log.ToString().Contains(text, StringComparison.Ordinal);
    }

    private static async Task<JsonObject?> FindAsync(Server server, string userName)
    {
        await foreach (var page in server.Client.ListAsync("Users", new ListOptions { Filter = $"userName eq \"{userName}\"" }, CancellationToken.None))
            return page.Resources.FirstOrDefault();
        return null;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, System.Text.StringBuilder log, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is ScimClientException or HttpRequestException or NullReferenceException) { }
            await Task.Delay(100);
        }
        string text;
        lock (log) text = log.ToString();
        Assert.Fail("condition not met in time; engine output:\n" + text);
    }
}

/// <summary>
/// The engine's end-to-end tests, one at a time: each runs several real processes. Beside them runs at most one other
/// collection (the runner's threads are the machine's cores), such as the third-party targets' (ThirdPartyCollection).
/// </summary>
[CollectionDefinition("EndToEnd")]
public sealed class EndToEndCollection;
