using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Sync.Tests.State;
using static ScimSync.Sync.Tests.EndToEnd.SharedStateTakeoverTests;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// The verbs that change targets outside a watch, on a PostgreSQL state a real `sync watch` process shares, with real
/// processes and targets: `sync confirm TARGET --state` takes the target's lease from the watching engine (which hands
/// it over), releases that target's held removals and nothing else, and gives the target back; `sync run --state`
/// leaves the targets a live engine holds, and with --wait takes them over while the source changes, without a create
/// made twice; `keys rotate --state` refuses while an engine runs, and after it the engine starts again on the new key.
/// </summary>
public sealed class SharedStateCommandTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);

    private static string Config(string root, Server source, Server t1, Server t2, string extra = "")
    {
        var yaml = new StringBuilder($"""
            state: ./state
            source:
              type: scim
              url: {source.ScimUrl}
              auth: {"{"} type: bearer, token: {source.Token} {"}"}
              pollInterval: 200ms
            targets:

            """);
        foreach (var (name, server) in new[] { ("t1", t1), ("t2", t2) })
            yaml.Append($"""
                  - name: {name}
                    url: {server.ScimUrl}
                    auth: {"{"} type: bearer, token: {server.Token} {"}"}
                    scope: {"{"} kinds: [employee] {"}"}
                {extra}

                """);
        var path = Path.Combine(root, "sync.yaml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    /// <summary>Held removals per target, as the shared state holds them.</summary>
    private static Task<Dictionary<string, long>> HeldAsync(string schema) =>
        SharedStateTakeoverTests.TargetRowsAsync(schema, "SELECT target, count(*) FROM holds GROUP BY target", r => r.GetInt64(1));

    private static string Text(StringBuilder output)
    {
        lock (output) return output.ToString();
    }

    private static IReadOnlyList<Sync.State.AuditRecord> Audit(string url, string root, string? result = null)
    {
        using var state = Sync.State.Postgres.PostgresSyncState.Open(url, Secrets.KeyRing.ForDirectory(Path.Combine(root, "state"), null));
        return state.Log(new Sync.State.AuditQuery(Result: result, Limit: 10_000));
    }

    /// <summary>Every target holds exactly these userNames, each once.</summary>
    private static async Task AssertExactlyAsync(IEnumerable<Server> targets, IReadOnlyCollection<string> names, Func<string> context)
    {
        foreach (var server in targets)
        {
            List<JsonObject> users = [];
            await Until(async () => (users = await server.UsersAsync()).Count >= names.Count, TimeSpan.FromSeconds(90),
                () => $"{server.Name} holds {users.Count} of {names.Count}\n{context()}");
            Assert.Equal(names.Order(StringComparer.OrdinalIgnoreCase), users.Select(u => u["userName"]!.GetValue<string>()).Order(StringComparer.OrdinalIgnoreCase));
        }
    }

    private sealed class Scene : IAsyncDisposable
    {
        public required string Root { get; init; }
        public required string Schema { get; init; }
        public required string Url { get; init; }
        public required Server[] Servers { get; init; }
        public Server Source => Servers[0];
        public Server T1 => Servers[1];
        public Server T2 => Servers[2];
        public List<Process> Engines { get; } = [];

        public static async Task<Scene> StartAsync()
        {
            var (schema, url) = TestPostgres.NewSchema();
            var root = Path.Combine(Path.GetTempPath(), "scimsync-shared-cmd-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(root);
            var servers = await Task.WhenAll(Server.StartAsync("hr", root), Server.StartAsync("t1", root), Server.StartAsync("t2", root));
            return new Scene { Root = root, Schema = schema, Url = url, Servers = servers };
        }

        public Process Watch(string config, string instance, StringBuilder output)
        {
            var p = Cli.Start(["sync", "watch", "--config", config, "--state", Url, "--instance", instance], output: output);
            Engines.Add(p);
            return p;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var p in Engines)
                if (!p.HasExited) p.Kill(true);
            foreach (var s in Servers) await s.DisposeAsync();
            TestPostgres.DropSchema(Schema);
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
        }
    }

    [SkippableFact]
    public async Task Sync_confirm_takes_the_targets_lease_from_the_watching_engine_and_releases_that_targets_holds_alone()
    {
        TestPostgres.ConnectionString();
        await using var s = await Scene.StartAsync();
        var people = new Dictionary<string, string>();
        for (var i = 0; i < 12; i++)
        {
            var name = $"emp{i:D2}@example.com";
            people[name] = (await s.Source.CreateUserAsync(name, "employee"))["id"]!.GetValue<string>();
        }
        // Every removal is held: the guard allows none without a person's word.
        var config = Config(s.Root, s.Source, s.T1, s.T2, "    guard: { maxDeactivations: 0, floor: 0 }");
        var outA = new StringBuilder();
        s.Watch(config, "a", outA);
        await Until(async () => (await OwnersAsync(s.Schema)).Count == 2 && (await s.T1.UsersAsync()).Count == 12 && (await s.T2.UsersAsync()).Count == 12,
            TimeSpan.FromSeconds(90), () => Text(outA));

        // Five leave: the watching engine holds their deactivation on both targets.
        var leavers = people.Keys.Take(5).ToArray();
        foreach (var name in leavers) await s.Source.PatchAsync("Users", people[name], Server.Replace("active", false));
        Dictionary<string, long> held = [];
        await Until(async () => (held = await HeldAsync(s.Schema)).GetValueOrDefault("t1") == 5 && held.GetValueOrDefault("t2") == 5,
            TimeSpan.FromSeconds(60), () => $"held {string.Join(", ", held)}\n{Text(outA)}");

        // Not allowed to wait for the owner: confirm does nothing at all, and says who holds the target.
        var (refused, refusedOut) = await Cli.RunAsync(CommandTimeout, "sync", "confirm", "t2", "--config", config, "--state", s.Url, "--wait", "0");
        Assert.True(refused == 1, refusedOut);
        Assert.Contains("(t2 by a)", refusedOut, StringComparison.Ordinal);
        Assert.Equal(5, (await HeldAsync(s.Schema)).GetValueOrDefault("t2"));
        Assert.All(await s.T2.UsersAsync(), u => Assert.True(u["active"]!.GetValue<bool>()));

        var (code, output) = await Cli.RunAsync(CommandTimeout, "sync", "confirm", "t1", "--config", config, "--state", s.Url, "--json");
        Assert.True(code == 0, output + "\n--- engine a:\n" + Text(outA));
        var confirmed = OperatorCommandTests.Json(output);
        Assert.Equal(5, confirmed["held"]!.AsArray().Count);
        var released = confirmed["released"]!.AsArray();
        Assert.Equal(leavers.Order(), released.Select(r => r!["subject"]!.GetValue<string>().Split(' ')[1]).Order());
        Assert.All(released, r => Assert.Equal("ok", r!["result"]!.GetValue<string>()));
        Assert.Empty(confirmed["stillHeld"]!.AsArray());
        // The engine handed t1 over, and t1 alone: it stopped its work there before the command took the lease.
        Assert.Contains("t1: a handed the target over to this command", output, StringComparison.Ordinal);
        Assert.Contains("t1: this engine (a) handed the target over to a command", Text(outA), StringComparison.Ordinal);
        Assert.DoesNotContain("t2: this engine (a) handed", Text(outA), StringComparison.Ordinal);

        // t1 has the leavers deactivated; t2, held too, was not touched and stays held.
        var t1 = await s.T1.UsersAsync();
        Assert.Equal(leavers.Order(), t1.Where(u => !u["active"]!.GetValue<bool>()).Select(u => u["userName"]!.GetValue<string>()).Order());
        Assert.All(await s.T2.UsersAsync(), u => Assert.True(u["active"]!.GetValue<bool>()));
        held = await HeldAsync(s.Schema);
        Assert.Equal(0, held.GetValueOrDefault("t1"));
        Assert.Equal(5, held.GetValueOrDefault("t2"));
        var confirms = Audit(s.Url, s.Root).Where(e => e.Cause.StartsWith("confirm:", StringComparison.Ordinal)).ToArray();
        Assert.Equal(5, confirms.Length);
        Assert.All(confirms, e => Assert.Equal(("t1", "ok"), (e.Target, e.Result)));

        // The engine takes t1 back and goes on: a new hire reaches both targets, once.
        await Until(async () => (await OwnersAsync(s.Schema)).GetValueOrDefault("t1") == "a", TimeSpan.FromSeconds(15), () => Text(outA));
        await s.Source.CreateUserAsync("late@example.com", "employee");
        await AssertExactlyAsync([s.T1, s.T2], [.. people.Keys, "late@example.com"], () => Text(outA));
        Assert.Empty(Audit(s.Url, s.Root, "failed"));
    }

    [SkippableFact]
    public async Task Sync_run_leaves_the_targets_a_live_engine_holds_and_with_wait_takes_them_over_without_a_create_made_twice()
    {
        TestPostgres.ConnectionString();
        await using var s = await Scene.StartAsync();
        var names = Enumerable.Range(0, 10).Select(i => $"emp{i:D2}@example.com").ToList();
        foreach (var n in names) await s.Source.CreateUserAsync(n, "employee");
        var config = Config(s.Root, s.Source, s.T1, s.T2);
        var outA = new StringBuilder();
        var a = s.Watch(config, "a", outA);
        await Until(async () => (await OwnersAsync(s.Schema)).Count == 2 && (await s.T1.UsersAsync()).Count == 10 && (await s.T2.UsersAsync()).Count == 10,
            TimeSpan.FromSeconds(90), () => Text(outA));

        // Without --wait: both targets are a's, so the run does nothing, and says so.
        var (skipped, skippedOut) = await Cli.RunAsync(CommandTimeout, "sync", "run", "--config", config, "--state", s.Url);
        Assert.True(skipped == 1, skippedOut);
        Assert.Contains("t1: skipped: a holds its lease", skippedOut, StringComparison.Ordinal);
        Assert.Contains("every target is held by a watching engine", skippedOut, StringComparison.Ordinal);
        Assert.DoesNotContain(Audit(s.Url, s.Root), e => e.Cause.StartsWith("run:", StringComparison.Ordinal) && !e.Cause.Contains('@', StringComparison.Ordinal));

        // With --wait, while the source changes: a hands both over, the run works on them, then a takes them back.
        var later = Enumerable.Range(0, 15).Select(i => $"late{i:D2}@example.com").ToList();
        var creating = Task.Run(async () =>
        {
            foreach (var n in later) await s.Source.CreateUserAsync(n, "employee");
        });
        var (code, output) = await Cli.RunAsync(CommandTimeout, "sync", "run", "--config", config, "--state", s.Url, "--wait", "60", "--json");
        await creating;
        Assert.True(code == 0, output + "\n--- engine a:\n" + Text(outA));
        Assert.Equal(["t1", "t2"], OperatorCommandTests.Json(output)["targets"]!.AsArray().Select(t => t!["target"]!.GetValue<string>()).Order());
        Assert.Contains("t1: a handed the target over to this command", output, StringComparison.Ordinal);
        Assert.Contains("t2: a handed the target over to this command", output, StringComparison.Ordinal);
        await Until(async () => (await OwnersAsync(s.Schema)).Values.Count(o => o == "a") == 2, TimeSpan.FromSeconds(15), () => Text(outA));
        names.AddRange(later);
        await AssertExactlyAsync([s.T1, s.T2], names, () => Text(outA));

        // One create per person and target, whoever made it (the engine before, the run, the engine after), none failed.
        var audit = Audit(s.Url, s.Root);
        foreach (var target in new[] { "t1", "t2" })
        {
            var creates = audit.Where(e => e.Target == target && e.Verb == "create" && e.Result == "ok").Select(e => e.UserName!).ToList();
            Assert.Equal(names.Order(StringComparer.OrdinalIgnoreCase), creates.Order(StringComparer.OrdinalIgnoreCase));
        }
        Assert.DoesNotContain(audit, e => e.Result == "failed");

        // keys rotate: refused while a runs (it keeps the key file it loaded); after a clean stop it rotates, and a
        // starts again on the new key alone (it opens its sealed feed secret) and carries on.
        var (busy, busyOut) = await Cli.RunAsync(CommandTimeout, "keys", "rotate", "--config", config, "--state", s.Url);
        Assert.True(busy == 3, busyOut);
        Assert.Contains("is in use by a", busyOut, StringComparison.Ordinal);
        Cli.Terminate(a);
        await a.WaitForExitAsync();
        var (rotated, rotatedOut) = await Cli.RunAsync(CommandTimeout, "keys", "rotate", "--config", config, "--state", s.Url, "--json");
        Assert.True(rotated == 0, rotatedOut);
        var report = OperatorCommandTests.Json(rotatedOut);
        Assert.Single(report["retired"]!.AsArray());
        // The engine's feed secret at least, re-sealed.
        var sealedCount = int.Parse(report["sealed"]!.GetValue<string>().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(sealedCount >= 1, rotatedOut);

        var outA2 = new StringBuilder();
        s.Watch(config, "a", outA2);
        await s.Source.CreateUserAsync("after.rotation@example.com", "employee");
        names.Add("after.rotation@example.com");
        await AssertExactlyAsync([s.T1, s.T2], names, () => Text(outA2));
    }

    [Theory]
    [InlineData("--wait goes with --state postgres://", "sync", "run", "--wait", "5")]
    [InlineData("--wait needs a number of seconds from 0 to 86400", "sync", "confirm", "t1", "--wait", "soon")]
    [InlineData("--watch on a shared state", "sync", "run", "--watch", "--state", "postgres://postgres@127.0.0.1:9/postgres")]
    [InlineData("--state goes with --config", "keys", "rotate", "--state", "postgres://postgres@127.0.0.1:9/postgres")]
    public async Task Misused_shared_state_options_exit_2_and_say_why(string message, params string[] args)
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-shared-cmd-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        try
        {
            var config = Path.Combine(root, "sync.yaml");
            await File.WriteAllTextAsync(config, """
                state: ./state
                source: { type: scim, url: "http://127.0.0.1:9/scim/v2", auth: { type: bearer, token: x } }
                targets:
                  - name: t1
                    url: http://127.0.0.1:9/scim/v2
                    auth: { type: bearer, token: x }
                """);
            string[] withConfig = args[0] == "keys" ? args : [.. args, "--config", config];
            var (code, output) = await Cli.RunAsync(TimeSpan.FromSeconds(60), withConfig);
            Assert.True(code == 2, output);
            Assert.Contains(message, output, StringComparison.Ordinal);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
