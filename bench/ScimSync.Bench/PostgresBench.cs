using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// The server on PostgreSQL against the server on SQLite, in one run (docs/postgres.md), with the load generator of
/// the SQLite figures (wrk, create.lua and paths.lua): for each store, creates/s with one instance up to the user
/// count, then GET by id/s and `userName eq` filters over every user; on PostgreSQL then creates and reads with two
/// instances on the same database (two wrk processes, half the connections each, rates added), and fan-out
/// takeover: the instance holding the fan-out lease is killed with SIGKILL and the time until the other logs that
/// it holds the lease (event 2300) is measured. Without --postgres URL a throwaway cluster is started with
/// .ci/postgres and stopped at the end.
/// </summary>
internal static class PostgresBench
{
    private const string Token = "bench-token";

    public static async Task<string> RunAsync(string cli, string work, string lua, string root, string? url, int users, int connections, int seconds)
    {
        var md = new StringBuilder();
        var before = Uptime();
        string? cluster = null;
        if (url is null)
        {
            cluster = Path.Combine(Path.GetTempPath(), "scimsync-bench-pg-" + Guid.NewGuid().ToString("N")[..8]);
            var port = FreePort();
            await Run("bash", Path.Combine(root, ".ci/postgres"), "start", cluster, port.ToString(CultureInfo.InvariantCulture));
            url = $"postgres://postgres@127.0.0.1:{port}/postgres?schema=bench";
        }
        var leases = new ConcurrentQueue<(string Instance, long At)>();
        var keyFile = Path.Combine(work, "shared.key");
        Task<ServerProcess> Start(string name) => ServerProcess.StartAsync(cli, Path.Combine(work, name), Token,
            ["--store", url, "--key-file", keyFile, "--instance", name],
            line => { if (line.Contains("holds the lease feed.fanout ", StringComparison.Ordinal)) leases.Enqueue((name, Stopwatch.GetTimestamp())); });
        var rows = new List<string>();
        void Row(string name, long requests, string concurrency, double rate, double p50, double p99, long errors) =>
            rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {name} | {requests:N0} | {concurrency} | {rate:F0} | {p50:F2} | {p99:F2} | {errors} |"));
        var ratios = new List<string>();
        ServerProcess? a = null, b = null;
        try
        {
            // SQLite first, the same steps on the same machine in the same run: "half of the SQLite figures" is
            // then a ratio of two measurements taken minutes apart, not of figures from another day.
            Single sqlite;
            await using (var s = await ServerProcess.StartAsync(cli, Path.Combine(work, "sqlite"), Token))
                sqlite = await MeasureOneAsync(s, "SQLite", lua, work, users, connections, seconds, Row);
            a = await Start("a");
            var pg = await MeasureOneAsync(a, "PostgreSQL", lua, work, users, connections, seconds, Row);
            foreach (var (what, s, p) in new[] { ("creates/s", sqlite.Creates, pg.Creates), ("GET by id/s", sqlite.Gets, pg.Gets), ("`userName eq`/s", sqlite.Filters, pg.Filters) })
                ratios.Add(string.Create(CultureInfo.InvariantCulture, $"| {what} | {s:F0} | {p:F0} | {100 * p / s:F0} % |"));
            ratios.Add(string.Create(CultureInfo.InvariantCulture, $"| `userName eq` p99 ms | {sqlite.FilterP99:F2} | {pg.FilterP99:F2} | |"));

            // The second instance, then creates and reads through both at once.
            b = await Start("b");
            var two = await Both(a, b, (s, i) => Wrk.RunAsync("create", s.BaseUri, Path.Combine(lua, "create.lua"), [Token, (90 + i).ToString(CultureInfo.InvariantCulture)], connections / 2, TimeSpan.FromSeconds(seconds)));
            Row("PostgreSQL: POST /Users, 2 instances", two.Requests, $"2 × {connections / 2} conns", two.Ok / two.Seconds, two.P50, two.P99, two.Errors);
            var readLoad = new LoadSample(a.Pid);
            foreach (var (label, paths) in new[] { ("GET /Users/{id}", pg.GetPaths), ("GET /Users?filter=userName eq \"…\"", pg.FilterPaths) })
            {
                var both = await Both(a, b, (s, _) => Wrk.RunAsync(label, s.BaseUri, Path.Combine(lua, "paths.lua"), [Token, paths], connections / 2, TimeSpan.FromSeconds(seconds)));
                Row($"PostgreSQL: {label}, 2 instances", both.Requests, $"2 × {connections / 2} conns", both.Ok / both.Seconds, both.P50, both.P99, both.Errors);
            }
            var readLoadText = readLoad.Describe();

            // Takeover: the holder of the fan-out lease is killed; the other logs that it holds it.
            var (holder, _) = leases.First();
            var (victim, survivor) = holder == "a" ? (a, "b") : (b, "a");
            var killed = Stopwatch.GetTimestamp();
            await victim.DisposeAsync(); // Process.Kill: SIGKILL
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!leases.Any(l => l.Instance == survivor) && DateTime.UtcNow < deadline) await Task.Delay(10);
            var takeover = leases.Where(l => l.Instance == survivor).Select(l => (double?)Stopwatch.GetElapsedTime(killed, l.At).TotalSeconds).FirstOrDefault();

            md.AppendLine(CultureInfo.InvariantCulture, $"Store: {Describe(url)} (PostgreSQL {ServerVersion()}, started by .ci/postgres: shared_buffers 256MB, otherwise defaults, synchronous_commit on); each instance `scimsync serve --store … --instance a|b`; the SQLite server `scimsync serve` with its defaults (durability full), measured first in the same run. Load generator: wrk, 2 threads per wrk process, on the same machine.");
            md.AppendLine();
            md.AppendLine("| measurement | requests | concurrency | rate (/s) | p50 ms | p99 ms | errors |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var r in rows) md.AppendLine(r);
            md.AppendLine();
            md.AppendLine("| one instance | SQLite | PostgreSQL | PostgreSQL / SQLite |");
            md.AppendLine("|---|---:|---:|---:|");
            foreach (var r in ratios) md.AppendLine(r);
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"- Fan-out takeover: instance {holder} held the lease and was killed with SIGKILL; instance {survivor} logged that it holds it after {(takeover is { } t ? t.ToString("F2", CultureInfo.InvariantCulture) + " s" : "more than 60 s")}.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- SQLite: while creating {sqlite.CreateLoad}; during the reads {sqlite.ReadLoad}.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- PostgreSQL, one instance: while creating {pg.CreateLoad}; during the reads {pg.ReadLoad}. Two instances, during the reads: {readLoadText}.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- Two-instance rates are the sum of two wrk processes run at the same time, one per instance; p50 is their mean, p99 the larger.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- `uptime` before: {before}");
            md.AppendLine(CultureInfo.InvariantCulture, $"- `uptime` after: {Uptime()}");
            return md.ToString();
        }
        finally
        {
            if (a is not null) await a.DisposeAsync();
            if (b is not null) await b.DisposeAsync();
            if (cluster is not null)
            {
                await Run("bash", Path.Combine(root, ".ci/postgres"), "stop", cluster);
                try { Directory.Delete(cluster, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    /// <summary>What one instance of a store measured, and the request paths its reads used.</summary>
    private sealed record Single(double Creates, double Gets, double Filters, double FilterP99, string CreateLoad, string ReadLoad, string GetPaths, string FilterPaths);

    /// <summary>
    /// Creates until the store holds <paramref name="users"/> (wrk rounds sized from the rate so far), then GET by id
    /// and <c>userName eq</c> over every user, each for <paramref name="seconds"/>: the steps of both stores.
    /// </summary>
    private static async Task<Single> MeasureOneAsync(ServerProcess server, string store, string lua, string work, int users, int connections, int seconds,
        Action<string, long, string, double, double, double, long> row)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.BaseUri, "scim/v2/"), Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        async Task<int> CountUsers() => JsonNode.Parse(await http.GetStringAsync("Users?count=0"))!["totalResults"]!.GetValue<int>();

        var load = new LoadSample(server.Pid);
        var c = await Wrk.CreateUsersAsync(store + " ", server.BaseUri, lua, Token, users, connections, firstRate: 500, CountUsers);
        row($"{store}: POST /Users, 1 instance (to {await CountUsers():N0} users, {c.Rounds} wrk rounds)", c.Requests, $"{connections} conns", c.Rate, c.P50, c.P99, c.Errors);
        var createLoad = load.Describe();
        // CPU per create, which the VM's speed moves less than the rate: the server's, and the other processes'
        // (PostgreSQL's backends on PostgreSQL; SQLite runs inside the server).
        if (load.Measure() is { } cpu)
            createLoad += string.Create(CultureInfo.InvariantCulture,
                $"; CPU per create: server {cpu.MicrosPer(cpu.Server, c.Requests):F0} µs, other processes {cpu.MicrosPer(cpu.Other, c.Requests):F0} µs, wrk {cpu.MicrosPer(cpu.Wrk, c.Requests):F0} µs");

        // Ids and userNames by cursor, for the read paths.
        var ids = new List<string>();
        var names = new List<string>();
        for (string? next = ""; next is not null;)
        {
            var page = JsonNode.Parse(await http.GetStringAsync($"Users?count=1000&cursor={next}&attributes=userName"))!;
            foreach (var r in page["Resources"]!.AsArray()) { ids.Add(r!["id"]!.GetValue<string>()); names.Add(r["userName"]!.GetValue<string>()); }
            next = page["nextCursor"]?.GetValue<string>();
        }
        var prefix = store.ToLowerInvariant();
        var getPaths = Path.Combine(work, prefix + "-get-paths.txt");
        await File.WriteAllLinesAsync(getPaths, ids.Select(id => "/scim/v2/Users/" + id));
        var filterPaths = Path.Combine(work, prefix + "-filter-paths.txt");
        await File.WriteAllLinesAsync(filterPaths, names.Select(n => "/scim/v2/Users?filter=" + Uri.EscapeDataString($"userName eq \"{n.ToUpperInvariant()}\"")));
        var readLoad = new LoadSample(server.Pid);
        var rates = new List<(double Rate, double P99)>();
        foreach (var (label, paths) in new[] { ("GET /Users/{id}", getPaths), ("GET /Users?filter=userName eq \"…\"", filterPaths) })
        {
            var one = await Wrk.RunAsync(label, server.BaseUri, Path.Combine(lua, "paths.lua"), [Token, paths], connections, TimeSpan.FromSeconds(seconds));
            var rate = (one.Requests - one.Errors) / one.Seconds;
            row($"{store}: {label}, 1 instance", one.Requests, $"{connections} conns", rate, one.P50, one.P99, one.Errors);
            rates.Add((rate, one.P99));
        }
        return new Single(c.Rate, rates[0].Rate, rates[1].Rate, rates[1].P99, createLoad, readLoad.Describe(), getPaths, filterPaths);
    }

    private sealed record Sum(long Requests, long Ok, long Errors, double Seconds, double P50, double P99);

    /// <summary>One wrk per instance, at the same time; requests and rates added, the longer run's time.</summary>
    private static async Task<Sum> Both(ServerProcess a, ServerProcess b, Func<ServerProcess, int, Task<Wrk.Result>> run)
    {
        var r = await Task.WhenAll(run(a, 0), run(b, 1));
        var ok = r.Sum(x => x.Requests - x.Errors);
        return new Sum(r.Sum(x => x.Requests), ok, r.Sum(x => x.Errors), r.Max(x => x.Seconds), r.Average(x => x.P50), r.Max(x => x.P99));
    }

    /// <summary>The URL without its password (there is none for the throwaway cluster, but one given may have one).</summary>
    private static string Describe(string url)
    {
        var u = new Uri(url);
        var user = u.UserInfo.Split(':')[0];
        return $"postgres://{(user.Length > 0 ? user + "@" : "")}{u.Host}:{u.Port}{u.PathAndQuery}";
    }

    /// <summary>The newest PostgreSQL major version installed: the one .ci/postgres runs.</summary>
    private static string ServerVersion() =>
        Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql").Select(Path.GetFileName).OrderBy(v => v).LastOrDefault() ?? "?" : "?";

    private static string Uptime()
    {
        var psi = new ProcessStartInfo("uptime") { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return text;
    }

    internal static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    internal static async Task Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {output}");
    }
}
