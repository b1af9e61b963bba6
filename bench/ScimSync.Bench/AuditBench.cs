using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Sync.Execution;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Bench;

/// <summary>
/// "What happened to this person?" against a long provisioning log: the engine's state is filled with
/// <c>rows</c> audit records spread over <c>people</c> people and <c>targets</c> targets (through the engine's own
/// writer, 10,000 records per transaction), then the two questions are timed for many random people, in process:
/// the query behind <c>sync log --user NAME</c> (by userName, newest 100), and the one behind <c>sync user</c>'s
/// history (by source id and userName, per target, newest 20 each). Then the real <c>scimsync sync log --user</c>
/// process, start to exit, for a few people. The machine's load comes from <c>uptime</c> before and after.
/// </summary>
internal static class AuditBench
{
    private static readonly string[] Writers = ["hr-portal", "admin", "workday-import", "self-service", "helpdesk-agent"];

    public static async Task<string> RunAsync(string cli, string work, int rows, int people, int targets, int queries)
    {
        var md = new StringBuilder();
        var state = Path.Combine(work, "state");
        var uptimeBefore = Uptime();
        var random = new Random(42);
        var targetNames = Enumerable.Range(1, targets).Select(i => $"app{i}").ToArray();
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var step = TimeSpan.FromDays(30) / rows;

        var sw = Stopwatch.StartNew();
        using (var store = SqliteSyncState.Open(state))
        {
            const int perBatch = 10_000;
            for (var written = 0; written < rows; written += perBatch)
            {
                var n = Math.Min(perBatch, rows - written);
                var first = written;
                store.Batch(w =>
                {
                    for (var i = first; i < first + n; i++) w.Audit(Record(i, random, people, targetNames, start + step * i));
                });
                if ((written / perBatch) % 10 == 0) Console.Error.WriteLine($"audit: {written + n:N0} of {rows:N0} written");
            }
        }
        var fill = sw.Elapsed;
        var bytes = Directory.EnumerateFiles(state).Sum(f => new FileInfo(f).Length);
        md.AppendLine(CultureInfo.InvariantCulture, $"- State filled with {rows:N0} audit records ({people:N0} people, {targets} targets, each record with 2 attribute changes; 3 % failed with an answer and an action) in {fill.TotalSeconds:F0} s through the engine's writer; state files {bytes / 1048576.0:F0} MB.");

        using (var store = SqliteSyncState.Open(state))
        {
            // The first questions after opening the state, as a fresh `sync user` process meets them (the OS page
            // cache is not dropped: the file was just written), then many more.
            var cold = Measure(store, random, people, targetNames, 100, out _);
            var byName = new List<double>();
            var byPerson = new List<double>();
            var found = 0L;
            for (var i = 0; i < queries; i++)
            {
                var p = random.Next(people);
                var t0 = Stopwatch.GetTimestamp();
                found += store.Log(new AuditQuery([UserName(p)], Limit: 100)).Count;
                byName.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                t0 = Stopwatch.GetTimestamp();
                foreach (var t in targetNames) store.Log(new AuditQuery([SourceId(p), UserName(p)], t, Limit: 20));
                byPerson.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"- `sync log --user NAME`'s query (by userName, newest 100), {queries:N0} random people: p50 **{Pct(byName, 0.5):F2} ms**, p99 **{Pct(byName, 0.99):F2} ms**, max {byName.Max():F1} ms; {found / (double)queries:F1} records per person on average.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- `sync user`'s history (by source id and userName, one query per target, {targets} targets, newest 20 each), the same people: p50 **{Pct(byPerson, 0.5):F2} ms**, p99 **{Pct(byPerson, 0.99):F2} ms**, max {byPerson.Max():F1} ms per person (all targets together).");
            md.AppendLine(CultureInfo.InvariantCulture, $"- The first 100 people asked after opening the state (by userName): p50 {Pct(cold, 0.5):F2} ms, p99 {Pct(cold, 0.99):F2} ms, max {cold.Max():F1} ms.");
        }

        // The command itself, process start to exit (the .NET runtime's start is most of it).
        var config = Path.Combine(work, "sync.yaml");
        await File.WriteAllTextAsync(config, """
            state: ./state
            source: { type: scim, url: "http://127.0.0.1:9/scim/v2" }
            targets:
              - { name: app1, url: "http://127.0.0.1:9/scim/v2" }
            """);
        var process = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            var p = random.Next(people);
            var t0 = Stopwatch.GetTimestamp();
            var (code, output) = await RunAsync(cli, work, ["sync", "log", "--config", config, "--user", UserName(p), "--json"]);
            process.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            if (code != 0) throw new InvalidOperationException($"sync log exited {code}: {output}");
            if (!output.Contains(SourceId(p), StringComparison.Ordinal)) throw new InvalidOperationException($"sync log --user {UserName(p)} did not find the person");
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"- `scimsync sync log --user NAME --json` as a process, start to exit, 10 people: p50 {Pct(process, 0.5):F0} ms, max {process.Max():F0} ms.");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Machine load (`uptime`): before: {uptimeBefore}; after: {Uptime()}.");
        return md.ToString();
    }

    private static List<double> Measure(SqliteSyncState store, Random random, int people, string[] targets, int count, out long found)
    {
        var times = new List<double>();
        found = 0;
        for (var i = 0; i < count; i++)
        {
            var p = random.Next(people);
            var t0 = Stopwatch.GetTimestamp();
            found += store.Log(new AuditQuery([UserName(p)], Limit: 100)).Count;
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return times;
    }

    private static string UserName(int p) => $"person{p:D6}@example.com";

    private static string SourceId(int p) => $"src-{p:D6}-{(p * 2654435761L % 100000):D5}";

    /// <summary>An update from the source's feed, like most of a real log; every 33rd a failure with the target's answer.</summary>
    private static AuditRecord Record(int i, Random random, int people, string[] targets, DateTimeOffset at)
    {
        var p = random.Next(people);
        var target = targets[random.Next(targets.Length)];
        var failed = i % 33 == 0;
        var status = failed ? new[] { 400, 409, 429, 503 }[i % 4] : (int?)null;
        return new AuditRecord(at, $"event:{i:x8}", target, "update", $"user {UserName(p)} [t-{p}]", $"t-{p}", SourceId(p), failed ? "failed" : "ok", status,
            random.Next(5, 400), failed ? $"the target answered {status} for this change" : "replace title, replace name")
        {
            UserName = UserName(p),
            Changes =
            [
                new AttributeChange("title", JsonValue.Create($"Title {i % 97}"), JsonValue.Create($"Title {(i + 1) % 97}")),
                new AttributeChange("name.givenName", JsonValue.Create($"Given{p}"), JsonValue.Create($"Given{p}x")),
            ],
            JournalPosition = i + 1,
            EventTime = at.AddMilliseconds(-40),
            Writer = Writers[i % Writers.Length],
            ScimType = failed && status == 409 ? "uniqueness" : null,
            Action = failed ? FailureAdvice.For(status) : null,
        };
    }

    /// <summary>The p-th percentile (nearest rank); also used by the other latency benches.</summary>
    internal static double Pct(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    /// <summary>The machine's load as `uptime` prints it, recorded beside every figure.</summary>
    internal static string Uptime()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("uptime") { RedirectStandardOutput = true })!;
            var text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return text;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "(uptime not available)";
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string cli, string work, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout + await stderr);
    }
}
