using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue-4 measurements with real processes: an HR source (`scimsync serve`) holding `users` users and
/// `groups` groups, an empty target, and `scimsync sync` in between. Initial load, reconciliation,
/// incremental latency at a steady change rate, a deactivation behind a backlog of routine changes, and
/// the share of a rate-limited target's cap that an initial load uses. Engine memory is the peak RSS of
/// the engine process, sampled every 100 ms from /proc.
/// </summary>
internal static class SyncBench
{
    private const string Token = "bench-token";

    public static async Task<string> RunAsync(string cli, string work, int users, int groups, int changeRate, int changeSeconds, int backlog, int cappedUsers, IReadOnlySet<string> phases, bool targetBulk = true)
    {
        var md = new StringBuilder();
        await using var source = await ServerProcess.StartAsync(cli, Path.Combine(work, "hr"), Token);
        await using var target = await ServerProcess.StartAsync(cli, Path.Combine(work, "app"), Token);
        await using var capped = await ServerProcess.StartAsync(cli, Path.Combine(work, "capped"), Token, ["--max-results", "100", "--rate-limit", "500"]);
        using var http = Client(source.BaseUri);
        using var targetHttp = Client(target.BaseUri);

        var sw = Stopwatch.StartNew();
        await SeedAsync(http, users, groups);
        Console.WriteLine($"seeded {users:N0} users and {groups:N0} groups in {sw.Elapsed.TotalSeconds:F0} s");

        var config = Path.Combine(work, "sync.yaml");
        await File.WriteAllTextAsync(config, $$"""
            state: ./state
            source: { type: scim, url: "{{source.BaseUri}}scim/v2", auth: { type: bearer, token: {{Token}} }, pollInterval: 200ms }
            targets:
              - name: app
                url: {{target.BaseUri}}scim/v2
                auth: { type: bearer, token: {{Token}} }
                limits: { concurrency: 16 }
                groups: { all: true, batchSize: 1000 }
                dialect: { disableBulk: {{(targetBulk ? "false" : "true")}} }
            """);

        // 1. Initial load into an empty target.
        var (sourceCpu, targetCpu) = (source.Cpu, target.Cpu);
        var machine = MachineCpu.Read();
        var (load, loadRss, loadEngineCpu, loadOut) = await RunEngineWithCpuAsync(cli, work, ["sync", "run", "--config", config, "--json"], Traced("load"));
        (sourceCpu, targetCpu) = (source.Cpu - sourceCpu, target.Cpu - targetCpu);
        var loadSteal = MachineCpu.Read().StealSecondsSince(machine);
        var targetUsers = await CountAsync(targetHttp, "Users");
        var targetGroups = await CountAsync(targetHttp, "Groups");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Initial load of {users:N0} users and {groups:N0} groups (each with {users / Math.Max(1, groups)} members) into an empty `scimsync serve`: **{load.TotalSeconds:F1} s** end to end (source read, target read, plan, {Ops(loadOut)} operations at concurrency 16, {(targetBulk ? "creates through /Bulk" : "Bulk off: one request each")}); the target then held {targetUsers:N0} users and {targetGroups:N0} groups. Engine peak RSS {loadRss / 1024 / 1024:N0} MB. CPU used meanwhile (2 cores = {2 * load.TotalSeconds:F0} s available): engine {loadEngineCpu.TotalSeconds:F0} s, target server {targetCpu.TotalSeconds:F0} s, source server {sourceCpu.TotalSeconds:F0} s; steal (CPU the VM was due and did not get) {loadSteal:F1} s.");

        // 2. Reconciliation of the loaded target (report only: read, compare with the shadow and the source).
        if (phases.Contains("reconcile"))
        {
            (sourceCpu, targetCpu) = (source.Cpu, target.Cpu);
            var (rec, recRss, recEngineCpu, _) = await RunEngineWithCpuAsync(cli, work, ["sync", "reconcile", "--config", config, "--report-only", "--json"], Traced("reconcile"));
            (sourceCpu, targetCpu) = (source.Cpu - sourceCpu, target.Cpu - targetCpu);
            md.AppendLine(CultureInfo.InvariantCulture, $"- Reconciliation of the {targetUsers:N0}-account target (read source and target, drift against the shadow, plan): **{rec.TotalSeconds:F1} s**, engine peak RSS **{recRss / 1024 / 1024:N0} MB**. CPU used meanwhile: engine {recEngineCpu.TotalSeconds:F0} s, target server {targetCpu.TotalSeconds:F0} s, source server {sourceCpu.TotalSeconds:F0} s.");
        }
        if (!phases.Contains("incremental") && !phases.Contains("backlog") && !phases.Contains("capped")) return md.ToString();

        // 3. Incremental: steady changes while the engine watches the source's feed.
        var ids = await IdsAsync(http, Math.Min(users, Math.Max(20_000, backlog + 1)));
        var output = new StringBuilder();
        Process? engine = null;
        try
        {
            if (phases.Contains("incremental"))
            {
                engine = Start(cli, work, ["sync", "run", "--config", config, "--watch"], output);
                await WaitForAsync(output, "Watching", TimeSpan.FromMinutes(5));
                var stamps = await SteadyChangesAsync(http, ids.Take(20_000).ToList(), changeRate, changeSeconds);
                await Task.Delay(3000);
                var latencies = await LatenciesAsync(targetHttp, stamps);
                md.AppendLine(CultureInfo.InvariantCulture, $"- Incremental: {stamps.Count:N0} PATCHes at {changeRate}/s for {changeSeconds} s at the source; source-write to target-write latency (target `meta.lastModified` minus the source write's send time, same clock) p50 **{P(latencies, 50):F0} ms**, p99 **{P(latencies, 99):F0} ms**, max {latencies.DefaultIfEmpty().Max():F0} ms; {latencies.Count:N0} of {stamps.Count:N0} arrived.");
                engine.Kill(true);
                await engine.WaitForExitAsync();
            }

            // 4. A deactivation behind a backlog. The engine is stopped while `backlog` routine changes to as
            // many different accounts are written (so none coalesce), then resumed with `sync watch`, which
            // follows its feed from where it stopped without a full comparison: every routine change is
            // pending when the deactivation is written. How many were still not on the target when it arrived
            // is counted there (at least that many were pending when it was sent).
            if (phases.Contains("backlog"))
            {
                var victim = ids[backlog];
                var queuedAt = Stopwatch.StartNew();
                await BacklogAsync(http, ids, backlog);
                var backlogSeconds = queuedAt.Elapsed.TotalSeconds;
                lock (output) output.Clear();
                engine = Start(cli, work, ["sync", "watch", "--config", config], output);
                await WaitForAsync(output, "Watching", TimeSpan.FromMinutes(5));
                var sent = DateTimeOffset.UtcNow;
                await SendAsync(http, HttpMethod.Patch, $"Users/{victim}", Patch(new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false }));
                double? arrived = null;
                var until = DateTime.UtcNow.AddSeconds(300);
                while (DateTime.UtcNow < until)
                {
                    var found = await FindByExternalIdAsync(targetHttp, victim);
                    if (found?["active"]?.GetValue<bool>() == false) { arrived = (DateTimeOffset.UtcNow - sent).TotalMilliseconds; break; }
                    await Task.Delay(10);
                }
                var appliedAtArrival = await CountAsync(targetHttp, "Users", "title sw \"routine \"");
                var applied = appliedAtArrival;
                while (DateTime.UtcNow < until && applied < backlog)
                {
                    await Task.Delay(250);
                    applied = await CountAsync(targetHttp, "Users", "title sw \"routine \"");
                }
                var drained = (DateTimeOffset.UtcNow - sent).TotalSeconds;
                md.AppendLine(CultureInfo.InvariantCulture, $"- Deactivation behind a backlog: with the engine stopped, {backlog:N0} routine PATCHes to {backlog:N0} different accounts were written at the source ({backlogSeconds:F1} s, Bulk); the engine was resumed (`sync watch`: no full comparison, its feed subscription still held every change) and one `active=false` was written as soon as it watched. It reached the target **{(arrived is { } a ? $"{a:F0} ms" : "never (300 s)")}** after it was sent, when {backlog - appliedAtArrival:N0} routine changes were still not there; {applied:N0} of {backlog:N0} had arrived {drained:F1} s after the deactivation was sent ({(applied >= backlog ? "backlog drained" : "not drained")}).");
            }
        }
        finally
        {
            engine?.Kill(true);
        }

