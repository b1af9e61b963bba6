using System.Collections.Concurrent;
using System.Diagnostics;
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
/// Issue-3 measurements: a backlog of events drained by poll and by push, and an urgent event queued
/// behind that backlog. The backlog is built by creating users while the subscriptions are disabled
/// (fan-out skips them), then enabling them.
/// </summary>
internal static class FeedBench
{
    public static async Task<string> RunAsync(string cli, string work, string lua, int backlog, int connections)
    {
        const string token = "bench-token";
        var md = new StringBuilder();
        await using var receiver = await Receiver.StartAsync();
        await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "feed-data"), token, ["--push-allow", "http://127.0.0.1:*"]);
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        async Task<JsonObject> Send(HttpMethod m, string path, JsonObject? body)
        {
            using var req = new HttpRequestMessage(m, path);
            if (body is not null) req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            using var resp = await http.SendAsync(req);
            var text = await resp.Content.ReadAsStringAsync();
            if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"{m} {path}: {(int)resp.StatusCode} {text}");
            return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!.AsObject();
        }
        var poll = await Send(HttpMethod.Post, "feeds/v1/subscriptions", new JsonObject { ["name"] = "poll", ["audience"] = "bench", ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User") });
        var push = await Send(HttpMethod.Post, "feeds/v1/subscriptions", new JsonObject { ["name"] = "push", ["audience"] = "bench", ["payload"] = "notice", ["delivery"] = "push", ["pushUrl"] = receiver.Url, ["resourceTypes"] = new JsonArray("User") });
        var pollId = poll["id"]!.GetValue<string>();
        var pushId = push["id"]!.GetValue<string>();
        var victim = (await Send(HttpMethod.Post, "scim/v2/Users", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = "victim", ["active"] = true }))["id"]!.GetValue<string>();
        await Task.Delay(500);
        // Drain the victim's create so that its deactivation has nothing of its own queued before it.
        while (receiver.Count < 1) await Task.Delay(20);
        await PollAll(http, pollId, poll["pollToken"]!.GetValue<string>(), 1);
        await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{pollId}", new JsonObject { ["state"] = "disabled" });
        await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{pushId}", new JsonObject { ["state"] = "disabled" });

        // Backlog: `backlog` user creates.
        var have = 0;
        for (var round = 100; have < backlog; round++)
        {
            await Wrk.RunAsync("backlog", server.BaseUri, Path.Combine(lua, "create.lua"), [token, round.ToString(CultureInfo.InvariantCulture)], connections, TimeSpan.FromSeconds(Math.Max(2, (backlog - have) / 3000 + 1)));
            have = (await Send(HttpMethod.Get, "scim/v2/Users?count=0", null))["totalResults"]!.GetValue<int>() - 1;
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"Backlog: {have:N0} user creates journaled while both subscriptions were disabled.");
        md.AppendLine();

        // Fan-out and poll drain.
        var sw = Stopwatch.StartNew();
        await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{pollId}", new JsonObject { ["state"] = "active" });
        var polled = await PollAll(http, pollId, poll["pollToken"]!.GetValue<string>(), have);
        var pollTime = sw.Elapsed;
        md.AppendLine(CultureInfo.InvariantCulture, $"- Poll: {polled:N0} SETs fanned out, polled (maxEvents 1,000) and acknowledged in {pollTime.TotalSeconds:F1} s: {polled / pollTime.TotalSeconds:F0} events/s (fan-out included).");

        // Push drain, with an urgent deactivation issued right after the backlog is enabled.
        var before = receiver.Count;
        sw.Restart();
        await Send(HttpMethod.Patch, $"feeds/v1/subscriptions/{pushId}", new JsonObject { ["state"] = "active" });
        await Task.Delay(2000); // let fan-out queue the backlog first
        var queued = (await Send(HttpMethod.Get, $"feeds/v1/subscriptions/{pushId}", null))["stats"]!["pending"]!.GetValue<long>();
        var urgentSent = DateTimeOffset.UtcNow;
        await Send(HttpMethod.Patch, $"scim/v2/Users/{victim}", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"), ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false }) });
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (receiver.Count - before < have + 1 && DateTime.UtcNow < deadline) await Task.Delay(50);
        var pushTime = sw.Elapsed;
        var pushed = receiver.Count - before;
        var urgentAt = receiver.DeactivatedAt;
        md.AppendLine(CultureInfo.InvariantCulture, $"- Push: {pushed:N0} SETs pushed (one per request, 16 concurrent) in {pushTime.TotalSeconds:F1} s: {pushed / pushTime.TotalSeconds:F0} events/s (fan-out included).");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Urgent: a deactivation written while {queued:N0} routine events were queued for the push receiver arrived {(urgentAt is { } u ? $"{(u - urgentSent).TotalMilliseconds:F0} ms" : "never")} after the write.");
        return md.ToString();
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

    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _count;
        public int Count => Volatile.Read(ref _count);
        public DateTimeOffset? DeactivatedAt { get; private set; }
        public string Url { get; private set; } = "";

        private Receiver(WebApplication app) => _app = app;

        public static async Task<Receiver> StartAsync()
        {
            var b = WebApplication.CreateSlimBuilder();
            b.Logging.ClearProviders();
            b.WebHost.UseUrls("http://127.0.0.1:0");
            var app = b.Build();
            var r = new Receiver(app);
            app.MapPost("/events", async (HttpContext ctx) =>
            {
                using var reader = new StreamReader(ctx.Request.Body);
                var token = await reader.ReadToEndAsync();
                if (r.DeactivatedAt is null && token.Length > 0)
                {
                    var part = token.Split('.')[1].Replace('-', '+').Replace('_', '/');
                    var json = Encoding.UTF8.GetString(Convert.FromBase64String(part.PadRight(part.Length + (4 - part.Length % 4) % 4, '=')));
                    if (json.Contains("prov:deactivate", StringComparison.Ordinal)) r.DeactivatedAt = DateTimeOffset.UtcNow;
                }
                Interlocked.Increment(ref r._count);
                ctx.Response.StatusCode = 202;
            });
            await app.StartAsync();
            r.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/events";
            return r;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
