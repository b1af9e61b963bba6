using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Bench;

/// <summary>
/// Issue 12: what logging and telemetry cost GET by id and create. A round starts one server per configuration
/// (a build and how it is started), each on a fresh data directory loaded by the usual wrk loader (create.lua
/// rounds until the store holds <c>users</c>) and warmed up with 3 s of GETs; the servers then stay up side by
/// side, and the measurements alternate between them: GET /Users/{id} on random ids for <c>seconds</c> on each
/// server in turn, <c>passes</c> times (forwards, then backwards, so that every configuration is as often first
/// as last), then POST /Users the same way. Only the measured server is busy; the others idle.
/// The primary figure is the server's CPU time per request (utime + stime from /proc/PID/stat over the wrk run,
/// divided by the requests wrk completed), which on a shared two-core machine moves less with other people's
/// load than throughput does; throughput and p99 are reported beside it. Measurements a few seconds apart are
/// paired (each configuration against <c>before</c> in the same round and pass), so that drift in the machine's
/// load falls on both.
/// </summary>
internal static class OverheadBench
{
    private const string Token = "bench-token";

    /// <summary>A build and how it is started.</summary>
    internal sealed record Config(string Name, string Description, string Cli, string[] Args, Dictionary<string, string> Env, bool Otlp = false);

    private enum Kind { Get, Create, PacedGet, PacedCreate }

    private sealed record Measurement(int Round, int Pass, Config Config, Kind Kind, long Requests, double Rate, double P50, double P99, long Errors,
        double CpuSeconds, long LogLines, LoadSample.Shares? Load)
    {
        public double CpuMicrosPerRequest => Requests == 0 ? double.NaN : CpuSeconds * 1e6 / Requests;
    }

    private sealed record Loaded(Config Config, ServerProcess Server, string DataDir, string Paths, int Users, double LoadSeconds, string LoadAvgAtStart);

    /// <summary>
    /// Known configurations, by name: before, after, off (this build with logging and telemetry off), json, otlp (the first named is the baseline); diagnostics: warning, json-debug, before-nootel,
    /// after-nootel; and NAME=PATH/scimsync.dll for another build with default settings (a variant under test).
    /// </summary>
    public static Config Make(string name, string cliBefore, string cliAfter) => name switch
    {
        "before" => new(name, "the build before (ac22bfa), default settings", cliBefore, [], []),
        "after" => new(name, "this build, default settings (`--log-format simple`, `--log-level information`, /metrics never scraped, no OTLP)", cliAfter, [], []),
        "json" => new(name, "this build, `--log-format json`", cliAfter, ["--log-format", "json"], []),
        "warning" => new(name, "this build, `--log-level warning`", cliAfter, ["--log-level", "warning"], []),
        "json-debug" => new(name, "this build, `--log-format json --log-level debug` (ASP.NET Core's own entries for every request)", cliAfter, ["--log-format", "json", "--log-level", "debug"], []),
        "otlp" => new(name, "this build, OTLP export of traces and metrics (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT`, `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`) to a sink in the bench that answers 200", cliAfter, [], [], Otlp: true),
        // OpenTelemetry's SDK (1.15 and later) builds no-op providers under OTEL_SDK_DISABLED=true.
        "before-nootel" => new(name, "the build before, `OTEL_SDK_DISABLED=true` (no OpenTelemetry providers)", cliBefore, [], new() { ["OTEL_SDK_DISABLED"] = "true" }),
        // The same build with neither: what logging and telemetry cost, apart from everything else that changed since "before".
        "off" => new(name, "this build, `--log-level none` and `OTEL_SDK_DISABLED=true` (no log written or formatted, no OpenTelemetry providers)", cliAfter, ["--log-level", "none"], new() { ["OTEL_SDK_DISABLED"] = "true" }),
        "after-nootel" => new(name, "this build, `OTEL_SDK_DISABLED=true` (no OpenTelemetry providers)", cliAfter, [], new() { ["OTEL_SDK_DISABLED"] = "true" }),
        _ when name.IndexOf('=', StringComparison.Ordinal) is > 0 and var eq && File.Exists(name[(eq + 1)..]) =>
            new(name[..eq], $"`{name[(eq + 1)..]}`, default settings", name[(eq + 1)..], [], []),
        _ => throw new ArgumentException($"unknown configuration {name}: before, after, off, json, otlp, warning, json-debug, before-nootel, after-nootel, or NAME=PATH/scimsync.dll"),
    };

