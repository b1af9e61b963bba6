using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Bench;

// Usage (see docs/benchmarks.md):
//   dotnet build src/ScimSync.Cli -c Release && dotnet run --project bench/ScimSync.Bench -c Release -- \
//     [--users 100000] [--groups 1000] [--big-group 50000] [--connections 32] [--seconds 30] [--out FILE]
//     [--cli PATH/scimsync.dll] [--serve-args "--durability normal"]
// Starts the real `scimsync serve` on a fresh data directory, loads it and measures the issue-2 targets.
// --cli runs another build (e.g. an older commit's, for a before/after); --serve-args are added to `serve`.
//   ... -- --feed [--backlog 100000] [--push-batch 1000]        event feed: backlog drains, urgent lane
//   ... -- --feed-latency [--rate 500] [--seconds 60] [--users 5000]   event feed: write-to-receiver latency
//   ... -- --nats-latency [--rate 500] [--seconds 30] [--users 5000]   serve --nats: write to JetStream consumer latency
//       (needs nats-server: apt-get install -y nats-server; docs/nats.md)
//   ... -- --third-party [--users 3000]    sync engine against SCIMMY and the quirk target (issue 10); needs
//       dotnet build tests/ScimSync.QuirkTarget -c Release, and Node.js (npm ci runs when node_modules is missing)
//   ... -- --bystander [--users 50000] [--heavy 8] [--seconds 30]   GET by id beside heavy co filters
//   ... -- --sync [--users 100000] [--groups 1000] [--phases load,...] [--target-bulk on|off]   sync engine (docs/benchmarks.md)
//   ... -- --bulk-chain [--length 1000] [--repeat 3]            server CPU of a reverse bulkId chain
//   ... -- --console [--accounts 100000] [--repeat 200]          operator console page render time over a big shadow
//   ... -- --state-writes [--accounts 100000] [--writers 16]     the engine's state alone, as an initial load writes it
//   ... -- --audit [--rows 1000000] [--people 100000] [--targets 5] [--queries 2000]
//                                                               the provisioning log: "what happened to this person"
//   ... -- --oversized [--repeat 3] [--expect-continue]                           memory per oversized request, per route
//   ... -- --postgres [--postgres-url URL] [--users 100000] [--seconds 20]   on PostgreSQL, one and two instances,
//       fan-out takeover (PostgresBench); without --postgres-url a throwaway cluster is started with .ci/postgres
//   ... -- --engine-pg [--postgres-url URL] [--users 100000] [--targets 2]   initial load by two sync engines sharing
//       one PostgreSQL state (EnginePgBench); without --postgres-url a throwaway cluster is started with .ci/postgres
//   ... -- --feed-hostile [--backlog 50000] [--huge-mb 400] [--phases control,hostile] [--deadline-seconds 600]
//                                                               event feed: a healthy subscriber beside hostile ones
//   ... -- --passwords [--users 500] [--rate 100] [--seconds 30] [--hash-iterations N]   password change → two passwords: sync targets, with routine writes alongside
//   ... -- --overhead --cli-before OLD/scimsync.dll [--cli NEW/scimsync.dll] [--users 100000] [--seconds 20] [--rounds 3] [--passes 4]
//          [--configs before,after,json,otlp] (the first is the baseline; off = this build without logging and telemetry) [--get-rate N] [--create-rate N]
//          logging and telemetry: server CPU per GET by id and per create, servers side by side, measured in turn
var opts = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(x => x.a[2..], x => x.i + 1 < args.Length ? args[x.i + 1] : "");
int Opt(string n, int d) => opts.TryGetValue(n, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : d;
var users = Opt("users", 100_000);
var groups = Opt("groups", 1_000);
var bigGroup = Math.Min(Opt("big-group", 50_000), users);
var connections = Opt("connections", 32);
var seconds = Opt("seconds", 30);
var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
var cli = opts.GetValueOrDefault("cli") ?? Path.Combine(root, "src/ScimSync.Cli/bin/Release/net10.0/scimsync.dll");
if (!File.Exists(cli)) { Console.Error.WriteLine($"build the CLI first: dotnet build src/ScimSync.Cli -c Release ({cli} missing)"); return 2; }
var lua = Path.Combine(AppContext.BaseDirectory, "lua");
const string token = "bench-token";
var work = Path.Combine(Path.GetTempPath(), "scimsync-bench-" + Guid.NewGuid().ToString("N")[..8]);
var dataDir = Path.Combine(work, "data");
Directory.CreateDirectory(work);

if (opts.ContainsKey("sync"))
{
    // Issue-4 sync engine measurements (see SyncBench).
    var sync = await SyncBench.RunAsync(cli, work, users, groups, Opt("change-rate", 100), Opt("change-seconds", 30), Opt("backlog", 50_000), Opt("capped-users", 15_000),
        (opts.GetValueOrDefault("phases") ?? "load,reconcile,incremental,backlog,capped").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(),
        (opts.GetValueOrDefault("target-bulk") ?? "on") switch { "on" => true, "off" => false, var b => throw new ArgumentException($"--target-bulk takes on or off, not {b}") });
    Console.WriteLine(sync);
    if (opts.TryGetValue("out", out var syncOut)) await File.WriteAllTextAsync(syncOut, sync);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("state-writes"))
{
    // The engine's state alone: shadow, link and log entry per unit of work (StateWriteBench).
    var report = await StateWriteBench.RunAsync(work, Opt("accounts", 100_000), Opt("writers", 16));
    Console.WriteLine(report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("passwords"))
{
    // Passwords, time-critical: password change at the source → set on two targets (PasswordBench).
    var report = await PasswordBench.RunAsync(cli, work, Opt("users", 500), Opt("rate", 100), seconds, opts.ContainsKey("hash-iterations") ? Opt("hash-iterations", 100_000) : null);
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var pwOut)) await File.WriteAllTextAsync(pwOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("postgres"))
{
    var report = await PostgresBench.RunAsync(cli, work, lua, root, opts.GetValueOrDefault("postgres-url"), users, connections, seconds);
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var pgOut)) await File.WriteAllTextAsync(pgOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("engine-pg"))
{
    var report = await EnginePgBench.RunAsync(cli, work, root, opts.GetValueOrDefault("postgres-url"), users, Opt("targets", 2));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var enginePgOut)) await File.WriteAllTextAsync(enginePgOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("third-party"))
{
    // Issue-10 measurements: the engine against two third-party SCIM servers (see ThirdPartyBench).
    if (!File.Exists(ThirdPartyTargetProcess.QuirkDll(root)))
    {
        Console.Error.WriteLine($"build the quirk target first: dotnet build tests/ScimSync.QuirkTarget -c Release ({ThirdPartyTargetProcess.QuirkDll(root)} missing)");
        return 2;
    }
    var thirdParty = Opt("users", 3_000);
    if (thirdParty < 500) { Console.Error.WriteLine("--third-party needs --users 500 or more"); return 2; }
    string tp;
    try
    {
        tp = await ThirdPartyBench.RunAsync(cli, work, root, thirdParty);
    }
    finally
    {
        try { Directory.Delete(work, true); } catch (IOException) { }
    }
    Console.WriteLine(tp);
    if (opts.TryGetValue("out", out var tpOut)) await File.WriteAllTextAsync(tpOut, tp);
    return 0;
}

