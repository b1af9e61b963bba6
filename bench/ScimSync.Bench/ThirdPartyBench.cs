using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ScimSync.Bench;

/// <summary>
/// Issue-10 measurements: the sync engine against two third-party SCIM servers from the repository's test
/// fixtures (the quirk target: pages of 50 whatever count says, totalResults the size of the page, PATCH
/// answered 204; SCIMMY on Node.js), each a real process, with a fresh `scimsync serve` source. Per target:
/// the initial load, the engine's own read time of the loaded target (three `sync plan` runs with
/// --log-level debug), and in `sync watch` a burst of 15 leavers and three 30-second outages with 100 queued
/// changes each. Ground truth is the target's raw table (/_admin/users), polled every 20 ms.
/// </summary>
internal static partial class ThirdPartyBench
{
    private const string SourceToken = "bench-token";
    private const int Leavers = 15;
    private const int Movers = 100;
    private const int Outages = 3;
    private static readonly TimeSpan OutageLength = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(120);

    [GeneratedRegex(@"app: read (\d+) ms, planned (\d+) operations in (\d+) ms")]
    private static partial Regex TraceLine();

    private sealed record Outage(bool NotAnsweringSeen, double UpCommandMs, double? AnsweringAgainSeconds, double? ConvergedSeconds, double PatchSeconds);

    private sealed class Result(string kind)
    {
        public string Kind { get; } = kind;
        public string Label => Kind == "scimmy" ? "SCIMMY 1.3.5 (Node.js)" : "quirk target (pages of 50)";
        public double LoadSeconds { get; set; }
        public string LoadOps { get; set; } = "?";
        public int StoredAfterLoad { get; set; }
        public double LoadEngineCpu { get; set; }
        public double LoadTargetCpu { get; set; }
        public double LoadSourceCpu { get; set; }
        public List<(int ReadMs, int Planned, int PlanMs, double Elapsed)> Plans { get; } = [];
        public double PlansTargetCpu { get; set; }
        public double? LeaversMs { get; set; }
        public bool GuardHeld { get; set; }
        public List<Outage> Outages { get; } = [];
        public List<string> OutageLines { get; } = [];
        public List<string> Notable { get; } = [];
        public List<double> PollMs { get; } = [];
        public string Busy { get; set; } = "";
    }

    public static async Task<string> RunAsync(string cli, string work, string repoRoot, int users)
    {
        var results = new List<Result>();
        var before = Busy.Snapshot();
        foreach (var kind in new[] { "quirk", "scimmy" })
        {
            Console.WriteLine($"== {kind}");
            results.Add(await RunTargetAsync(cli, work, repoRoot, kind, users));
        }
        return Markdown(results, users, before.Describe());
    }

