using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Client;
using static ScimSync.Sync.Tests.EndToEnd.Server;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// The operators' questions about one person, asked of real processes: `scimsync serve` as the HR source and three
/// applications, `scimsync sync` in between, and `sync user` / `sync log` reading the engine's state beside it.
/// Grace works in Support and is in the Expenses group; Alan is in Sales. The support desk's mapping sends her title
/// as the enterprise manager, a complex attribute, which the application refuses (400): every call there fails.
/// </summary>
[Collection("EndToEnd")]
public sealed class PersonInquiryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    private static string Config(Landscape l, string helpdeskMapping = "")
    {
        var yaml = $"""
            state: ./state
            source:
              type: scim
              url: {l.Source.ScimUrl}
              auth: {"{"} type: bearer, token: {l.Source.Token} {"}"}
            targets:
              - name: helpdesk
                url: {l.Helpdesk.ScimUrl}
                auth: {"{"} type: bearer, token: {l.Helpdesk.Token} {"}"}
                limits: {"{"} maxPageSize: 100, maxRequestsPerSecond: 250 {"}"}
                scope: {"{"} kinds: [employee, contractor] {"}"}
            {helpdeskMapping}
              - name: support
                url: {l.Support.ScimUrl}
                auth: {"{"} type: bearer, token: {l.Support.Token} {"}"}
                dialect: {"{"} usePut: true {"}"}
                scope:
                  filter: '{Enterprise}:department eq "Support"'
                mapping:
                  defaults: true
                  "{Enterprise}:manager": title
              - name: expenses
                url: {l.Expenses.ScimUrl}
                auth: {"{"} type: bearer, token: {l.Expenses.Token} {"}"}
                scope: {"{"} groups: [Expenses] {"}"}
                groups: {"{"} names: [Expenses], batchSize: 50 {"}"}
            """;
        File.WriteAllText(l.ConfigPath, yaml);
        return l.ConfigPath;
    }

    private static async Task<(string Grace, string Alan)> SeedAsync(Landscape l, Action<JsonObject>? grace = null)
    {
        var g = await l.Source.CreateUserAsync("grace@example.com", kind: "employee", department: "Support");
        await l.Source.PatchAsync("Users", g["id"]!.GetValue<string>(), Replace("title", "Engineer"));
        if (grace is not null)
        {
            var extra = new JsonObject();
            grace(extra);
            foreach (var (path, value) in extra) await l.Source.PatchAsync("Users", g["id"]!.GetValue<string>(), Replace(path, value?.DeepClone()));
        }
        var a = await l.Source.CreateUserAsync("alan@example.com", kind: "employee", department: "Sales");
        await l.Source.Client.CreateAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Expenses",
            ["members"] = new JsonArray(new JsonObject { ["value"] = g["id"]!.GetValue<string>() }),
        }, CancellationToken.None);
        return (g["id"]!.GetValue<string>(), a["id"]!.GetValue<string>());
    }

    /// <summary>Runs a command that prints JSON on standard output (logs, on standard error, are kept to warnings).</summary>
    private static async Task<JsonNode> JsonAsync(params string[] args)
    {
        var (code, output) = await Cli.RunAsync(Timeout, [.. args, "--json", "--log-level", "warning"]);
        Assert.True(code == 0, $"scimsync {string.Join(' ', args)} exited {code}: {output}");
        var start = output.IndexOfAny(['{', '[']);
        return JsonNode.Parse(output[start..])!;
    }

    private static JsonObject Target(JsonNode person, string name) =>
        person["targets"]!.AsArray().OfType<JsonObject>().Single(t => t["target"]!.GetValue<string>() == name);

    private static JsonObject Attribute(JsonObject target, string path) =>
        target["attributes"]!.AsArray().OfType<JsonObject>().Single(a => a["path"]!.GetValue<string>() == path);

    private static JsonObject? Change(JsonNode entry, string path) =>
        entry["changes"]!.AsArray().OfType<JsonObject>().SingleOrDefault(c => c["path"]!.GetValue<string>() == path);

    private static string? Text(JsonNode? node) => node?.GetValue<string>();

    private static async Task<JsonObject?> FindAsync(Server server, string userName)
    {
        await foreach (var page in server.Client.ListAsync("Users", new ListOptions { Filter = $"userName eq \"{userName}\"" }, CancellationToken.None))
            return page.Resources.FirstOrDefault();
        return null;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, System.Text.StringBuilder log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(250);
        }
        lock (log) Assert.Fail("condition not met in time; engine output:\n" + log);
    }

    /// <summary>A token of the source with a name, as an HR portal would hold: the writer the journal names.</summary>
    private static async Task<ScimClient> NamedWriterAsync(Server source, string name)
    {
        var (code, output) = await Cli.RunAsync(Timeout, "token", "create", "--name", name, "--scopes", "scim:read,scim:write", "--data", source.DataDir, "--json");
        Assert.True(code == 0, output);
        var secret = JsonNode.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..])!["secret"]!.GetValue<string>();
        return new ScimClient(new ScimClientOptions { BaseUri = source.ScimUrl, Auth = new ScimAuth.Bearer(secret) });
    }

    [Fact]
    public async Task Sync_user_shows_scope_diff_memberships_and_history_after_a_run_a_source_edit_an_out_of_band_edit_and_a_failed_call()
    {
        await using var l = await Landscape.StartAsync();
        var (grace, _) = await SeedAsync(l);
        var config = Config(l);
        var (runCode, runOutput) = await Cli.RunAsync(Timeout, "sync", "run", "--config", config);
        Assert.True(runCode == 5, $"the support desk refuses every create, the others take them: partially applied; got {runCode}: {runOutput}");

        // After the run: each target's scope and the rule that decided it, the account, its groups, its history.
        var person = await JsonAsync("sync", "user", "grace@example.com", "--config", config);
        Assert.Equal(grace, Text(person["source"]!["id"]));
        Assert.Equal("employee", Text(person["source"]!["kind"]));
        var helpdesk = Target(person, "helpdesk");
        Assert.True(helpdesk["inScope"]!.GetValue<bool>());
        Assert.Equal(("scope.kinds", "kind employee is in scope.kinds"), (Text(helpdesk["scopeRule"]), Text(helpdesk["scopeReason"])));
        Assert.Equal("linked", Text(helpdesk["situation"]));
        var helpdeskAccount = (await FindAsync(l.Helpdesk, "grace@example.com"))!;
        Assert.Equal(Text(helpdeskAccount["id"]), Text(helpdesk["targetId"]));
        Assert.All(helpdesk["attributes"]!.AsArray(), a => Assert.False(a!["differs"]!.GetValue<bool>(), a.ToJsonString()));
        Assert.Equal("Engineer", Text(Attribute(helpdesk, "title")["onTarget"]));
        var created = helpdesk["history"]!.AsArray().Single()!;
        Assert.Equal(("create", "ok"), (Text(created["verb"]), Text(created["result"])));
        Assert.StartsWith("run:", Text(created["cause"]), StringComparison.Ordinal);
        Assert.Equal("Engineer", Text(Change(created, "title")!["new"]));
        Assert.Null(Change(created, "title")!["old"]);

        var support = Target(person, "support");
        Assert.True(support["inScope"]!.GetValue<bool>());
        Assert.Equal($"matches scope.filter {Enterprise}:department eq \"Support\"", Text(support["scopeReason"]));
        Assert.Equal("missing", Text(support["situation"]));
        var failed = support["history"]!.AsArray()[0]!;
        Assert.Equal(("create", "failed", 400, "invalidValue"), (Text(failed["verb"]), Text(failed["result"]), failed["status"]!.GetValue<int>(), Text(failed["scimType"])));
        Assert.Contains($"{Enterprise}:manager", Text(failed["detail"]), StringComparison.Ordinal);
        Assert.Contains("mapping", Text(failed["action"]), StringComparison.Ordinal);
        Assert.Equal("Engineer", Text(Change(failed, $"{Enterprise}:manager")!["new"]));
        Assert.Contains(support["planned"]!.AsArray(), o => Text(o)!.Contains("create user grace@example.com", StringComparison.Ordinal));

        var expenses = Target(person, "expenses");
        Assert.Equal("member of [Expenses] (scope.groups)", Text(expenses["scopeReason"]));
        Assert.Equal("linked", Text(expenses["situation"]));
        var membership = Assert.Single(expenses["groups"]!.AsArray())!;
        Assert.Equal(("Expenses", true, true), (Text(membership["name"]), membership["onTarget"]!.GetValue<bool>(), membership["wanted"]!.GetValue<bool>()));

        var alan = Target(await JsonAsync("sync", "user", "alan@example.com", "--config", config), "expenses");
        Assert.Equal((false, "member of no group; scope.groups is [Expenses]", "none"), (alan["inScope"]!.GetValue<bool>(), Text(alan["scopeReason"]), Text(alan["situation"])));

        // An edit at the source by a named credential, carried by the feed while the engine watches: the history says
        // old → new, the journal position of the change and who made it.
        using var portal = await NamedWriterAsync(l.Source, "hr-portal");
        var log = new System.Text.StringBuilder();
        var engine = Cli.Start(["sync", "watch", "--config", config], null, log);
        long position;
        try
        {
            await WaitAsync(() => Task.FromResult(log.ToString().Contains("Watching", StringComparison.Ordinal)), log);
            await portal.PatchAsync("Users", grace, [Replace("title", "Principal Engineer")], null, CancellationToken.None);
            position = 0;
            await foreach (var page in l.Source.Client.ListAsync("Users", new ListOptions { PageSize = 1 }, CancellationToken.None))
            {
                position = page.JournalPosition!.Value;
                break;
            }
            // Recorded once the engine's write of the audit has committed: asked of the state, beside the running engine.
            await WaitAsync(async () => (await JsonAsync("sync", "log", "--config", config, "--user", "grace@example.com", "--target", "helpdesk")).AsArray()
                .Any(e => e!["verb"]!.GetValue<string>() == "update"), log);
        }
        finally
        {
            engine.Kill(true);
            await engine.WaitForExitAsync();
            engine.Dispose();
        }
        Assert.Equal("Principal Engineer", Text((await FindAsync(l.Helpdesk, "grace@example.com"))!["title"]));
        // Looked up by the source id this time.
        person = await JsonAsync("sync", "user", grace, "--config", config);
        Assert.Equal("grace@example.com", Text(person["source"]!["userName"]));
        var update = Target(person, "helpdesk")["history"]!.AsArray()[0]!;
        Assert.Equal("update", Text(update["verb"]));
        Assert.StartsWith("event:", Text(update["cause"]), StringComparison.Ordinal);
        Assert.Equal("hr-portal", Text(update["source"]!["writer"]));
        Assert.Equal(position, update["source"]!["journalPosition"]!.GetValue<long>());
        Assert.InRange(DateTimeOffset.Parse(Text(update["source"]!["time"])!, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow);
        Assert.Equal(("Engineer", "Principal Engineer"), (Text(Change(update, "title")!["old"]), Text(Change(update, "title")!["new"])));

        // An edit made in the application itself: after a plan has read the target, the shadow shows it against
        // what the mapping wants, and what the engine last wrote.
        await l.Helpdesk.PatchAsync("Users", Text(helpdeskAccount["id"])!, Replace("title", "Edited in the app"));
        Assert.Equal(0, (await Cli.RunAsync(Timeout, "sync", "plan", "--config", config)).Code);
        var drifted = Attribute(Target(await JsonAsync("sync", "user", grace, "--config", config), "helpdesk"), "title");
        Assert.Equal(("Edited in the app", "Principal Engineer", "Principal Engineer"), (Text(drifted["onTarget"]), Text(drifted["wanted"]), Text(drifted["lastWritten"])));
        Assert.True(drifted["differs"]!.GetValue<bool>());
        Assert.True(drifted["changedAtTarget"]!.GetValue<bool>());

        // The same for a person at a terminal, with the recommended action of the failed call.
        var (code, text) = await Cli.RunAsync(Timeout, "sync", "user", "grace@example.com", "--config", config);
        Assert.True(code == 0, text);
        Assert.Contains("title: \"Engineer\" → \"Principal Engineer\"", text, StringComparison.Ordinal);
        Assert.Contains("by hr-portal", text, StringComparison.Ordinal);
        Assert.Contains("changed at the target", text, StringComparison.Ordinal);
        Assert.Contains("action: the mapping produced a value the target refuses", text, StringComparison.Ordinal);
        Assert.Equal(1, (await Cli.RunAsync(Timeout, "sync", "user", "nobody@example.com", "--config", config)).Code);
    }

    [Fact]
    public async Task Sync_log_filters_by_person_target_result_and_time_and_never_shows_a_secret()
    {
        await using var l = await Landscape.StartAsync();
        // Grace's badge PIN travels to the helpdesk as her employee number, marked secret in the mapping.
        var (grace, _) = await SeedAsync(l, g => g["nickName"] = "PIN-4242");
        var config = Config(l, helpdeskMapping: $$"""
                mapping:
                  defaults: true
                  "{{Enterprise}}:employeeNumber": { source: nickName, secret: true }
            """);
        var started = DateTimeOffset.UtcNow;
        Assert.Equal(5, (await Cli.RunAsync(Timeout, "sync", "run", "--config", config)).Code);
        Assert.Equal("PIN-4242", Text((await FindAsync(l.Helpdesk, "grace@example.com"))![Enterprise]!["employeeNumber"]));

        var all = (await JsonAsync("sync", "log", "--config", config)).AsArray();
        // grace: helpdesk create, support create (failed), expenses create and group member add; alan: helpdesk create; the group's create.
        Assert.Contains(all, e => Text(e!["userName"]) == "alan@example.com");
        Assert.True(all.Select(e => DateTimeOffset.Parse(Text(e!["time"])!, System.Globalization.CultureInfo.InvariantCulture)).SequenceEqual(
            all.Select(e => DateTimeOffset.Parse(Text(e!["time"])!, System.Globalization.CultureInfo.InvariantCulture)).OrderDescending()), "newest first");
        Assert.All(all, e => Assert.EndsWith("Z", Text(e!["time"]), StringComparison.Ordinal));

        var graces = (await JsonAsync("sync", "log", "--config", config, "--user", "grace@example.com")).AsArray();
        Assert.NotEmpty(graces);
        Assert.All(graces, e => Assert.Equal(grace, Text(e!["sourceId"])));
        Assert.Equal(graces.Select(e => e!.ToJsonString()), (await JsonAsync("sync", "log", "--config", config, "--user", grace)).AsArray().Select(e => e!.ToJsonString()));
        Assert.Equal(["expenses", "helpdesk", "support"], graces.Select(e => Text(e!["target"])!).Distinct().Order());

        var support = (await JsonAsync("sync", "log", "--config", config, "--target", "support")).AsArray();
        Assert.Equal([grace], support.Select(e => Text(e!["sourceId"])));
        var failures = (await JsonAsync("sync", "log", "--config", config, "--result", "failed")).AsArray();
        Assert.Equal(support.Select(e => e!.ToJsonString()), failures.Select(e => e!.ToJsonString()));
        Assert.All((await JsonAsync("sync", "log", "--config", config, "--result", "ok")).AsArray(), e => Assert.Equal("ok", Text(e!["result"])));
        Assert.Empty((await JsonAsync("sync", "log", "--config", config, "--user", "alan@example.com", "--target", "support")).AsArray());
        Assert.Single((await JsonAsync("sync", "log", "--config", config, "--limit", "1")).AsArray());
        Assert.Equal(all.Count, (await JsonAsync("sync", "log", "--config", config, "--since", started.AddSeconds(-1).ToString("O"))).AsArray().Count);
        Assert.Empty((await JsonAsync("sync", "log", "--config", config, "--until", started.AddSeconds(-1).ToString("O"))).AsArray());
        Assert.Empty((await JsonAsync("sync", "log", "--config", config, "--since", "2099-01-01T00:00:00Z")).AsArray());
        Assert.Equal(all.Count, (await JsonAsync("sync", "log", "--config", config, "--since", "1h")).AsArray().Count);
        Assert.Equal(2, (await Cli.RunAsync(Timeout, "sync", "log", "--config", config, "--result", "maybe")).Code);

        // The secret is redacted wherever the engine shows it, and never written into its log.
        var created = graces.Single(e => Text(e!["target"]) == "helpdesk" && Text(e!["verb"]) == "create")!;
        Assert.Equal("(secret)", Text(Change(created, $"{Enterprise}:employeeNumber")!["new"]));
        var person = await JsonAsync("sync", "user", "grace@example.com", "--config", config);
        Assert.Equal("(secret)", Text(Attribute(Target(person, "helpdesk"), $"{Enterprise}:employeeNumber")["onTarget"]));
        var (_, text) = await Cli.RunAsync(Timeout, "sync", "user", "grace@example.com", "--config", config);
        var (_, logText) = await Cli.RunAsync(Timeout, "sync", "log", "--config", config);
        foreach (var shown in new[] { person.ToJsonString(), text, logText, all.ToJsonString() })
            Assert.DoesNotContain("PIN-4242", shown, StringComparison.Ordinal);
        Assert.Contains("(secret)", text, StringComparison.Ordinal);
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(l.Root, "state", "sync.db"), Mode = SqliteOpenMode.ReadOnly }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM audit WHERE changes LIKE '%PIN-4242%' OR detail LIKE '%PIN-4242%'";
        Assert.Equal(0L, (long)cmd.ExecuteScalar()!);
        cmd.CommandText = "SELECT count(*) FROM audit WHERE changes LIKE '%(secret)%'";
        Assert.True((long)cmd.ExecuteScalar()! > 0);
    }

    [Fact]
    public async Task Plans_and_on_demand_traces_in_json_show_a_secret_as_redacted()
    {
        await using var l = await Landscape.StartAsync();
        var (grace, _) = await SeedAsync(l, g => g["nickName"] = "PIN-4242");
        var config = Config(l, helpdeskMapping: $$"""
                mapping:
                  defaults: true
                  "{{Enterprise}}:employeeNumber": { source: nickName, secret: true }
            """);

        // A create carries the whole document; the secret in it is shown redacted, the rest as it is.
        var (_, created) = await Cli.RunAsync(Timeout, "sync", "plan", "--config", config, "--json", "--log-level", "warning");
        Assert.DoesNotContain("PIN-4242", created, StringComparison.Ordinal);
        var create = JsonNode.Parse(created[created.IndexOf('{', StringComparison.Ordinal)..])!["targets"]!.AsArray()
            .Single(t => Text(t!["target"]) == "helpdesk")!["operations"]!.AsArray().Single(o => Text(o!["subject"]) == "user grace@example.com")!;
        Assert.Equal("(secret)", Text(create["resource"]![Enterprise]!["employeeNumber"]));
        Assert.Equal("grace@example.com", Text(create["resource"]!["userName"]));

        Assert.Equal(5, (await Cli.RunAsync(Timeout, "sync", "run", "--config", config)).Code);
        // An update carries PATCH operations: their values are redacted where the path is secret.
        await l.Source.PatchAsync("Users", grace, Replace("nickName", "PIN-9999"));
        var (_, updated) = await Cli.RunAsync(Timeout, "sync", "plan", "--config", config, "--json", "--log-level", "warning");
        Assert.Contains("employeeNumber", updated, StringComparison.Ordinal);
        Assert.DoesNotContain("PIN-9999", updated, StringComparison.Ordinal);
        var (_, demand) = await Cli.RunAsync(Timeout, "sync", "run", "--user", "grace@example.com", "--target", "helpdesk", "--config", config, "--json", "--log-level", "warning");
        Assert.Contains("employeeNumber", demand, StringComparison.Ordinal);
        Assert.DoesNotContain("PIN-9999", demand, StringComparison.Ordinal);
        Assert.Equal("PIN-9999", Text((await FindAsync(l.Helpdesk, "grace@example.com"))![Enterprise]!["employeeNumber"]));
    }
}
