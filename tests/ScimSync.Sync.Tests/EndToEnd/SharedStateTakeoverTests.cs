using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Sync.Tests.State;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// Two real engine processes (`sync watch --state postgres://… --instance NAME`) on one PostgreSQL state and three
/// real targets: each target has exactly one owner; kill -9 of one engine while it loads its targets, and the other
/// takes them within 10 seconds, finishes the load without a duplicate and applies every change made meanwhile.
/// Skippable outside CI like every PostgreSQL test (TestPostgres).
/// </summary>
public sealed class SharedStateTakeoverTests
{
    private static readonly string[] Targets = ["t1", "t2", "t3"];

    private static string Config(string root, Server source, IReadOnlyList<Server> targets)
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
        // One request per create: through Bulk a whole load is in flight at once, and the kill must land mid-load.
        for (var i = 0; i < targets.Count; i++)
            yaml.Append($"""
                  - name: {Targets[i]}
                    url: {targets[i].ScimUrl}
                    auth: {"{"} type: bearer, token: {targets[i].Token} {"}"}
                    scope: {"{"} kinds: [employee] {"}"}
                    dialect: {"{"} disableBulk: true {"}"}

                """);
        var path = Path.Combine(root, "sync.yaml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    /// <summary>Live leases as the database holds them: target → owner.</summary>
    internal static Task<Dictionary<string, string>> OwnersAsync(string schema) =>
        TargetRowsAsync(schema, "SELECT target, owner FROM target_leases WHERE expires > now()", r => r.GetString(1));

    /// <summary>
    /// Rows of the shared state keyed by their first column (a target), read straight from the schema; empty while the
    /// engine has not created its tables yet.
    /// </summary>
    internal static async Task<Dictionary<string, T>> TargetRowsAsync<T>(string schema, string sql, Func<NpgsqlDataReader, T> value)
    {
        var b = new NpgsqlConnectionStringBuilder(TestPostgres.ConnectionString()) { SearchPath = schema, Pooling = false };
        await using var c = new NpgsqlConnection(b.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        try
        {
            await using var r = await cmd.ExecuteReaderAsync();
            var map = new Dictionary<string, T>(StringComparer.Ordinal);
            while (await r.ReadAsync()) map[r.GetString(0)] = value(r);
            return map;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return [];
        }
    }

    internal static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"not within {timeout}: {what()}");
            await Task.Delay(100);
        }
    }

    [SkippableFact]
    public async Task A_killed_engines_targets_are_taken_over_within_10_seconds_without_duplicates_or_lost_changes()
    {
        var (schema, url) = TestPostgres.NewSchema();
        var root = Path.Combine(Path.GetTempPath(), "scimsync-shared-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var servers = await Task.WhenAll(Server.StartAsync("hr", root), Server.StartAsync("t1", root), Server.StartAsync("t2", root), Server.StartAsync("t3", root));
        var source = servers[0];
        var targets = servers[1..];
        Process? a = null, b = null;
        StringBuilder outA = new(), outB = new();
        try
        {
            const int initial = 600;
            var names = Enumerable.Range(0, initial).Select(i => $"emp{i:D4}@example.com").ToList();
            await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (n, _) => await source.CreateUserAsync(n, "employee"));
            await source.CreateUserAsync("customer@example.com", "customer"); // out of scope everywhere
            var config = Config(root, source, targets);
            string[] Watch(string instance) => ["sync", "watch", "--config", config, "--state", url, "--instance", instance];

            // a starts first (it makes the key file that seals every engine's feed secret), then b.
            a = Cli.Start(Watch("a"), output: outA);
            await Until(async () => (await OwnersAsync(schema)).Count == 3, TimeSpan.FromSeconds(60), () => $"a took no targets: {outA}");
            b = Cli.Start(Watch("b"), output: outB);
            // Two live engines: a gives one target up (its share is ceil(3 / 2) = 2) and b takes it; one owner each.
            Dictionary<string, string> owners = [];
            await Until(async () => (owners = await OwnersAsync(schema)).Values.Distinct().Count() == 2 && owners.Count == 3, TimeSpan.FromSeconds(30),
                () => $"owners {string.Join(", ", owners)}\na: {outA}\nb: {outB}");
            var victimName = owners.Values.GroupBy(o => o).OrderByDescending(g => g.Count()).First().Key;
            var (victim, survivor, survivorName, survivorOut) = victimName == "a" ? (a, b, "b", outB) : (b, a, "a", outA);
            var victimTargets = owners.Where(o => o.Value == victimName).Select(o => o.Key).ToArray();
            Assert.Equal(2, victimTargets.Length);

            // Mid-load: the victim has created some of its accounts, not all, when it is killed.
            var watched = targets[Array.IndexOf(Targets, victimTargets[0])];
            await Until(async () => (await watched.UsersAsync()).Count > 0, TimeSpan.FromSeconds(60), () => "the load never started");
            var createdBefore = (await watched.UsersAsync()).Count;
            victim.Kill(); // SIGKILL: no release, no flush
            var killed = Stopwatch.StartNew();
            await victim.WaitForExitAsync();

            // Changes made after the kill: the survivor's feed queues them for every target, its own and the taken ones.
            var later = Enumerable.Range(0, 20).Select(i => $"late{i:D2}@example.com").ToList();
            foreach (var n in later) await source.CreateUserAsync(n, "employee");
            names.AddRange(later);

            await Until(async () => (await OwnersAsync(schema)).Values.All(o => o == survivorName) && (await OwnersAsync(schema)).Count == 3,
                TimeSpan.FromSeconds(10), () => $"not taken over: {string.Join(", ", owners)}\n{survivorOut}");
            var takeover = killed.Elapsed;
            Assert.True(takeover < TimeSpan.FromSeconds(10), $"taken over after {takeover}");

            // Every target ends with exactly one account per in-scope source user: none missing, none twice.
            foreach (var (name, server) in Targets.Zip(targets))
            {
                List<JsonObject> users = [];
                await Until(async () => (users = await server.UsersAsync()).Count >= names.Count, TimeSpan.FromSeconds(120),
                    () => $"{name} holds {users.Count} of {names.Count}\n{survivorOut}");
                var userNames = users.Select(u => u["userName"]!.GetValue<string>()).ToList();
                Assert.Equal(names.Order(StringComparer.OrdinalIgnoreCase), userNames.Order(StringComparer.OrdinalIgnoreCase));
            }
            Assert.True(createdBefore < initial, $"the victim had finished its load ({createdBefore}) before it was killed: not mid-load");

            // `sync status` shows the owner and lease of every target.
            var (code, status) = await Cli.RunAsync(TimeSpan.FromSeconds(60), "sync", "status", "--config", config, "--state", url, "--json");
            Assert.True(code is 0 or 6, status); // 6: a target needs attention (a fresh engine has no complete run yet)
            var rows = Cli.Json(status).AsArray();
            Assert.All(rows, r => Assert.Equal(survivorName, r!["owner"]!.GetValue<string>()));
            Assert.All(rows, r => Assert.True(r!["leaseExpires"]!.GetValue<DateTimeOffset>() > DateTimeOffset.UtcNow.AddSeconds(-10)));
            Assert.Equal(names.Count, rows.Sum(r => r!["links"]!.GetValue<int>()) / 3);

            // The operators' questions read the shared state too: one person's accounts, and the provisioning log.
            var person = names[^1];
            var (userCode, userOut) = await Cli.RunAsync(TimeSpan.FromSeconds(60), "sync", "user", person, "--config", config, "--state", url, "--json");
            Assert.True(userCode == 0, userOut);
            var accounts = Cli.Json(userOut)["targets"]!.AsArray();
            Assert.Equal(Targets.Order(), accounts.Select(t => t!["target"]!.GetValue<string>()).Order());
            Assert.All(accounts, t => Assert.False(string.IsNullOrEmpty(t!["targetId"]?.GetValue<string>()), userOut));
            var (logCode, logOut) = await Cli.RunAsync(TimeSpan.FromSeconds(60), "sync", "log", "--config", config, "--state", url, "--user", person, "--json");
            Assert.True(logCode == 0, logOut);
            var entries = Cli.Json(logOut).AsArray();
            Assert.Equal(Targets.Order(), entries.Where(e => e!["verb"]!.GetValue<string>() == "create").Select(e => e!["target"]!.GetValue<string>()).Order());

            // The shared state agrees: one link per user on every target, and no operation failed on the way (a create
            // the victim made but did not record was linked by the survivor's full pass, not refused or repeated).
            using (var state = Sync.State.Postgres.PostgresSyncState.Open(url, Secrets.KeyRing.ForDirectory(Path.Combine(root, "state"), null)))
            {
                Assert.All(Targets, t => Assert.Equal(names.Count, state.LinkedSources(t).Count));
                var failed = state.Log(new Sync.State.AuditQuery(Result: "failed", Limit: 10));
                Assert.True(failed.Count == 0, string.Join("\n", failed.Select(f => $"{f.Target} {f.Verb} {f.Subject}: {f.Status} {f.Detail}")));
            }

            // A clean stop releases the leases at once.
            Cli.Terminate(survivor);
            await survivor.WaitForExitAsync();
            Assert.Empty(await OwnersAsync(schema));
        }
        finally
        {
            foreach (var p in new[] { a, b })
                if (p is { HasExited: false }) p.Kill(true);
            foreach (var s in servers) await s.DisposeAsync();
            TestPostgres.DropSchema(schema);
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_watch_on_a_shared_state_needs_a_stable_instance_name()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-shared-" + Guid.NewGuid().ToString("N")[..10]);
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
            var (code, output) = await Cli.RunAsync(TimeSpan.FromSeconds(60), "sync", "watch", "--config", config, "--state", "postgres://postgres@127.0.0.1:9/postgres");
            Assert.Equal(2, code);
            Assert.Contains("--state postgres://… needs --instance NAME", output, StringComparison.Ordinal);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