    /// <param name="passes">Measurements of each kind on each server per round.</param>
    /// <param name="getRate">Requests per second of a paced GET measurement after each saturated one (0: none).</param>
    /// <param name="createRate">Requests per second of a paced create measurement after each saturated one (0: none).</param>
    public static async Task<string> RunAsync(IReadOnlyList<Config> configs, string work, string lua, int users, int seconds, int rounds, int passes, int connections,
        int getRate, int createRate, Action<string> progress)
    {
        await using var sink = await OtlpSink.StartAsync();
        var all = new List<Measurement>();
        var loaded = new List<(int Round, Loaded Server, string LoadAvgAtEnd)>();
        var started = DateTime.UtcNow;
        for (var round = 1; round <= rounds; round++)
        {
            var servers = new List<Loaded>();
            try
            {
                foreach (var config in configs)
                {
                    var s = await StartAndLoadAsync(round, config, work, lua, users, connections, sink);
                    servers.Add(s);
                    progress(string.Create(CultureInfo.InvariantCulture, $"round {round} {config.Name}: {s.Users:N0} users loaded in {s.LoadSeconds:F0} s"));
                }
                var kinds = new List<(Kind Kind, int Rate)> { (Kind.Get, 0) };
                if (getRate > 0) kinds.Add((Kind.PacedGet, getRate));
                kinds.Add((Kind.Create, 0));
                if (createRate > 0) kinds.Add((Kind.PacedCreate, createRate));
                foreach (var (kind, rate) in kinds)
                {
                    for (var pass = 1; pass <= passes; pass++)
                    {
                        var order = pass % 2 == 1 ? servers : Enumerable.Reverse(servers).ToList();
                        foreach (var s in order)
                        {
                            var m = await MeasureAsync(round, pass, s, kind, rate, lua, seconds, connections);
                            all.Add(m);
                            progress(string.Create(CultureInfo.InvariantCulture,
                                $"round {round} pass {pass} {s.Config.Name} {kind}: {m.Rate:F0}/s, {m.CpuMicrosPerRequest:F1} CPU-µs/req, p99 {m.P99:F2} ms, {m.Errors} errors, {m.LogLines} log lines; other processes {m.Load?.Other:P0}, load {m.Load?.Load1Start:F2} → {m.Load?.Load1End:F2}"));
                        }
                    }
                }
            }
            finally
            {
                foreach (var s in servers)
                {
                    await s.Server.DisposeAsync();
                    loaded.Add((round, s, LoadAvg()));
                    try
                    {
                        Directory.Delete(s.DataDir, true);
                        File.Delete(s.DataDir + ".key");
                        File.Delete(s.Paths);
                    }
                    catch (IOException) { }
                }
            }
        }
        return Report(all, loaded, configs, users, seconds, rounds, passes, connections, getRate, createRate, started, sink.Received);
    }