if (opts.ContainsKey("console"))
{
    // The operator console's page render time at 100,000 shadow accounts (ConsoleBench).
    var report = await ConsoleBench.RunAsync(work, Opt("accounts", 100_000), Opt("repeat", 200));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var consoleOut)) await File.WriteAllTextAsync(consoleOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("audit"))
{
    // The provisioning log's person queries against a long log (AuditBench).
    var report = await AuditBench.RunAsync(cli, work, Opt("rows", 1_000_000), Opt("people", 100_000), Opt("targets", 5), Opt("queries", 2_000));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var auditOut)) await File.WriteAllTextAsync(auditOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("bulk-chain"))
{
    // Issue-11 bulkId resolution cost (BulkChainBench).
    var report = await BulkChainBench.RunAsync(cli, work, Opt("length", 1000), Opt("repeat", 3));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var chainOut)) await File.WriteAllTextAsync(chainOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("bystander"))
{
    // Issue-11 cheap reads beside expensive queries (BystanderBench).
    var report = await BystanderBench.RunAsync(cli, work, lua, Opt("users", 50_000), Opt("heavy", 8), seconds, connections);
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var bystanderOut)) await File.WriteAllTextAsync(bystanderOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("oversized"))
{
    // Issue-11 memory per oversized request (OversizedBench).
    var report = await OversizedBench.RunAsync(cli, work, Opt("repeat", 3), opts.ContainsKey("expect-continue"));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var oversizedOut)) await File.WriteAllTextAsync(oversizedOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("feed-hostile"))
{
    // Issue-11 isolation: push to a healthy subscriber while hostile receivers are active (HostileBench).
    var hostile = await HostileBench.RunAsync(cli, work, lua, Opt("backlog", 50_000), connections, Opt("huge-mb", 400),
        (opts.GetValueOrDefault("phases") ?? "control,hostile").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(),
        TimeSpan.FromSeconds(Opt("deadline-seconds", 600)));
    Console.WriteLine(hostile);
    if (opts.TryGetValue("out", out var hostileOut)) await File.WriteAllTextAsync(hostileOut, hostile);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("overhead"))
{
    // Issue-12 cost of logging and telemetry (OverheadBench): before and after builds, interleaved.
    if (opts.GetValueOrDefault("cli-before") is not { Length: > 0 } before || !File.Exists(before))
    {
        Console.Error.WriteLine("--overhead needs --cli-before PATH/scimsync.dll (the build before logging and telemetry)");
        return 2;
    }
    var configs = (opts.GetValueOrDefault("configs") ?? "before,after,json,otlp").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
        .Select(n => OverheadBench.Make(n, before, cli)).ToList();
    string report;
    try
    {
        report = await OverheadBench.RunAsync(configs, work, lua, users, Opt("seconds", 20), Opt("rounds", 3), Opt("passes", 4), connections,
            Opt("get-rate", 0), Opt("create-rate", 0), Console.WriteLine);
    }
    finally
    {
        try { Directory.Delete(work, true); } catch (IOException) { }
    }
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var overheadOut)) await File.WriteAllTextAsync(overheadOut, report);
    return 0;
}

