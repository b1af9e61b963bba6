using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ScimSync.Bench;

/// <summary>
/// The initial load of <c>users</c> users into <c>targets</c> empty `scimsync serve` targets by two engine processes
/// sharing one PostgreSQL state (`sync watch --state postgres://… --instance a|b`): the time from the first engine's
/// start until every target holds every user, and how the targets were divided. Without --postgres-url a throwaway
/// cluster is started with .ci/postgres and stopped at the end.
/// </summary>
internal static class EnginePgBench
{
    private const string Token = "bench-token";

    public static async Task<string> RunAsync(string cli, string work, string root, string? url, int users, int targets)
    {
        string? cluster = null;
        if (url is null)
        {
            cluster = Path.Combine(Path.GetTempPath(), "scimsync-bench-enginepg-" + Guid.NewGuid().ToString("N")[..8]);
            var port = PostgresBench.FreePort();
            await PostgresBench.Run("bash", Path.Combine(root, ".ci/postgres"), "start", cluster, port.ToString(CultureInfo.InvariantCulture));
            url = $"postgres://postgres@127.0.0.1:{port}/postgres?schema=engine_bench";
        }
        var servers = new List<ServerProcess>();
        var engines = new List<Process>();
        try
        {
            var source = await ServerProcess.StartAsync(cli, Path.Combine(work, "hr"), Token);
            servers.Add(source);
            for (var i = 0; i < targets; i++) servers.Add(await ServerProcess.StartAsync(cli, Path.Combine(work, "app" + i), Token));
            using var http = SyncBench.Client(source.BaseUri);
            var sw = Stopwatch.StartNew();
            await SyncBench.SeedAsync(http, users, 0);
            Console.WriteLine($"seeded {users:N0} users in {sw.Elapsed.TotalSeconds:F0} s");
            var config = Path.Combine(work, "sync.yaml");
            var yaml = new StringBuilder($$"""
                state: ./state
                source: { type: scim, url: "{{source.BaseUri}}scim/v2", auth: { type: bearer, token: {{Token}} }, pollInterval: 200ms }
                targets:

                """);
            for (var i = 0; i < targets; i++)
                yaml.Append(CultureInfo.InvariantCulture, $$"""
                      - name: app{{i}}
                        url: {{servers[i + 1].BaseUri}}scim/v2
                        auth: { type: bearer, token: {{Token}} }
                        limits: { concurrency: 16 }

                    """);
            await File.WriteAllTextAsync(config, yaml.ToString());

            var outputs = new[] { new StringBuilder(), new StringBuilder() };
            sw.Restart();
            engines.Add(SyncBench.Start(cli, work, ["sync", "watch", "--config", config, "--state", url, "--instance", "a"], outputs[0]));
            // b once a holds a lease: a has made the key file that seals both engines' feed secrets by then.
            await SyncBench.WaitForAsync(outputs[0], "holds the target's lease", TimeSpan.FromMinutes(10));
            engines.Add(SyncBench.Start(cli, work, ["sync", "watch", "--config", config, "--state", url, "--instance", "b"], outputs[1]));
            var clients = servers.Skip(1).Select(s => SyncBench.Client(s.BaseUri)).ToArray();
            while (true)
            {
                var counts = await Task.WhenAll(clients.Select(async c => (await SyncBench.SendAsync(c, HttpMethod.Get, "Users?count=0", null))["totalResults"]!.GetValue<int>()));
                if (counts.All(c => c >= users)) break;
                if (sw.Elapsed > TimeSpan.FromHours(2)) throw new TimeoutException($"not loaded after 2 h: {string.Join(", ", counts)}");
                await Task.Delay(1000);
            }
            var elapsed = sw.Elapsed;
            string Taken(int i)
            {
                lock (outputs[i]) return string.Join(", ", outputs[i].ToString().Split('\n').Where(l => l.Contains("holds the target's lease", StringComparison.Ordinal))
                    .Select(l => l[(l.IndexOf("app", StringComparison.Ordinal))..].Split(':')[0]));
            }
            return string.Create(CultureInfo.InvariantCulture,
                $"- Initial load of {users:N0} users into {targets} empty targets by two engines on one PostgreSQL state ({url.Split('?')[0].Split('@')[^1]}): **{elapsed.TotalSeconds:F1} s** from the first engine's start until every target held every user. Engine a took: {Taken(0)}; engine b took: {Taken(1)}.\n");
        }
        finally
        {
            foreach (var e in engines)
            {
                if (!e.HasExited) e.Kill(true);
                e.Dispose();
            }
            foreach (var s in servers) await s.DisposeAsync();
            if (cluster is not null)
            {
                await PostgresBench.Run("bash", Path.Combine(root, ".ci/postgres"), "stop", cluster);
                try { Directory.Delete(cluster, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }
}
