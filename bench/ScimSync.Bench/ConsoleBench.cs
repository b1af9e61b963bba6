using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.OperatorConsole;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Runs;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Bench;

/// <summary>
/// The operator console's page render time at <c>accounts</c> shadow accounts: the engine's state is filled through
/// its own writer (one target, 90 % of the accounts linked, a provisioning log of <c>accounts / 10</c> entries), an
/// engine is opened on it (not watching: the source is never called by these pages) and the console is hosted as
/// <c>sync watch --listen</c> hosts it, on loopback. A signed-in client then times whole requests, one at a time:
/// the overview, a target's first shadow page, a userName-prefix search, the unmanaged filter, a page deep in the
/// shadow (keyset), and an email search (the account's email key, indexed). Loopback request time is server time plus a
/// loopback round trip; the machine's load comes from <c>uptime</c> before and after.
/// </summary>
internal static class ConsoleBench
{
    private const string Token = "console-bench-operator-token";

    public static async Task<string> RunAsync(string work, int accounts, int repeat)
    {
        var md = new StringBuilder();
        var uptimeBefore = AuditBench.Uptime();
        var stateDir = Path.Combine(work, "state");
        var sw = Stopwatch.StartNew();
        var seen = DateTimeOffset.UtcNow;
        using (var store = SqliteSyncState.Open(stateDir))
        {
            const int perBatch = 10_000;
            for (var first = 0; first < accounts; first += perBatch)
            {
                var n = Math.Min(perBatch, accounts - first);
                var from = first;
                store.Batch(w =>
                {
                    for (var i = from; i < from + n; i++)
                    {
                        w.PutAccount("app1", new TargetAccount(TargetId(i), Account(i)), seen, synced: true);
                        if (i % 10 != 0) w.Link("app1", TargetId(i), $"src-{i:D6}", seen);
                        if (i % 10 == 1)
                            w.Audit(new AuditRecord(seen.AddSeconds(-i % 600), "run:bench", "app1", i % 50 == 1 ? "update" : "create", $"user {UserName(i)} [{TargetId(i)}]",
                                TargetId(i), $"src-{i:D6}", i % 70 == 1 ? "failed" : "ok", i % 70 == 1 ? 409 : 201, 3, null) { UserName = UserName(i) });
                    }
                });
            }
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"- State filled with {accounts:N0} shadow accounts on one target (90 % linked) and {accounts / 10:N0} log entries through the engine's writer in {sw.Elapsed.TotalSeconds:F0} s.");

        Environment.SetEnvironmentVariable("SCIMSYNC_CONSOLE_BENCH", Token);
        var config = ConfigLoader.Parse(new StringReader($"""
            state: {stateDir}
            source: {"{"} type: scim, url: "http://127.0.0.1:9/scim/v2/", auth: {"{"} type: bearer, token: unused {"}"} {"}"}
            targets:
              - {"{"} name: app1, url: "http://127.0.0.1:9/scim/v2/", auth: {"{"} type: bearer, token: unused {"}"} {"}"}
            console:
              people: [ {"{"} name: bench, role: operator, token: "${"{"}SCIMSYNC_CONSOLE_BENCH{"}"}" {"}"} ]
            """), "bench.yaml");
        using var engine = new SyncEngine(config, SqliteSyncState.Open(stateDir), TimeProvider.System);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddOperatorConsole(engine);
        await using var app = builder.Build();
        app.MapOperatorConsole();
        await app.StartAsync();
        var address = app.Urls.First();

        using var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(address) };
        var signin = await http.GetStringAsync("/console/signin");
        var af = Regex.Match(signin, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        var signed = await http.PostAsync("/console/session", new FormUrlEncodedContent([new("token", Token), new("__RequestVerificationToken", af)]));
        if (signed.StatusCode != HttpStatusCode.Redirect || signed.Headers.Location?.ToString() != "/console")
            throw new InvalidOperationException($"sign-in failed: {(int)signed.StatusCode} {signed.Headers.Location}");

        var deep = $"/console/targets/app1?au={Uri.EscapeDataString(UserName(accounts / 2))}&ai={TargetId(accounts / 2)}";
        md.AppendLine("| page | requests | p50 ms | p99 ms | max ms | bytes |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, path, n) in new (string, string, int)[]
        {
            ("overview", "/console", repeat),
            ("target, first shadow page (50 of all)", "/console/targets/app1", repeat),
            ("target, userName prefix search", "/console/targets/app1?q=user05", repeat),
            ("target, unmanaged filter", "/console/targets/app1?own=unmanaged", repeat),
            ("target, page at the middle (keyset)", deep, repeat),
            ("target, externalId search", $"/console/targets/app1?q=ext-{accounts / 3:D6}", repeat),
            ("target, email search (email key index)", $"/console/targets/app1?q=mail{accounts / 3:D6}@mail.example", repeat),
        })
        {
            var times = new List<double>();
            var bytes = 0;
            for (var i = 0; i < n + 3; i++)
            {
                var t = Stopwatch.StartNew();
                using var response = await http.GetAsync(path);
                var body = await response.Content.ReadAsStringAsync();
                t.Stop();
                if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"{path}: {(int)response.StatusCode}");
                bytes = body.Length;
                if (i >= 3) times.Add(t.Elapsed.TotalMilliseconds); // the first three warm the page up
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {times.Count} | {AuditBench.Pct(times, 0.5):F1} | {AuditBench.Pct(times, 0.99):F1} | {times.Max():F1} | {bytes:N0} |");
        }
        await app.StopAsync();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Machine load (`uptime`): before: {uptimeBefore}; after: {AuditBench.Uptime()}.");
        return md.ToString();
    }

    private static string TargetId(int i) => $"t-{i:D6}";

    private static string UserName(int i) => $"user{i:D6}@example.com";

    private static JsonObject Account(int i) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
        ["id"] = TargetId(i),
        ["userName"] = UserName(i),
        ["externalId"] = $"ext-{i:D6}",
        ["active"] = i % 17 != 0,
        ["name"] = new JsonObject { ["givenName"] = $"Given{i}", ["familyName"] = "Bench" },
        ["emails"] = new JsonArray(new JsonObject { ["value"] = $"mail{i:D6}@mail.example", ["type"] = "work" }),
        ["title"] = i % 3 == 0 ? "Engineer" : "Analyst",
    };

}
