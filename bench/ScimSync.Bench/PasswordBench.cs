using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace ScimSync.Bench;

/// <summary>
/// Passwords, time-critical: password changes at a fixed rate at the source (`scimsync serve`), with as many routine
/// writes (a title) alongside, and the real engine (`sync run --watch`) setting each on two `passwords: sync` targets
/// (one PATCH, one PUT-only). A change's latency to a target is from its journal entry at the source to the journal
/// entry of the same person's password change on the target (the n-th change of a person at the source matched with
/// the n-th on the target: the engine sets one person's passwords in order), both read from the SQLite files after
/// the run. Every process runs on this machine, so the clocks are one.
/// </summary>
internal static class PasswordBench
{
    private const string Token = "bench-token";

    public static async Task<string> RunAsync(string cli, string work, int users, int rate, int seconds, int? hashIterations = null)
    {
        // --hash-iterations: every server's PBKDF2 cost per password (the default's 34 ms per password on each of the
        // three servers is, alone, more than two cores can give at 100 changes a second).
        string[] hashing = hashIterations is { } n ? ["--password-hash-iterations", n.ToString(CultureInfo.InvariantCulture)] : [];
        await using var source = await ServerProcess.StartAsync(cli, Path.Combine(work, "hr"), Token, hashing);
        await using var patchTarget = await ServerProcess.StartAsync(cli, Path.Combine(work, "mail"), Token, hashing);
        await using var putTarget = await ServerProcess.StartAsync(cli, Path.Combine(work, "wiki"), Token, ["--disable", "patch", .. hashing]);
        using var http = SyncBench.Client(source.BaseUri);
        var ids = new string[users];
        await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            ids[i] = (await Api.SendAsync(http, HttpMethod.Post, "Users", Api.User("pw-" + i.ToString(CultureInfo.InvariantCulture))))["id"]!.GetValue<string>());