        // 5. A target capped at 100 per page and 500 requests/s: how much of the cap does an initial load use? One
        // request per create (Bulk off), so that operations per second are requests per second and comparable with the cap.
        if (!phases.Contains("capped")) return md.ToString();
        var cappedConfig = Path.Combine(work, "capped.yaml");
        await File.WriteAllTextAsync(cappedConfig, $$"""
            state: ./capped-state
            source: { type: scim, url: "{{source.BaseUri}}scim/v2", auth: { type: bearer, token: {{Token}} } }
            targets:
              - name: capped
                url: {{capped.BaseUri}}scim/v2
                auth: { type: bearer, token: {{Token}} }
                limits: { maxPageSize: 100, maxRequestsPerSecond: 500, concurrency: 16 }
                scope: { filter: 'userName lt "user{{cappedUsers:D6}}"' }
                dialect: { disableBulk: true }
            """);
        var (_, _, cappedOut) = await RunEngineAsync(cli, work, ["sync", "run", "--config", cappedConfig, "--json"]);
        var exec = JsonNode.Parse(cappedOut[cappedOut.IndexOf('{')..])!["targets"]![0]!["executed"]!;
        var done = exec["succeeded"]!.GetValue<int>();
        var secs = exec["seconds"]!.GetValue<double>();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Capped target (`--max-results 100 --rate-limit 500`, engine `maxRequestsPerSecond: 500`, Bulk off: one request per create): {done:N0} creates in {secs:F1} s = **{done / secs:F0} requests/s, {done / secs / 5:F0} % of the cap**; 429s answered: {exec["failed"]} failed operations.");
        return md.ToString();
    }

    internal static string Ops(string json)
    {
        try
        {
            return JsonNode.Parse(json[json.IndexOf('{')..])!["targets"]![0]!["executed"]!["succeeded"]!.GetValue<int>().ToString("N0", CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is ArgumentException or NullReferenceException or System.Text.Json.JsonException)
        {
            return "?";
        }
    }

    internal static HttpClient Client(Uri server, string token = Token)
    {
        var c = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { BaseAddress = new Uri(server, "scim/v2/"), Timeout = TimeSpan.FromMinutes(10) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    internal static async Task<JsonObject> SendAsync(HttpClient http, HttpMethod method, string path, JsonObject? body)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/scim+json");
        using var resp = await http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)resp.StatusCode} {text[..Math.Min(300, text.Length)]}");
        return text.Length == 0 ? [] : JsonNode.Parse(text)!.AsObject();
    }

    internal static JsonObject Patch(params JsonObject[] ops) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
        ["Operations"] = new JsonArray(ops.Select(o => (JsonNode)o).ToArray()),
    };

    internal static async Task SeedAsync(HttpClient http, int users, int groups)
    {
        var ids = new string[users];
        await Parallel.ForEachAsync(Enumerable.Range(0, (users + 999) / 1000), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (chunk, _) =>
        {
            var ops = new JsonArray();
            for (var i = chunk * 1000; i < Math.Min(users, chunk * 1000 + 1000); i++)
                ops.Add(new JsonObject
                {
                    ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i,
                    ["data"] = new JsonObject
                    {
                        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                        ["userName"] = $"user{i:D6}", ["userType"] = "Employee", ["active"] = true, ["title"] = "Staff",
                        ["name"] = new JsonObject { ["givenName"] = "Given" + i, ["familyName"] = "Family" + i },
                        ["emails"] = new JsonArray(new JsonObject { ["value"] = $"user{i:D6}@example.com", ["type"] = "work", ["primary"] = true }),
                        ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = new JsonObject { ["department"] = "Dept" + (i % 50), ["employeeNumber"] = i.ToString(CultureInfo.InvariantCulture) },
                    },
                });
            var resp = await SendAsync(http, HttpMethod.Post, "Bulk", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = ops });
            var k = chunk * 1000;
            foreach (var r in resp["Operations"]!.AsArray())
                ids[k++] = r!["location"]!.GetValue<string>().Split('/')[^1];
        });
        var per = users / Math.Max(1, groups);
        await Parallel.ForEachAsync(Enumerable.Range(0, groups), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (g, _) =>
            await SendAsync(http, HttpMethod.Post, "Groups", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                ["displayName"] = $"group{g:D4}",
                ["members"] = new JsonArray(Enumerable.Range(g * per, per).Where(i => i < users).Select(i => (JsonNode)new JsonObject { ["value"] = ids[i] }).ToArray()),
            }));
    }

    private static async Task<int> CountAsync(HttpClient http, string endpoint, string? filter = null) =>
        (await SendAsync(http, HttpMethod.Get, endpoint + "?count=0" + (filter is null ? "" : "&filter=" + Uri.EscapeDataString(filter)), null))["totalResults"]!.GetValue<int>();

    internal static async Task WaitForAsync(StringBuilder output, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Contains(output, text))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the engine did not print \"{text}\" within {timeout}: {output}");
            await Task.Delay(100);
        }
    }

    internal static async Task<List<string>> IdsAsync(HttpClient http, int max)
    {
        var ids = new List<string>();
        for (var start = 1; ids.Count < max; start += 1000)
        {
            var page = await SendAsync(http, HttpMethod.Get, $"Users?attributes=id&count=1000&startIndex={start}", null);
            var resources = page["Resources"]?.AsArray() ?? [];
            if (resources.Count == 0) break;
            ids.AddRange(resources.Select(r => r!["id"]!.GetValue<string>()));
        }
        return ids.Take(max).ToList();
    }

    /// <summary>PATCHes title to "t:&lt;send time in ms&gt;" at a steady rate (paced, not saturated); returns what was sent.</summary>
    private static async Task<Dictionary<string, long>> SteadyChangesAsync(HttpClient http, List<string> ids, int rate, int seconds)
    {
        var sent = new Dictionary<string, long>();
        var total = rate * seconds;
        var clock = Stopwatch.StartNew();
        var inflight = new List<Task>();
        for (var i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
            var id = ids[(i * 7919) % ids.Count];
            var ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            sent[id] = ms;
            inflight.Add(SendAsync(http, HttpMethod.Patch, $"Users/{id}", Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "t:" + ms })));
            if (inflight.Count > 64) { await Task.WhenAll(inflight); inflight.Clear(); }
        }
        await Task.WhenAll(inflight);
        return sent;
    }

    private static async Task<List<double>> LatenciesAsync(HttpClient target, Dictionary<string, long> stamps)
    {
        var result = new List<double>();
        for (var start = 1; ; start += 1000)
        {
            var page = await SendAsync(target, HttpMethod.Get, $"Users?filter={Uri.EscapeDataString("title sw \"t:\"")}&attributes=title,externalId,meta&count=1000&startIndex={start}", null);
            var resources = page["Resources"]?.AsArray() ?? [];
            foreach (var r in resources)
            {
                var title = r!["title"]!.GetValue<string>();
                var ms = long.Parse(title[2..], CultureInfo.InvariantCulture);
                // Only the last change of each account counts: earlier ones were (rightly) coalesced.
                if (!stamps.TryGetValue(r["externalId"]!.GetValue<string>(), out var last) || last != ms) continue;
                var applied = DateTimeOffset.Parse(r["meta"]!["lastModified"]!.GetValue<string>(), CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
                result.Add(applied - ms);
            }
            if (resources.Count < 1000) break;
        }
        result.Sort();
        return result;
    }

    private static async Task BacklogAsync(HttpClient http, List<string> ids, int count)
    {
        for (var done = 0; done < count; done += 1000)
        {
            var ops = new JsonArray();
            for (var i = done; i < Math.Min(count, done + 1000); i++)
                ops.Add(new JsonObject
                {
                    ["method"] = "PATCH", ["path"] = "/Users/" + ids[i],
                    ["data"] = Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "routine " + i }),
                });
            await SendAsync(http, HttpMethod.Post, "Bulk", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = ops });
        }
    }

    private static async Task<JsonObject?> FindByExternalIdAsync(HttpClient http, string externalId, string attributes = "active")
    {
        var page = await SendAsync(http, HttpMethod.Get, $"Users?filter={Uri.EscapeDataString($"externalId eq \"{externalId}\"")}&attributes={attributes}", null);
        return page["Resources"]?.AsArray().FirstOrDefault() as JsonObject;
    }

    private static double P(List<double> sorted, int percentile) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1)];

    internal static bool Contains(StringBuilder sb, string text)
    {
        lock (sb) return sb.ToString().Contains(text, StringComparison.Ordinal);
    }

    /// <summary>Starts the engine; its stdout and stderr go to <paramref name="output"/>; <paramref name="environment"/> is added to its environment.</summary>
    internal static Process Start(string cli, string work, string[] args, StringBuilder output, IReadOnlyDictionary<string, string>? environment = null) =>
        Start(cli, work, args, output, environment, stdoutLines: true);

    /// <param name="stdoutLines">
    /// Standard output line by line into <paramref name="output"/>, for callers that watch it while the engine runs;
    /// otherwise the caller reads <c>StandardOutput</c> itself.
    /// </param>
    private static Process Start(string cli, string work, string[] args, StringBuilder output, IReadOnlyDictionary<string, string>? environment, bool stdoutLines)
    {
        var psi = new ProcessStartInfo("dotnet", [cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
        psi.Environment["NO_COLOR"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        var p = Process.Start(psi)!;
        if (stdoutLines)
        {
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            p.BeginOutputReadLine();
        }
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) output.AppendLine(e.Data); Console.Error.WriteLine("[engine] " + e.Data); } };
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Runs the engine to completion; returns the elapsed time, its peak RSS in bytes, and its output.</summary>
    /// <summary>
    /// With SCIMSYNC_BENCH_TRACE=DIR, the engine of the load and of the reconciliation records a CPU-sample trace
    /// (EventPipe, DIR/PHASE.nettrace; read it with `dotnet-trace report FILE topN`). Tracing costs time: figures of a
    /// traced run are not the benchmark's.
    /// </summary>
    private static Dictionary<string, string>? Traced(string phase) =>
        Environment.GetEnvironmentVariable("SCIMSYNC_BENCH_TRACE") is { Length: > 0 } dir
            ? new()
            {
                ["DOTNET_EnableEventPipe"] = "1",
                ["DOTNET_EventPipeOutputPath"] = Path.Combine(dir, phase + ".nettrace"),
                ["DOTNET_EventPipeConfig"] = "Microsoft-DotNETCore-SampleProfiler:0:5,Microsoft-Windows-DotNETRuntime:0x4c14fccbd:5",
            }
            : null;

    internal static async Task<(TimeSpan Elapsed, long PeakRss, string Output)> RunEngineAsync(string cli, string work, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (elapsed, peak, _, text) = await RunEngineWithCpuAsync(cli, work, args, environment);
        return (elapsed, peak, text);
    }

    /// <summary>As <see cref="RunEngineAsync"/>, also returning the engine's CPU time (last sample from /proc before it exited).</summary>
    internal static async Task<(TimeSpan Elapsed, long PeakRss, TimeSpan Cpu, string Output)> RunEngineWithCpuAsync(string cli, string work, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var output = new StringBuilder();
        var sw = Stopwatch.StartNew();
        using var p = Start(cli, work, args, output, environment, stdoutLines: false);
        // Copied as bytes, not split into lines as it comes: a plan of 100,000 creates printed with --json is over
        // 100 MB, and a benchmark process decoding it line by line competes for the two cores with what it measures
        // (and slows the engine, which waits on the pipe).
        var stdout = new MemoryStream();
        var copying = p.StandardOutput.BaseStream.CopyToAsync(stdout);
        long peak = 0;
        var cpu = TimeSpan.Zero;
        while (!p.HasExited)
        {
            try
            {
                foreach (var line in await File.ReadAllLinesAsync($"/proc/{p.Id}/status"))
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                        peak = Math.Max(peak, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024);
                // utime and stime, in clock ticks of 1/100 s, after the parenthesised command name.
                var stat = (await File.ReadAllTextAsync($"/proc/{p.Id}/stat")).Split(')')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                cpu = TimeSpan.FromSeconds((long.Parse(stat[11], CultureInfo.InvariantCulture) + long.Parse(stat[12], CultureInfo.InvariantCulture)) / 100.0);
            }
            catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException) { }
            await Task.Delay(100);
        }
        await p.WaitForExitAsync();
        var elapsed = sw.Elapsed;
        await copying;
        string text;
        lock (output) text = output + Encoding.UTF8.GetString(stdout.GetBuffer(), 0, (int)stdout.Length); // the log lines, then what was printed
        if (p.ExitCode != 0) throw new InvalidOperationException($"scimsync {string.Join(' ', args)} exited {p.ExitCode}: {text[..Math.Min(2000, text.Length)]}");
        return (elapsed, peak, cpu, text);
    }
}
