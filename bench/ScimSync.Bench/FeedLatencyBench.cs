using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue-3 latency: writes at a fixed rate (not saturation) with three push subscriptions (full, notice, and
/// notice filtered to userName sw "a"); the receivers note when each SET arrives, and a write's latency is
/// from its HTTP response to the arrival of the SET for the same resource and version.
/// </summary>
internal static class FeedLatencyBench
{
    private sealed record Write(string Id, string Version, bool InFilter, long RespondedAt);

    public static async Task<string> RunAsync(string cli, string work, int rate, int seconds, int users)
    {
        const string token = "bench-token";
        await using var receivers = await SetReceivers.StartAsync();
        await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "latency-data"), token, ["--push-allow", "http://127.0.0.1:*"]);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        // Existing users to PATCH: half of them inside the filtered subscription.
        var existing = new string[users];
        var names = new string[users];
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            names[i] = (i % 2 == 0 ? "a" : "b") + "-seed-" + i.ToString(CultureInfo.InvariantCulture);
            existing[i] = (await Api.SendAsync(http, HttpMethod.Post, "scim/v2/Users", Api.User(names[i])))["id"]!.GetValue<string>();
        });
        var subs = new (string Name, JsonObject Config)[]
        {
            ("full", new JsonObject { ["payload"] = "full" }),
            ("notice", new JsonObject { ["payload"] = "notice" }),
            ("filtered", new JsonObject { ["payload"] = "notice", ["filter"] = "userName sw \"a\"" }),
        };
        foreach (var (name, config) in subs)
        {
            config["name"] = name;
            config["audience"] = "bench";
            config["delivery"] = "push";
            config["pushUrl"] = receivers.Url(name);
            config["resourceTypes"] = new JsonArray("User");
            await Api.SendAsync(http, HttpMethod.Post, "feeds/v1/subscriptions", config);
            receivers[name].Arrivals = new ConcurrentDictionary<(string, string), long>();
        }

        // The writer: request i is due at start + i / rate; a late one goes at once, so the average rate holds.
        var writes = new ConcurrentBag<Write>();
        var writeLatency = new ConcurrentBag<double>();
        var errors = 0;
        var random = new Random(42);
        var total = rate * seconds;
        var outstanding = new SemaphoreSlim(256);
        var tasks = new List<Task>(total);
        var created = 0;
        var load = new LoadSample(server.Pid);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            var due = start + (long)(i * (double)Stopwatch.Frequency / rate);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
            await outstanding.WaitAsync();
            // 30 % creates, 70 % PATCHes of an existing user's title; userNames start with "a" or "b" evenly.
            HttpRequestMessage request;
            bool inFilter;
            if (random.NextDouble() < 0.3)
            {
                var n = Interlocked.Increment(ref created);
                inFilter = n % 2 == 0;
                var user = Api.User((inFilter ? "a" : "b") + "-new-" + n.ToString(CultureInfo.InvariantCulture), "t0");
                request = new HttpRequestMessage(HttpMethod.Post, "scim/v2/Users") { Content = Json(user) };
            }
            else
            {
                var k = random.Next(users);
                inFilter = names[k][0] == 'a';
                request = new HttpRequestMessage(HttpMethod.Patch, $"scim/v2/Users/{existing[k]}") { Content = Json(Api.Patch("title", "t" + i.ToString(CultureInfo.InvariantCulture))) };
            }
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    var sent = Stopwatch.GetTimestamp();
                    using var resp = await http.SendAsync(request);
                    var at = Stopwatch.GetTimestamp();
                    request.Dispose();
                    if (!resp.IsSuccessStatusCode) { Interlocked.Increment(ref errors); return; }
                    var body = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
                    writes.Add(new Write(body["id"]!.GetValue<string>(), body["meta"]!["version"]!.GetValue<string>(), inFilter, at));
                    writeLatency.Add(Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    outstanding.Release();
                }
            }));
        }
        await Task.WhenAll(tasks);
        var writeTime = Stopwatch.GetElapsedTime(start);
        var writeLoad = load.Describe();

        // Wait for the SETs still on their way (bounded), then match.
        var all = writes.ToArray();
        int Expected(string name) => name == "filtered" ? all.Count(w => w.InFilter) : all.Length;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (subs.Any(s => receivers[s.Name].Arrivals!.Count < Expected(s.Name)) && DateTime.UtcNow < deadline) await Task.Delay(100);

        var md = new StringBuilder();
        var w = writeLatency.Order().ToArray();
        md.AppendLine(CultureInfo.InvariantCulture, $"Writes: {all.Length:N0} in {writeTime.TotalSeconds:F1} s ({all.Length / writeTime.TotalSeconds:F0}/s; 30 % user creates, 70 % PATCHes of one of {users:N0} users), {errors} errors; write response time p50 {Pct(w, 0.5):F1} ms, p99 {Pct(w, 0.99):F1} ms. {writeLoad}.");
        md.AppendLine();
        md.AppendLine("| subscription | SETs expected | received | p50 ms | p95 ms | p99 ms | max ms | arrived before the write's response |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, _) in subs)
        {
            var arrivals = receivers[name].Arrivals!;
            var expected = all.Where(x => name != "filtered" || x.InFilter).ToArray();
            var latencies = new List<double>();
            var early = 0;
            foreach (var x in expected)
            {
                if (!arrivals.TryGetValue((x.Id, x.Version), out var at)) continue;
                var ms = (at - x.RespondedAt) * 1000.0 / Stopwatch.Frequency;
                // The SET can beat the HTTP response to the writer (fan-out runs on commit): that counts as 0.
                if (ms < 0) { early++; ms = 0; }
                latencies.Add(ms);
            }
            var l = latencies.Order().ToArray();
            var label = name switch { "full" => "full", "notice" => "notice", _ => "notice, filter userName sw \"a\"" };
            md.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {expected.Length:N0} | {l.Length:N0} | {Pct(l, 0.5):F1} | {Pct(l, 0.95):F1} | {Pct(l, 0.99):F1} | {(l.Length == 0 ? double.NaN : l[^1]):F1} | {early:N0} |");
        }
        return md.ToString();
    }

    private static StringContent Json(JsonObject o) => new(o.ToJsonString(), Encoding.UTF8, "application/scim+json");

    private static double Pct(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