if (opts.ContainsKey("nats-latency"))
{
    var report = await NatsLatencyBench.RunAsync(cli, work, Opt("rate", 500), Opt("seconds", 30), Opt("users", 5_000));
    Console.WriteLine(report);
    if (opts.TryGetValue("out", out var natsOut)) await File.WriteAllTextAsync(natsOut, report);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

if (opts.ContainsKey("feed") || opts.ContainsKey("feed-latency"))
{
    // Issue-3 event feed measurements: backlog drains and the urgent lane (FeedBench), write-to-receiver
    // latency at a fixed write rate (FeedLatencyBench).
    var feed = opts.ContainsKey("feed")
        ? await FeedBench.RunAsync(cli, work, lua, Opt("backlog", 100_000), connections, Opt("push-batch", 1000))
        : await FeedLatencyBench.RunAsync(cli, work, Opt("rate", 500), Opt("seconds", 60), Opt("users", 5_000));
    Console.WriteLine(feed);
    if (opts.TryGetValue("out", out var feedOut)) await File.WriteAllTextAsync(feedOut, feed);
    try { Directory.Delete(work, true); } catch (IOException) { }
    return 0;
}

var serveArgs = (opts.GetValueOrDefault("serve-args") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
await using var server = await ServerProcess.StartAsync(cli, dataDir, token, serveArgs);
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 })
{
    BaseAddress = new Uri(server.BaseUri, "scim/v2/"),
    Timeout = TimeSpan.FromMinutes(5),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
static StringContent Json(string s) => new(s, Encoding.UTF8, "application/scim+json");
var rows = new List<string>();
var notes = new List<string>();
void Row(string name, long requests, string concurrency, double rate, double p50, double p99, long errors) =>
    rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {name} | {requests:N0} | {concurrency} | {rate:F0} | {p50:F2} | {p99:F2} | {errors} |"));

// 1. Create users over HTTP, in wrk rounds until the store holds at least `users` (Wrk.CreateUsersAsync).
async Task<int> CountUsers()
{
    using var resp = await http.GetAsync("Users?count=0");
    return JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!["totalResults"]!.GetValue<int>();
}
var createLoad = new LoadSample(server.Pid);
var creates = await Wrk.CreateUsersAsync("", server.BaseUri, lua, token, users, connections, firstRate: 2000, CountUsers);
var created = await CountUsers();
notes.Add($"While creating: {createLoad.Describe()}.");
if (serveArgs.Length > 0) notes.Add($"Server started with `{string.Join(' ', serveArgs)}`.");
Row($"POST /Users (create {created:N0}, {creates.Rounds} wrk rounds)", creates.Requests, $"{connections} conns", creates.Rate, creates.P50, creates.P99, creates.Errors);

// 2. Walk every user with count=1000: by cursor (collecting ids and userNames) and by index.
var ids = new List<string>();
var names = new List<string>();
var t = Stopwatch.StartNew();
string? next = "";
while (next is not null)
{
    using var resp = await http.GetAsync($"Users?count=1000&cursor={next}&attributes=userName");
    var json = JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!;
    foreach (var r in json["Resources"]!.AsArray()) { ids.Add(r!["id"]!.GetValue<string>()); names.Add(r["userName"]!.GetValue<string>()); }
    next = json["nextCursor"]?.GetValue<string>();
}
var cursorWalkIdsOnly = t.Elapsed;
async Task<(TimeSpan, int)> Walk(bool cursor)
{
    var sw = Stopwatch.StartNew();
    var seen = 0;
    string? cur = "";
    var start = 1;
    while (true)
    {
        using var resp = await http.GetAsync(cursor ? $"Users?count=1000&cursor={cur}" : $"Users?count=1000&startIndex={start}");
        var json = JsonNode.Parse(await resp.Content.ReadAsStreamAsync())!;
        var page = json["Resources"]?.AsArray().Count ?? 0;
        seen += page;
        if (cursor) { cur = json["nextCursor"]?.GetValue<string>(); if (cur is null) break; }
        else { if (page == 0 || seen >= json["totalResults"]!.GetValue<int>()) break; start += page; }
    }
    return (sw.Elapsed, seen);
}
var (cursorWalk, cursorSeen) = await Walk(cursor: true);
var (indexWalk, indexSeen) = await Walk(cursor: false);
Console.WriteLine($"walk: cursor {cursorWalk.TotalSeconds:F2}s ({cursorSeen}), index {indexWalk.TotalSeconds:F2}s ({indexSeen})");

// 3. Groups: groups-1 with 10 members each, and one filled to bigGroup members by PATCH batches of 1,000.
t.Restart();
var groupIds = new string[groups];
await Parallel.ForEachAsync(Enumerable.Range(0, groups), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (g, ct) =>
{
    var members = g == 0 ? "" : string.Join(',', Enumerable.Range(0, 10).Select(k => $$"""{"value":"{{ids[(g * 10 + k) % ids.Count]}}"}"""));
    using var resp = await http.PostAsync("Groups", Json($$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"group-{{g:D4}}","members":[{{members}}]}"""), ct);
    if (resp.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"group create failed: {(int)resp.StatusCode}");
    using var doc = System.Text.Json.JsonDocument.Parse(await resp.Content.ReadAsStreamAsync(ct));
    groupIds[g] = doc.RootElement.GetProperty("id").GetString()!;
});
for (var start = 0; start < bigGroup; start += 1000)
{
    var batch = string.Join(',', Enumerable.Range(start, Math.Min(1000, bigGroup - start)).Select(k => $$"""{"value":"{{ids[k]}}"}"""));
    using var resp = await http.PatchAsync($"Groups/{groupIds[0]}", Json($$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{{batch}}]}]}"""));
    if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"filling the big group failed: {(int)resp.StatusCode}");
}
notes.Add($"Setting up {groups:N0} groups and filling one to {bigGroup:N0} members (PATCH batches of 1,000) took {t.Elapsed.TotalSeconds:F1} s.");