        var config = Path.Combine(work, "sync.yaml");
        await File.WriteAllTextAsync(config, $$"""
            state: ./state
            source: { type: scim, url: "{{source.BaseUri}}scim/v2", auth: { type: bearer, token: {{Token}} } }
            targets:
              - name: mail
                url: {{patchTarget.BaseUri}}scim/v2
                auth: { type: bearer, token: {{Token}} }
                limits: { concurrency: 16 }
                passwords: sync
              - name: wiki
                url: {{putTarget.BaseUri}}scim/v2
                auth: { type: bearer, token: {{Token}} }
                dialect: { usePut: true }
                limits: { concurrency: 16 }
                passwords: sync
            """);
        var output = new StringBuilder();
        using var engine = SyncBench.Start(cli, work, ["sync", "run", "--config", config, "--watch", "--log-level", "warning"], output);
        try
        {
            await WaitAsync(async () => await CountAsync(patchTarget) == users && await CountAsync(putTarget) == users, output);
            await WaitAsync(async () => (await Api.SendAsync(http, HttpMethod.Get, "/feeds/v1/subscriptions", null))["subscriptions"]!.AsArray().Any(s => s!["passwordKey"] is JsonObject), output);
            // Warm-up: the first password opens the engine's connections to each target.
            await Api.SendAsync(http, HttpMethod.Patch, $"Users/{ids[0]}", Patch("password", "warm-up-" + Guid.NewGuid().ToString("N")));
            await Task.Delay(3000);

            var load = new LoadSample(source.Pid);
            var startedAt = DateTimeOffset.UtcNow;
            var random = new Random(7);
            var total = rate * seconds;
            var errors = 0;
            var tasks = new List<Task>(total * 2);
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)(i * (double)Stopwatch.Frequency / rate);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
                var who = ids[random.Next(users)];
                var routine = ids[random.Next(users)];
                tasks.Add(Send(http, who, Patch("password", "Pw-" + Guid.NewGuid().ToString("N")), () => Interlocked.Increment(ref errors)));
                tasks.Add(Send(http, routine, Patch("title", "t" + i.ToString(CultureInfo.InvariantCulture)), () => Interlocked.Increment(ref errors)));
            }
            await Task.WhenAll(tasks);
            var offered = Stopwatch.GetElapsedTime(start);
            var loadText = load.Describe();
            // Let the last changes arrive (bounded).
            var expected = Changes(source.DataDirectory, startedAt);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            var changes = expected.Values.Sum(v => v.Count);
            while (DateTime.UtcNow < deadline && (Count(patchTarget.DataDirectory, startedAt) < changes || Count(putTarget.DataDirectory, startedAt) < changes))
                await Task.Delay(500);

            var inv = CultureInfo.InvariantCulture;
            var md = new StringBuilder();
            md.AppendLine(inv, $"PBKDF2 iterations per password on every server: {(hashIterations is { } it ? it.ToString("N0", inv) : "100,000 (the default)")}. Password changes at {rate}/s for {seconds} s ({total:N0}, with {total:N0} routine title PATCHes alongside) over {users:N0} users; sent in {offered.TotalSeconds:F1} s, {errors} failed writes. {loadText} (server = the source; the targets and the engine count as other processes).");
            md.AppendLine();
            md.AppendLine("| target | delivered | p50 ms | p90 ms | p99 ms | max ms |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var (name, target) in new[] { ("mail (PATCH)", patchTarget), ("wiki (PUT)", putTarget) })
            {
                var latencies = Match(expected, Changes(target.DataDirectory, startedAt), NameMap(source.DataDirectory), NameMap(target.DataDirectory));
                latencies.Sort();
                md.AppendLine(inv, $"| {name} | {latencies.Count:N0} of {changes:N0} | {Q(latencies, 0.5):F0} | {Q(latencies, 0.9):F0} | {Q(latencies, 0.99):F0} | {(latencies.Count == 0 ? double.NaN : latencies[^1]):F0} |");
            }
            return md.ToString();
        }
        finally
        {
            engine.Kill(true);
            await engine.WaitForExitAsync();
        }
    }

    private static JsonObject Patch(string path, string value) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
        ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = path, ["value"] = value }),
    };

    private static async Task Send(HttpClient http, string id, JsonObject body, Action failed)
    {
        try
        {
            await Api.SendAsync(http, HttpMethod.Patch, $"Users/{id}", body);
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
        {
            failed();
        }
    }

    private static async Task<int> CountAsync(ServerProcess server)
    {
        using var http = SyncBench.Client(server.BaseUri);
        return (await Api.SendAsync(http, HttpMethod.Get, "Users?count=0", null))["totalResults"]!.GetValue<int>();
    }

    /// <summary>Each person's password changes journaled since <paramref name="since"/>: resource id → times in order.</summary>
    private static Dictionary<string, List<DateTimeOffset>> Changes(string dataDir, DateTimeOffset since)
    {
        var result = new Dictionary<string, List<DateTimeOffset>>(StringComparer.Ordinal);
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT resource_id, time FROM journal WHERE attributes LIKE '%\"password\"%' AND time >= $t ORDER BY position";
        cmd.Parameters.AddWithValue("$t", since.UtcTicks);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            if (!result.TryGetValue(r.GetString(0), out var list)) result[r.GetString(0)] = list = [];
            list.Add(new DateTimeOffset(r.GetInt64(1), TimeSpan.Zero));
        }
        return result;
    }

    private static int Count(string dataDir, DateTimeOffset since) => Changes(dataDir, since).Values.Sum(v => v.Count);

    private static Dictionary<string, string> NameMap(string dataDir)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, json_extract(data, '$.userName') FROM resources WHERE type = 'User'";
        using var r = cmd.ExecuteReader();
        while (r.Read()) map[r.GetString(0)] = r.GetString(1);
        return map;
    }

    private static List<double> Match(Dictionary<string, List<DateTimeOffset>> source, Dictionary<string, List<DateTimeOffset>> target,
        Dictionary<string, string> sourceNames, Dictionary<string, string> targetNames)
    {
        var byName = target.ToDictionary(t => targetNames[t.Key], t => t.Value, StringComparer.Ordinal);
        var latencies = new List<double>();
        foreach (var (id, times) in source)
        {
            if (!byName.TryGetValue(sourceNames[id], out var arrived)) continue;
            for (var i = 0; i < Math.Min(times.Count, arrived.Count); i++) latencies.Add((arrived[i] - times[i]).TotalMilliseconds);
        }
        return latencies;
    }

    private static SqliteConnection Open(string dataDir)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "scimsync.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        return c;
    }

    private static double Q(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

    private static async Task WaitAsync(Func<Task<bool>> condition, StringBuilder output)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException) { }
            await Task.Delay(200);
        }
        lock (output) throw new TimeoutException("the engine did not get ready: " + output);
    }
}
