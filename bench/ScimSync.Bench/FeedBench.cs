using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue-3 drain measurements: a backlog of events drained by poll, by plain push (one SET per request)
/// and by batched push (pushBatch), each with an urgent deactivation written just after its subscription is
/// enabled. The backlog is built by creating users while the subscriptions are disabled (fan-out skips
/// them), so when one is enabled the whole backlog is still in the journal, not yet fanned out.
/// </summary>
internal static class FeedBench
{
    public static async Task<string> RunAsync(string cli, string work, string lua, int backlog, int connections, int pushBatch)
    {
        const string token = "bench-token";
        var md = new StringBuilder();
        await using var receivers = await SetReceivers.StartAsync();
        await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "feed-data"), token, ["--push-allow", "http://127.0.0.1:*"]);
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Task<JsonObject> Send(HttpMethod m, string path, JsonObject? body) => Api.SendAsync(http, m, path, body);

        JsonObject Subscription(string name, JsonObject extra)
        {
            var o = new JsonObject { ["name"] = name, ["audience"] = "bench", ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User") };
            foreach (var (k, v) in extra) o[k] = v?.DeepClone();
            return o;
        }
        var poll = await Send(HttpMethod.Post, "feeds/v1/subscriptions", Subscription("poll", []));
        var plain = await Send(HttpMethod.Post, "feeds/v1/subscriptions", Subscription("plain", new JsonObject { ["delivery"] = "push", ["pushUrl"] = receivers.Url("plain") }));
        var batched = await Send(HttpMethod.Post, "feeds/v1/subscriptions", Subscription("batched", new JsonObject { ["delivery"] = "push", ["pushUrl"] = receivers.Url("batched"), ["pushBatch"] = pushBatch }));
        var pollId = poll["id"]!.GetValue<string>();
        var pollToken = poll["pollToken"]!.GetValue<string>();
        var plainId = plain["id"]!.GetValue<string>();
        var batchedId = batched["id"]!.GetValue<string>();
        // One victim per push phase, created (and delivered) before the backlog, deactivated behind it.
        var victims = new List<string>();
        foreach (var name in new[] { "victim-plain", "victim-batched" })
            victims.Add((await Send(HttpMethod.Post, "scim/v2/Users", Api.User(name)))["id"]!.GetValue<string>());
        while (receivers["plain"].Count < 2 || receivers["batched"].Count < 2) await Task.Delay(20);
        await PollAll(http, pollId, pollToken, 2);
        foreach (var id in new[] { pollId, plainId, batchedId })
            await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{id}", new JsonObject { ["state"] = "disabled" });

        var have = 0;
        var load = new LoadSample(server.Pid);
        var sw = Stopwatch.StartNew();
        for (var round = 100; have < backlog; round++)
        {
            await Wrk.RunAsync("backlog", server.BaseUri, Path.Combine(lua, "create.lua"), [token, round.ToString(CultureInfo.InvariantCulture)], connections, TimeSpan.FromSeconds(Math.Max(2, (backlog - have) / 3000 + 1)));
            have = (await Send(HttpMethod.Get, "scim/v2/Users?count=0", null))["totalResults"]!.GetValue<int>() - victims.Count;
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"Backlog: {have:N0} user creates journaled in {sw.Elapsed.TotalSeconds:F0} s (wrk, {connections} connections) while the three subscriptions were disabled; {load.Describe()}.");
        md.AppendLine();

        // Poll: fan-out and delivery together, from enabling to the last acknowledgement.
        load = new LoadSample(server.Pid);
        sw.Restart();
        await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{pollId}", new JsonObject { ["state"] = "active" });
        var polled = await PollAll(http, pollId, pollToken, have);
        var pollTime = sw.Elapsed;
        md.AppendLine(CultureInfo.InvariantCulture, $"- Poll: {polled:N0} SETs fanned out, polled (maxEvents 1,000) and acknowledged in {pollTime.TotalSeconds:F1} s: **{polled / pollTime.TotalSeconds:N0} events/s** (fan-out included). {load.Describe()}.");

        var phases = new[] { ("plain", plainId, victims[0], "one SET per request, 16 concurrent"), ("batched", batchedId, victims[1], $"pushBatch {pushBatch}, up to 16 concurrent requests") };
        for (var phase = 0; phase < phases.Length; phase++)
        {
            var (name, id, victim, label) = phases[phase];
            var sink = receivers[name];
            sink.Watch[victim] = 0;
            var before = sink.Count;
            var requestsBefore = sink.RequestCount;
            load = new LoadSample(server.Pid);
            sw.Restart();
            await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{id}", new JsonObject { ["state"] = "active" });
            // Let the drain get going, so that some of the backlog is queued and the rest still in the journal.
            await Task.Delay(1000);
            var stats = await Send(HttpMethod.Get, $"feeds/v1/subscriptions/{id}", null);
            var head = await Head(http);
            var queued = stats["stats"]!["pending"]!.GetValue<long>() + stats["stats"]!["inFlight"]!.GetValue<long>();
            var unfanned = head - stats["fanoutPosition"]!.GetValue<long>();
            var urgentSent = Stopwatch.GetTimestamp();
            await Send(HttpMethod.Patch, $"scim/v2/Users/{victim}", Api.Patch("active", false));
            var deadline = DateTime.UtcNow.AddMinutes(5);
            // The backlog, and the deactivations written since this subscription was disabled: this phase's and the earlier ones'.
            var expected = have + phase + 1;
            while (sink.Count - before < expected && DateTime.UtcNow < deadline) await Task.Delay(20);
            var time = sw.Elapsed;
            var pushed = sink.Count - before;
            var requests = sink.RequestCount - requestsBefore;
            var urgent = sink.Deactivated.TryGetValue(victim, out var at) ? $"{Stopwatch.GetElapsedTime(urgentSent, at).TotalMilliseconds:N0} ms" : "never";
            md.AppendLine(CultureInfo.InvariantCulture, $"- Push, {label}: {pushed:N0} SETs in {requests:N0} requests, {time.TotalSeconds:F1} s: **{pushed / time.TotalSeconds:N0} events/s** (fan-out included). {load.Describe()}.");
            md.AppendLine(CultureInfo.InvariantCulture, $"- Urgent ({name}): a deactivation written 1 s after enabling, while {queued:N0} events were queued (pending or in flight) and {unfanned:N0} journal entries were not yet fanned out ({queued + unfanned:N0} ahead of it), arrived **{urgent}** after the write was sent.");
        }
        return md.ToString();
    }

    private static async Task<long> Head(HttpClient http)
    {
        using var resp = await http.GetAsync("scim/v2/Users?count=0");
        return long.Parse(resp.Headers.GetValues("ScimSync-Journal-Position").Single(), CultureInfo.InvariantCulture);
    }

    private static async Task<int> PollAll(HttpClient http, string sub, string pollToken, int expected)
    {
        using var c = new HttpClient { BaseAddress = http.BaseAddress, Timeout = TimeSpan.FromMinutes(1) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", pollToken);
        var got = 0;
        var ack = new JsonArray();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (got < expected && DateTime.UtcNow < deadline)
        {
            var body = new JsonObject { ["maxEvents"] = 1000, ["returnImmediately"] = false, ["ack"] = ack };
            using var resp = await c.PostAsync($"feeds/v1/subscriptions/{sub}/poll", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            var sets = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["sets"]!.AsObject();
            got += sets.Count;
            ack = new JsonArray(sets.Select(kv => (JsonNode)kv.Key).ToArray());
        }
        using var final = await c.PostAsync($"feeds/v1/subscriptions/{sub}/poll", new StringContent(new JsonObject { ["ack"] = ack, ["maxEvents"] = 0, ["returnImmediately"] = true }.ToJsonString(), Encoding.UTF8, "application/json"));
        return got;
    }
}

/// <summary>Small JSON-over-HTTP helpers for the feed benchmarks.</summary>
internal static class Api
{
    public static async Task<JsonObject> SendAsync(HttpClient http, HttpMethod m, string path, JsonObject? body)
    {
        using var req = new HttpRequestMessage(m, path);
        if (body is not null) req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var resp = await http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"{m} {path}: {(int)resp.StatusCode} {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!.AsObject();
    }

    public static JsonObject User(string userName, string? title = null)
    {
        var o = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = userName, ["active"] = true };
        if (title is not null) o["title"] = title;
        return o;
    }

    public static JsonObject Patch(string path, JsonNode value) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
        ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = path, ["value"] = value }),
    };
}