// 4. GET by id and 5. filter by userName, random keys, wrk for a fixed duration.
var getPaths = Path.Combine(work, "get-paths.txt");
await File.WriteAllLinesAsync(getPaths, ids.Select(id => "/scim/v2/Users/" + id));
var get = await Wrk.RunAsync("get", server.BaseUri, Path.Combine(lua, "paths.lua"), [token, getPaths], connections, TimeSpan.FromSeconds(seconds));
Row("GET /Users/{id}", get.Requests, $"{connections} conns", get.Rate, get.P50, get.P99, get.Errors);
Console.WriteLine($"get: {get.Rate:F0}/s p99 {get.P99:F2} ms");
var filterPaths = Path.Combine(work, "filter-paths.txt");
await File.WriteAllLinesAsync(filterPaths, names.Select(n => "/scim/v2/Users?filter=" + Uri.EscapeDataString($"userName eq \"{n.ToUpperInvariant()}\"")));
var filter = await Wrk.RunAsync("filter", server.BaseUri, Path.Combine(lua, "paths.lua"), [token, filterPaths], connections, TimeSpan.FromSeconds(seconds));
Row("GET /Users?filter=userName eq \"…\"", filter.Requests, $"{connections} conns", filter.Rate, filter.P50, filter.P99, filter.Errors);
Console.WriteLine($"filter: {filter.Rate:F0}/s p99 {filter.P99:F2} ms");