    private static async Task<Loaded> StartAndLoadAsync(int round, Config config, string work, string lua, int users, int connections, OtlpSink sink)
    {
        var dataDir = Path.Combine(work, $"overhead-{round}-{config.Name}");
        var env = new Dictionary<string, string>(config.Env);
        if (config.Otlp)
        {
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.Address;
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        }
        var loadAvg = LoadAvg();
        var server = await ServerProcess.StartAsync(config.Cli, dataDir, Token, config.Args, environment: env, echoStderr: false);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(server.BaseUri, "scim/v2/"), Timeout = TimeSpan.FromMinutes(5) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            async Task<int> Count()
            {
                using var resp = await http.GetAsync("Users?count=0");
                resp.EnsureSuccessStatusCode();
                return JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!["totalResults"]!.GetValue<int>();
            }

            // The loader the other modes use: create.lua in wrk rounds until the store holds `users`.
            var t = System.Diagnostics.Stopwatch.StartNew();
            for (var (have, r) = (0, 1); have < users; have = await Count(), r++)
                await Wrk.RunAsync("create", server.BaseUri, Path.Combine(lua, "create.lua"), [Token, r.ToString(CultureInfo.InvariantCulture)],
                    connections, TimeSpan.FromSeconds(Math.Clamp((users - have) / 2500 + 1, 2, 120)));
            var loadSeconds = t.Elapsed.TotalSeconds;
            var total = await Count();

            var ids = new List<string>(total);
            for (string? cursor = ""; cursor is not null;)
            {
                using var resp = await http.GetAsync($"Users?count=1000&cursor={cursor}&attributes=id");
                var page = JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!;
                ids.AddRange(page["Resources"]!.AsArray().Select(x => x!["id"]!.GetValue<string>()));
                cursor = page["nextCursor"]?.GetValue<string>();
            }
            var paths = Path.Combine(work, $"get-paths-{round}-{config.Name}.txt");
            await File.WriteAllLinesAsync(paths, ids.Select(id => "/scim/v2/Users/" + id));

            // The loader ran the create path; GET by id's code has not run yet (tiered JIT).
            await Wrk.RunAsync("warm-up", server.BaseUri, Path.Combine(lua, "paths.lua"), [Token, paths], connections, TimeSpan.FromSeconds(3));
            return new Loaded(config, server, dataDir, paths, total, loadSeconds, loadAvg);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static async Task<Measurement> MeasureAsync(int round, int pass, Loaded s, Kind kind, int rate, string lua, int seconds, int connections)
    {
        var inv = CultureInfo.InvariantCulture;
        var paced = rate > 0 ? new[] { rate.ToString(inv), Wrk.Threads.ToString(inv) } : [];
        // userNames embed the wrk round: 900 and up never meet the loader's rounds.
        string[] args = kind is Kind.Get or Kind.PacedGet
            ? [Token, s.Paths, .. paced]
            : [Token, (kind == Kind.Create ? 900 + pass : 950 + pass).ToString(inv), .. paced];
        var script = Path.Combine(lua, kind is Kind.Get or Kind.PacedGet ? "paths.lua" : "create.lua");
        var sample = new LoadSample(s.Server.Pid);
        var (lines0, _) = s.Server.Stderr;
        var cpu0 = s.Server.Cpu;
        var r = await Wrk.RunAsync(kind.ToString(), s.Server.BaseUri, script, args, connections, TimeSpan.FromSeconds(seconds));
        var cpu = (s.Server.Cpu - cpu0).TotalSeconds;
        var load = sample.Measure();
        // The last entries may still be in the pipe: give the reader a moment before counting.
        await Task.Delay(200);
        var (lines1, _) = s.Server.Stderr;
        return new Measurement(round, pass, s.Config, kind, r.Requests, r.Rate, r.P50, r.P99, r.Errors, cpu, lines1 - lines0, load);
    }

    /// <summary>`uptime`'s three load averages (1, 5, 15 minutes).</summary>
    private static string LoadAvg() => string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static double Quantile(IEnumerable<double> values, double q)
    {
        var v = values.Where(x => !double.IsNaN(x)).Order().ToArray();
        if (v.Length == 0) return double.NaN;
        var pos = q * (v.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = Math.Min(lo + 1, v.Length - 1);
        return v[lo] + (v[hi] - v[lo]) * (pos - lo);
    }

    private static string Pct(double ratio) => (Math.Round(ratio * 100, 1) + 0.0).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);

    private static string Report(List<Measurement> all, List<(int Round, Loaded Server, string LoadAvgAtEnd)> loaded, IReadOnlyList<Config> configs,
        int users, int seconds, int rounds, int passes, int connections, int getRate, int createRate, DateTime started, (long Requests, long Bytes) otlp)
    {
        var inv = CultureInfo.InvariantCulture;
        var kinds = new List<(Kind Kind, string Name)> { (Kind.Get, "GET by id") };
        if (getRate > 0) kinds.Add((Kind.PacedGet, $"GET by id paced at {getRate:N0}/s"));
        kinds.Add((Kind.Create, "create"));
        if (createRate > 0) kinds.Add((Kind.PacedCreate, $"create paced at {createRate:N0}/s"));
        var md = new StringBuilder();
        md.AppendLine(inv, $"Runs of {started:yyyy-MM-dd HH:mm} to {DateTime.UtcNow:HH:mm} UTC: {rounds} rounds; in each, one fresh server per configuration loaded with {users:N0} users, then {passes} passes of GET by id over all servers in turn (forwards, backwards, ...), then {passes} of create; each measurement {seconds} s of wrk ({Wrk.Threads} threads, {connections} connections) on one server while the others idle.");
        md.AppendLine();
        md.AppendLine("| configuration | |");
        md.AppendLine("|---|---|");
        foreach (var c in configs) md.AppendLine(inv, $"| {c.Name} | {c.Description} |");
        md.AppendLine();

        // Per run (one server's life): everything it did, summed over its passes.
        md.AppendLine("Per run (one server, fresh data directory, summed over its passes; CPU-µs/req = the server's user + system CPU time over its wrk runs ÷ the requests wrk completed; req/s and p99: median and worst of its passes; log: lines written to standard error while measured; load: `uptime`'s 1 / 5 / 15-minute averages when the server started and when the round ended):");
        md.AppendLine();
        var header = new StringBuilder("| round | configuration | users |");
        var align = new StringBuilder("|---:|---|---:|");
        foreach (var (_, name) in kinds)
        {
            header.Append(inv, $" {name}: CPU-µs/req | req/s | p99 ms |");
            align.Append("---:|---:|---:|");
        }
        md.AppendLine(header + " log lines | errors | load average start → end |");
        md.AppendLine(align + "---:|---:|---|");
        foreach (var (round, s, end) in loaded)
        {
            var row = new StringBuilder(string.Create(inv, $"| {round} | {s.Config.Name} | {s.Users:N0} |"));
            var mine = all.Where(m => m.Round == round && m.Config == s.Config).ToList();
            foreach (var (kind, _) in kinds)
            {
                var k = mine.Where(m => m.Kind == kind).ToList();
                var requests = k.Sum(m => m.Requests);
                row.Append(inv, $" {(requests == 0 ? double.NaN : k.Sum(m => m.CpuSeconds) * 1e6 / requests):F1} | {Quantile(k.Select(m => m.Rate), 0.5):N0} | {(k.Count == 0 ? double.NaN : k.Max(m => m.P99)):F2} |");
            }
            md.AppendLine(inv, $"{row} {mine.Sum(m => m.LogLines):N0} | {mine.Sum(m => m.Errors)} | {s.LoadAvgAtStart} → {end} |");
        }
        md.AppendLine();

        // The first configuration named is the one the others are compared with.
        var baseline = configs[0];
        md.AppendLine(inv, $"Against `{baseline.Name}`: each measurement divided by `{baseline.Name}`'s in the same round and pass (seconds to a minute apart), {rounds * passes} pairs per configuration and kind; median, with the middle half of the pairs (25th–75th percentile) in brackets:");
        md.AppendLine();
        header = new StringBuilder("| configuration |");
        align = new StringBuilder("|---|");
        foreach (var (_, name) in kinds)
        {
            header.Append(inv, $" {name}: CPU-µs/req | vs {baseline.Name} | req/s | vs {baseline.Name} |");
            align.Append("---:|---:|---:|---:|");
        }
        md.AppendLine(header.ToString());
        md.AppendLine(align.ToString());
        foreach (var c in configs)
        {
            var row = new StringBuilder($"| {c.Name} |");
            foreach (var (kind, _) in kinds)
            {
                var mine = all.Where(m => m.Config == c && m.Kind == kind).ToList();
                string Versus(Func<Measurement, double> f)
                {
                    if (c == baseline) return "";
                    var ratios = mine.Select(m => all.FirstOrDefault(b => b.Config == baseline && b.Kind == kind && b.Round == m.Round && b.Pass == m.Pass) is { } b
                        ? f(m) / f(b) - 1 : double.NaN).ToList();
                    return $"{Pct(Quantile(ratios, 0.5))} % [{Pct(Quantile(ratios, 0.25))} … {Pct(Quantile(ratios, 0.75))}]";
                }
                var requests = mine.Sum(m => m.Requests);
                row.Append(inv, $" {(requests == 0 ? double.NaN : mine.Sum(m => m.CpuSeconds) * 1e6 / requests):F1} | {Versus(m => m.CpuMicrosPerRequest)} | {Quantile(mine.Select(m => m.Rate), 0.5):N0} | {Versus(m => m.Rate)} |");
            }
            md.AppendLine(row.ToString());
        }
        md.AppendLine();
        md.AppendLine("(CPU-µs/req in this table: all the configuration's CPU time over all its requests of that kind; req/s: median of its measurements.)");
        if (configs.Any(c => c.Otlp))
        {
            md.AppendLine();
            md.AppendLine(inv, $"The OTLP sink received {otlp.Requests:N0} export requests, {otlp.Bytes / 1048576.0:F0} MB in all.");
        }

        md.AppendLine();
        md.AppendLine("<details><summary>Every measurement</summary>");
        md.AppendLine();
        md.AppendLine("| round | pass | configuration | kind | requests | req/s | p99 ms | CPU-µs/req | errors | log lines | CPU shares: machine / server / wrk / other | load average (1 min) |");
        md.AppendLine("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var m in all)
            md.AppendLine(inv,
                $"| {m.Round} | {m.Pass} | {m.Config.Name} | {m.Kind} | {m.Requests:N0} | {m.Rate:N0} | {m.P99:F2} | {m.CpuMicrosPerRequest:F1} | {m.Errors} | {m.LogLines:N0} | {m.Load?.Machine:P0} / {m.Load?.Server:P0} / {m.Load?.Wrk:P0} / {m.Load?.Other:P0} | {m.Load?.Load1Start:F2} → {m.Load?.Load1End:F2} |");
        md.AppendLine();
        md.AppendLine("</details>");
        return md.ToString();
    }

    /// <summary>An OTLP/HTTP receiver that reads each export request whole and answers 200 with an empty body (a valid empty response message).</summary>
    private sealed class OtlpSink : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private long _requests;
        private long _bytes;

        private OtlpSink(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";

        public (long Requests, long Bytes) Received => (Interlocked.Read(ref _requests), Interlocked.Read(ref _bytes));

        public static async Task<OtlpSink> StartAsync()
        {
            var b = WebApplication.CreateSlimBuilder();
            b.Logging.ClearProviders();
            b.WebHost.UseUrls("http://127.0.0.1:0");
            b.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024 * 1024);
            var app = b.Build();
            var sink = new OtlpSink(app);
            app.MapPost("/v1/{signal}", async (HttpContext ctx) =>
            {
                var buffer = new byte[64 * 1024];
                long n = 0;
                int read;
                while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0) n += read;
                Interlocked.Increment(ref sink._requests);
                Interlocked.Add(ref sink._bytes, n);
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync();
            sink.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return sink;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
