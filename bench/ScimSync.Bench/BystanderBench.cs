using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue 11: expensive queries must not starve cheap ones. Loads the server with users, then one client
/// reads users by id, one request at a time, first alone and then while <c>heavy</c> other clients each
/// send a <c>co</c> filter on an unindexed attribute (a full scan matching nothing) in a loop.
/// </summary>
internal static class BystanderBench
{
    public static async Task<string> RunAsync(string cli, string work, string lua, int users, int heavy, int seconds, int connections)
    {
        const string token = "bench-token";
        await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "bystander-data"), token);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = heavy + 2 })
        {
            BaseAddress = new Uri(server.BaseUri, "scim/v2/"),
            Timeout = TimeSpan.FromMinutes(5),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        async Task<int> Count()
        {
            using var resp = await http.GetAsync("Users?count=0");
            return JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!["totalResults"]!.GetValue<int>();
        }
        var load = Stopwatch.StartNew();
        for (var (have, round) = (0, 1); have < users; have = await Count(), round++)
            await Wrk.RunAsync("create", server.BaseUri, Path.Combine(lua, "create.lua"), [token, round.ToString(CultureInfo.InvariantCulture)],
                connections, TimeSpan.FromSeconds(Math.Clamp((users - have) / 2500 + 1, 2, 120)));
        var total = await Count();
        Console.WriteLine($"loaded {total} users in {load.Elapsed.TotalSeconds:F0} s");

        var ids = new List<string>();
        for (string? cursor = ""; cursor is not null && ids.Count < 5000;)
        {
            using var resp = await http.GetAsync($"Users?count=1000&cursor={cursor}&attributes=id");
            var page = JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!;
            ids.AddRange(page["Resources"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
            cursor = page["nextCursor"]?.GetValue<string>();
        }

        var md = new StringBuilder();
        md.AppendLine("| phase | bystander GETs | p50 ms | p99 ms | max ms | heavy queries answered (200 / 503 / 400 tooMany / other) | heavy p50 ms |");
        md.AppendLine("|---|---:|---:|---:|---:|---|---:|");
        foreach (var withHeavy in new[] { false, true })
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            var sample = new LoadSample(server.Pid);
            var heavyLatencies = new ConcurrentBag<double>();
            var statuses = new ConcurrentDictionary<string, int>();
            var heavyTasks = Enumerable.Range(0, withHeavy ? heavy : 0).Select(k => Task.Run(async () =>
            {
                var n = 0;
                while (!stop.IsCancellationRequested)
                {
                    var filter = Uri.EscapeDataString($"name.formatted co \"no such name {k}-{n++}\"");
                    var t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        using var resp = await http.GetAsync($"Users?filter={filter}&count=10", stop.Token);
                        await resp.Content.ReadAsByteArrayAsync(stop.Token);
                        var key = resp.StatusCode switch
                        {
                            HttpStatusCode.OK => "200",
                            HttpStatusCode.ServiceUnavailable => "503",
                            HttpStatusCode.BadRequest => "400",
                            _ => "other",
                        };
                        statuses.AddOrUpdate(key, 1, (_, v) => v + 1);
                        if (resp.StatusCode == HttpStatusCode.OK) heavyLatencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                        // A 503 says when to come back; a client that honours it does not spin.
                        if (resp.StatusCode == HttpStatusCode.ServiceUnavailable && resp.Headers.RetryAfter?.Delta is { } wait)
                            await Task.Delay(wait, stop.Token);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                    }
                }
            })).ToArray();

            var latencies = new List<double>();
            var rnd = new Random(11);
            var errors = 0;
            while (!stop.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                using var resp = await http.GetAsync($"Users/{ids[rnd.Next(ids.Count)]}");
                await resp.Content.ReadAsByteArrayAsync();
                latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                if (!resp.IsSuccessStatusCode) errors++;
            }
            await Task.WhenAll(heavyTasks);
            latencies.Sort();
            var heavySorted = heavyLatencies.Order().ToArray();
            double P(List<double> l, double q) => l.Count == 0 ? double.NaN : l[Math.Min(l.Count - 1, (int)(l.Count * q))];
            var answered = withHeavy
                ? $"{statuses.GetValueOrDefault("200")} / {statuses.GetValueOrDefault("503")} / {statuses.GetValueOrDefault("400")} / {statuses.GetValueOrDefault("other")}"
                : "-";
            var heavyP50 = heavySorted.Length == 0 ? "-" : heavySorted[heavySorted.Length / 2].ToString("F0", CultureInfo.InvariantCulture);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {(withHeavy ? $"with {heavy} clients looping on a `co` filter" : "alone")} | {latencies.Count:N0}{(errors > 0 ? $" ({errors} errors)" : "")} | {P(latencies, 0.5):F2} | {P(latencies, 0.99):F2} | {latencies[^1]:F2} | {answered} | {heavyP50} |");
            md.AppendLine(CultureInfo.InvariantCulture, $"|  | {sample.Describe()} | | | | | |");
            Console.WriteLine($"{(withHeavy ? "heavy" : "alone")}: p99 {P(latencies, 0.99):F2} ms over {latencies.Count}, heavy {answered}");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{total:N0} users; each phase {seconds} s; the bystander is one .NET HttpClient reading random users by id one request at a time; heavy filter `name.formatted co \"no such name …\"` (no index, matches nothing, so every user's document is read).");
        return md.ToString();
    }
}