// 6. One member added to / removed from the big group, one request at a time.
var patchOps = Math.Min(500, ids.Count - bigGroup);
async Task<double[]> Sequential(Func<int, string> body)
{
    var lat = new double[patchOps];
    for (var i = 0; i < patchOps; i++)
    {
        var s = Stopwatch.GetTimestamp();
        using var resp = await http.PatchAsync($"Groups/{groupIds[0]}", Json(body(i)));
        lat[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"PATCH failed: {(int)resp.StatusCode}");
    }
    return lat.Order().ToArray();
}
if (patchOps > 0)
{
    var add = await Sequential(i => $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{ids[bigGroup + i]}}"}]}]}""");
    Row($"PATCH add 1 member to the {bigGroup:N0}-member group", patchOps, "1", 1000 / add.Average(), add[patchOps / 2], add[(int)(patchOps * 0.99)], 0);
    var remove = await Sequential(i => $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{{ids[bigGroup + i]}}\"]"}]}""");
    Row($"PATCH remove 1 member from that group", patchOps, "1", 1000 / remove.Average(), remove[patchOps / 2], remove[(int)(patchOps * 0.99)], 0);
}

var (rss, peak) = server.Memory();
var dbFile = new FileInfo(Path.Combine(dataDir, "scimsync.db"));
var wal = new FileInfo(Path.Combine(dataDir, "scimsync.db-wal"));
var md = new StringBuilder();
md.AppendLine(CultureInfo.InvariantCulture, $"Data: {ids.Count:N0} users (name, 2 emails, enterprise extension), {groups:N0} groups, one with {bigGroup:N0} members. Load generator: wrk, 2 threads, on the same machine; sequential requests from .NET HttpClient.");
md.AppendLine();
md.AppendLine("| measurement | requests | concurrency | rate (/s) | p50 ms | p99 ms | errors |");
md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
foreach (var r in rows) md.AppendLine(r);
md.AppendLine();
md.AppendLine(CultureInfo.InvariantCulture, $"- Walk all users with count=1000, full representations: cursor paging {cursorWalk.TotalSeconds:F2} s ({cursorSeen:N0} seen), index paging {indexWalk.TotalSeconds:F2} s ({indexSeen:N0} seen). With attributes=userName: {cursorWalkIdsOnly.TotalSeconds:F2} s.");
md.AppendLine(CultureInfo.InvariantCulture, $"- Server memory at the end: RSS {rss / 1048576.0:F0} MB; peak RSS over the run {peak / 1048576.0:F0} MB.");
md.AppendLine(CultureInfo.InvariantCulture, $"- Database file {dbFile.Length / 1048576.0:F1} MB (+ WAL {(wal.Exists ? wal.Length / 1048576.0 : 0):F1} MB).");
foreach (var n in notes) md.AppendLine("- " + n);
Console.WriteLine();
Console.WriteLine(md.ToString());
if (opts.TryGetValue("out", out var outFile)) await File.WriteAllTextAsync(outFile, md.ToString());
await server.DisposeAsync();
try { Directory.Delete(work, true); } catch (IOException) { }
return 0;