    private static async Task<Result> RunTargetAsync(string cli, string work, string repoRoot, string kind, int users)
    {
        var result = new Result(kind);
        var busy = Busy.Snapshot();
        await using var source = await ServerProcess.StartAsync(cli, Path.Combine(work, "hr-" + kind), SourceToken);
        using var http = SyncBench.Client(source.BaseUri);
        var sw = Stopwatch.StartNew();
        await SyncBench.SeedAsync(http, users, 0);
        var ids = await SyncBench.IdsAsync(http, users);
        if (ids.Count != users) throw new InvalidOperationException($"the source holds {ids.Count} users, not {users}");
        Console.WriteLine($"{kind}: seeded {users:N0} users in {sw.Elapsed.TotalSeconds:F1} s");

        await using var target = await ThirdPartyTargetProcess.StartAsync(kind, repoRoot, "bench-target-" + kind);
        var config = Path.Combine(work, $"sync-{kind}.yaml");
        await File.WriteAllTextAsync(config, $$"""
            state: ./state-{{kind}}
            source: { type: scim, url: "{{source.BaseUri}}scim/v2", auth: { type: bearer, token: {{SourceToken}} }, pollInterval: 200ms }
            targets:
              - name: app
                url: {{target.BaseUri}}scim/v2
                auth: { type: bearer, token: {{target.Token}} }
                correlation: [externalId, userName, email]
                limits: { concurrency: 8 }
            """);

        // 1. Initial load: 3,000 creates into the empty target.
        var (sourceCpu, targetCpu) = (source.Cpu, target.Cpu);
        var (load, _, loadCpu, loadOut) = await SyncBench.RunEngineWithCpuAsync(cli, work, ["sync", "run", "--config", config, "--json"]);
        result.LoadSeconds = load.TotalSeconds;
        result.LoadEngineCpu = loadCpu.TotalSeconds;
        result.LoadTargetCpu = (target.Cpu - targetCpu).TotalSeconds;
        result.LoadSourceCpu = (source.Cpu - sourceCpu).TotalSeconds;
        result.LoadOps = SyncBench.Ops(loadOut);
        var stored = await target.StoredUsersAsync();
        result.StoredAfterLoad = stored.Count(u => u.ExternalId is not null);
        Note(result, "run", loadOut);
        Console.WriteLine($"{kind}: initial load {load.TotalSeconds:F1} s, {result.LoadOps} operations, target stores {stored.Count:N0} users");
        if (stored.Count != users) result.Notable.Add($"after the initial load the target stored {stored.Count:N0} users, not {users:N0}");

        // 2. Full read of the loaded target, as the engine times it (event 3006 at Debug: the command line's
        // --log-level debug; SCIMSYNC_TRACE=1 is gone, docs/logging.md).
        targetCpu = target.Cpu;
        for (var i = 0; i < 3; i++)
        {
            var (elapsed, _, planOut) = await SyncBench.RunEngineAsync(cli, work, ["sync", "plan", "--config", config, "--json", "--log-level", "debug"]);
            var m = TraceLine().Match(planOut);
            if (!m.Success) throw new InvalidOperationException($"no \"app: read N ms, planned M operations in K ms\" line in the plan's output:\n{planOut[..Math.Min(3000, planOut.Length)]}");
            result.Plans.Add((Int(m.Groups[1].Value), Int(m.Groups[2].Value), Int(m.Groups[3].Value), elapsed.TotalSeconds));
            Note(result, "plan", planOut);
            Console.WriteLine($"{kind}: plan {i + 1}: {m.Value}; {elapsed.TotalSeconds:F1} s in all");
        }
        result.PlansTargetCpu = (target.Cpu - targetCpu).TotalSeconds;

        // 3. Watch mode.
        var output = new StringBuilder();
        Process? engine = null;
        try
        {
            engine = SyncBench.Start(cli, work, ["sync", "watch", "--config", config], output);
            await SyncBench.WaitForAsync(output, "Watching", TimeSpan.FromMinutes(5));
            await Task.Delay(1000);

            // a. 15 leavers in one burst.
            var leavers = ids.Skip(100).Take(Leavers).ToHashSet(StringComparer.Ordinal);
            await Task.WhenAll(leavers.Select(id => SyncBench.SendAsync(http, HttpMethod.Patch, $"Users/{id}", SyncBench.Patch(new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false }))));
            var burst = Stopwatch.StartNew();
            var applied = await PollAsync(target, result, burst, u => u.Count(x => x.ExternalId is not null && leavers.Contains(x.ExternalId) && x.Active == false) == Leavers);
            result.LeaversMs = applied?.TotalMilliseconds;
            result.GuardHeld = SyncBench.Contains(output, "mass-change guard holds");
            Console.WriteLine($"{kind}: {Leavers} leavers applied {(applied is { } a ? $"{a.TotalMilliseconds:F0} ms" : "never")} after the burst; guard held: {result.GuardHeld}");

            // b. Outages of 30 s with 100 queued changes, three times, different accounts and titles each time.
            for (var r = 0; r < Outages; r++)
            {
                await Task.Delay(2000);
                var titles = Enumerable.Range(0, Movers).ToDictionary(i => ids[(200 + r * Movers + i) % ids.Count], i => $"Moved-{r + 1}-{i}", StringComparer.Ordinal);
                int mark;
                lock (output) mark = output.Length;
                await target.DownAsync();
                var down = Stopwatch.StartNew();
                await Task.WhenAll(titles.Select(t => SyncBench.SendAsync(http, HttpMethod.Patch, $"Users/{t.Key}", SyncBench.Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = t.Value }))));
                var patched = down.Elapsed.TotalSeconds;
                while (down.Elapsed < OutageLength) await Task.Delay(10);
                var notAnswering = After(output, mark).Contains("not answering", StringComparison.Ordinal);
                var upSent = Stopwatch.StartNew();
                await target.UpAsync();
                var upMs = upSent.Elapsed.TotalMilliseconds;
                // The clock starts when the target says it listens again.
                var up = Stopwatch.StartNew();
                var answering = WaitForTextAsync(output, mark, "answering again", up);
                var converged = PollAsync(target, result, up, u => u.Count(x => x.ExternalId is not null && titles.TryGetValue(x.ExternalId, out var want) && x.Title == want) == Movers);
                var outage = new Outage(notAnswering, upMs, (await answering)?.TotalSeconds, (await converged)?.TotalSeconds, patched);
                result.Outages.Add(outage);
                if (r == 0)
                    result.OutageLines.AddRange(After(output, mark).Split('\n').Select(l => l.TrimEnd('\r'))
                        .Where(l => l.Contains("not answering", StringComparison.Ordinal) || l.Contains("answering again", StringComparison.Ordinal)));
                Console.WriteLine($"{kind}: outage {r + 1}: 'not answering' seen {notAnswering}; up took {upMs:F0} ms; answering again after {Fmt(outage.AnsweringAgainSeconds, "F2")} s; converged after {Fmt(outage.ConvergedSeconds, "F2")} s");
            }
        }
        finally
        {
            if (engine is not null)
            {
                try
                {
                    engine.Kill(true);
                    await engine.WaitForExitAsync();
                }
                catch (InvalidOperationException) { }
                engine.Dispose();
            }
        }
        string watchLog;
        lock (output) watchLog = output.ToString();
        Note(result, "watch", watchLog);
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), $"scimsync-thirdparty-{kind}-watch.log"), watchLog);
        result.Busy = busy.Describe();
        return result;
    }

    /// <summary>Polls the target's raw table every 20 ms until <paramref name="done"/>; the time on <paramref name="clock"/> when a poll's answer showed it, or null.</summary>
    private static async Task<TimeSpan?> PollAsync(ThirdPartyTargetProcess target, Result result, Stopwatch clock, Func<List<(string? ExternalId, bool? Active, string? Title)>, bool> done)
    {
        while (clock.Elapsed < WaitLimit)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                var users = await target.StoredUsersAsync();
                lock (result.PollMs) result.PollMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (done(users)) return clock.Elapsed;
            }
            catch (HttpRequestException) { }
            await Task.Delay(PollEvery);
        }
        return null;
    }

    private static async Task<TimeSpan?> WaitForTextAsync(StringBuilder output, int from, string text, Stopwatch clock)
    {
        while (clock.Elapsed < WaitLimit)
        {
            if (After(output, from).Contains(text, StringComparison.Ordinal)) return clock.Elapsed;
            await Task.Delay(5);
        }
        return null;
    }

    private static string After(StringBuilder output, int from)
    {
        lock (output) return output.ToString(from, output.Length - from);
    }

    /// <summary>
    /// Engine lines worth a look: errors, incomplete reads, guard holds. The outage lines the bench causes
    /// ("not answering ... failed after 2 attempts: Connection refused") are reported on their own.
    /// </summary>
    private static void Note(Result result, string step, string output)
    {
        string[] words = ["error", "fail", "did not add up", "incomplete", "guard", "exception", "warn"];
        foreach (var line in output.Split('\n').Select(l => l.TrimEnd('\r')))
            if (words.Any(w => line.Contains(w, StringComparison.OrdinalIgnoreCase)) && !line.TrimStart().StartsWith('"') && !line.TrimStart().StartsWith('{')
                && !(line.Contains("not answering", StringComparison.Ordinal) && line.Contains("Connection refused", StringComparison.Ordinal)))
                result.Notable.Add($"{step}: {line}");
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static string Fmt(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "—";

    private static string Markdown(List<Result> results, int users, string overall)
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"Run of {DateTime.Now:yyyy-MM-dd HH:mm}; {users:N0} users (name, email, enterprise extension) seeded at a fresh `scimsync serve` source per target, 0 groups; engine `limits: {{ concurrency: 8 }}`, `pollInterval: 200ms`, correlation externalId, userName, email. Ground truth: the target's raw table (`GET /_admin/users`), polled every 20 ms.");
        md.AppendLine();
        foreach (var r in results)
        {
            md.AppendLine(inv, $"**{r.Label}**");
            md.AppendLine();
            md.AppendLine("| measurement | figure |");
            md.AppendLine("|---|---|");
            md.AppendLine(inv, $"| initial load (`sync run --json`, {r.LoadOps} creates) | **{r.LoadSeconds:F1} s**; target then stored {r.StoredAfterLoad:N0} users; CPU: engine {r.LoadEngineCpu:F1} s, target {r.LoadTargetCpu:F1} s, source {r.LoadSourceCpu:F1} s |");
            md.AppendLine(inv, $"| full read of the {r.StoredAfterLoad:N0}-account target (engine trace, 3 `sync plan` runs) | **{string.Join(" / ", r.Plans.Select(p => p.ReadMs.ToString("N0", inv)))} ms** |");
            md.AppendLine(inv, $"| ... whole `sync plan --json` (process start, source read, target read, plan) | {string.Join(" / ", r.Plans.Select(p => p.Elapsed.ToString("F1", inv)))} s; planned {string.Join(" / ", r.Plans.Select(p => p.Planned))} operations in {string.Join(" / ", r.Plans.Select(p => p.PlanMs))} ms; target CPU over the 3 plans {r.PlansTargetCpu:F1} s |");
            md.AppendLine(inv, $"| {Leavers} leavers in one burst (watch), last source PATCH returned → all {Leavers} inactive in the target | **{Fmt(r.LeaversMs, "F0")} ms**; guard held: {(r.GuardHeld ? "**yes**" : "no")} |");
            for (var i = 0; i < r.Outages.Count; i++)
                md.AppendLine(inv, $"| recovery {i + 1}: \"answering again\" / all {Movers} titles right | **{Fmt(r.Outages[i].AnsweringAgainSeconds, "F2")} s / {Fmt(r.Outages[i].ConvergedSeconds, "F2")} s** |");
            md.AppendLine();
            if (r.Outages.Count > 0)
                md.AppendLine(inv, $"- Recovery: the target down for 30 s while {Movers} source accounts (different ones each time) got a new title; times from the target's `up` reply (listening again; it came {string.Join(" / ", r.Outages.Select(o => o.UpCommandMs.ToString("F0", inv)))} ms after the command) to the engine's \"answering again\" line and to all {Movers} titles in the raw table. \"not answering\" was logged during {r.Outages.Count(o => o.NotAnsweringSeen)} of {r.Outages.Count} outages; the {Movers} source PATCHes took {string.Join(" / ", r.Outages.Select(o => o.PatchSeconds.ToString("F1", inv)))} s.");
            if (r.PollMs.Count > 0)
            {
                var polls = r.PollMs.Order().ToList();
                md.AppendLine(inv, $"- One poll of `/_admin/users` ({r.StoredAfterLoad:N0} users) took p50 {polls[polls.Count / 2]:F0} ms, max {polls[^1]:F0} ms; a figure is read when the answer that showed convergence arrived, so it is late by up to one poll plus 20 ms.");
            }
            md.AppendLine(inv, $"- Machine during this target's phase: {r.Busy}.");
            if (r.OutageLines.Count > 0)
            {
                md.AppendLine("- Engine lines about the first outage, verbatim:");
                md.AppendLine();
                md.AppendLine("  ```");
                foreach (var l in r.OutageLines) md.AppendLine("  " + l);
                md.AppendLine("  ```");
            }
            if (r.Notable.Count > 0)
            {
                md.AppendLine(inv, $"- Other engine lines mentioning errors, failures, incomplete reads or the guard ({r.Notable.Count}; first 10):");
                md.AppendLine();
                md.AppendLine("  ```");
                foreach (var l in r.Notable.Take(10)) md.AppendLine("  " + l);
                md.AppendLine("  ```");
            }
            else
            {
                md.AppendLine("- Apart from the outages' \"not answering\" lines (connection refused), no engine line mentioned an error, a failure, an incomplete read or the guard.");
            }
            md.AppendLine();
        }
        md.AppendLine(inv, $"Whole run: {overall}.");
        return md.ToString();
    }

    /// <summary>
    /// How busy the machine was over a phase: CPU of the whole machine (/proc/stat), of this benchmark and
    /// every process it started (its own ticks, its live descendants', and the children it has reaped), the
    /// rest; load average; dotnet and node processes that are not ours.
    /// </summary>
    private sealed class Busy
    {
        private (long Busy, long Total) _machine;
        private long _ours;
        private double _load;
        private string _others = "";
        private Dictionary<int, long> _otherTicks = [];

        public static Busy Snapshot() => new() { _machine = Machine(), _ours = OurTicks(), _load = LoadAverage(), _others = Others(), _otherTicks = OtherTicks() };

        public string Describe()
        {
            var (busy, total) = Machine();
            var elapsed = (double)(total - _machine.Total);
            if (elapsed <= 0) return "n/a";
            var machine = (busy - _machine.Busy) / elapsed;
            var ours = (OurTicks() - _ours) / elapsed;
            return string.Create(CultureInfo.InvariantCulture,
                $"CPU (share of both cores) machine {machine:P0}, the bench and its processes {ours:P0}, other processes {Math.Max(0, machine - ours):P0}{Top(elapsed)}; load average (1 min) {_load:F2} → {LoadAverage():F2}; dotnet/node processes not started by the bench: at start {_others}, at end {Others()}");
        }

        /// <summary>The other processes that used the most CPU over the phase (those still running at its end).</summary>
        private string Top(double elapsed)
        {
            var top = OtherTicks().Select(p => (p.Key, Share: (p.Value - _otherTicks.GetValueOrDefault(p.Key)) / elapsed))
                .Where(p => p.Share >= 0.02).OrderByDescending(p => p.Share).Take(4).ToList();
            return top.Count == 0 ? "" : " (" + string.Join(", ", top.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Name(p.Key)} {p.Share:P0}"))) + ")";
        }

        private static Dictionary<int, long> OtherTicks()
        {
            var all = Processes();
            var ours = Ours(all);
            var result = new Dictionary<int, long>();
            foreach (var pid in all.Keys.Where(p => !ours.Contains(p)))
            {
                try
                {
                    var stat = File.ReadAllText($"/proc/{pid}/stat");
                    var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    result[pid] = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { }
            }
            return result;
        }

        /// <summary>A short name: the .dll a dotnet process runs, else the executable's name, and its working tree when it is under /work or /tmp.</summary>
        private static string Name(int pid)
        {
            try
            {
                var words = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0) return "?";
                var main = words.FirstOrDefault(w => w.EndsWith(".dll", StringComparison.Ordinal)) ?? words[0];
                var name = Path.GetFileName(main);
                var tree = main.StartsWith("/work/", StringComparison.Ordinal) || main.StartsWith("/tmp/", StringComparison.Ordinal) ? " (" + string.Join('/', main.Split('/').Take(3)) + ")" : "";
                if (name == "wrk" || words[0].EndsWith("wrk", StringComparison.Ordinal)) return "wrk";
                return name + tree;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "?"; }
        }

        private static (long Busy, long Total) Machine()
        {
            var m = MachineCpu.Read();
            return (m.Busy, m.Total);
        }

        private static double LoadAverage() => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

        private static Dictionary<int, (int Parent, long Ticks)> Processes()
        {
            var all = new Dictionary<int, (int, long)>();
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    all[pid] = (Int(f[1]), long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture) + long.Parse(f[13], CultureInfo.InvariantCulture) + long.Parse(f[14], CultureInfo.InvariantCulture));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { }
            }
            return all;
        }

        private static HashSet<int> Ours(Dictionary<int, (int Parent, long Ticks)> all)
        {
            var ours = new HashSet<int> { Environment.ProcessId };
            for (var grew = true; grew;)
            {
                grew = false;
                foreach (var (pid, (parent, _)) in all)
                    if (ours.Contains(parent) && ours.Add(pid)) grew = true;
            }
            return ours;
        }

        /// <summary>Ticks of this process and its descendants, including children already reaped (cutime, cstime).</summary>
        private static long OurTicks()
        {
            var all = Processes();
            return Ours(all).Sum(pid => all.TryGetValue(pid, out var p) ? p.Ticks : 0);
        }

        private static string Others()
        {
            var all = Processes();
            var ours = Ours(all);
            // Our ancestors too (`dotnet run`, the shell): they wait for us.
            for (var pid = Environment.ProcessId; all.TryGetValue(pid, out var p) && p.Parent > 0; pid = p.Parent) ours.Add(p.Parent);
            var names = new List<string>();
            foreach (var pid in all.Keys.Where(p => !ours.Contains(p)))
            {
                string cmd;
                try
                {
                    cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                if (!cmd.Contains("dotnet", StringComparison.Ordinal) && !cmd.StartsWith("node", StringComparison.Ordinal)) continue;
                var words = cmd.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var what = words.FirstOrDefault(w => w.EndsWith(".dll", StringComparison.Ordinal) || w is "build" or "test" or "run") ?? words[0];
                names.Add(Path.GetFileName(what) is { Length: > 0 } n ? n : what);
            }
            return names.Count == 0 ? "none" : $"{names.Count} ({string.Join(", ", names.GroupBy(n => n).Select(g => g.Count() > 1 ? $"{g.Key} ×{g.Count()}" : g.Key))})";
        }
    }
}
