using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// DESIGN.md invariant 1 with real processes: kill -9 the server while it takes writes and pushes events;
/// after a restart every write that was acknowledged is stored, and its event reaches the receiver.
/// </summary>
public sealed class FeedDurabilityTests
{
    private const string Token = "durability-admin";

    private static HttpClient Client(int port)
    {
        var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return c;
    }

    [Fact]
    public async Task Acknowledged_writes_and_their_events_survive_kill_9()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-dur-" + Guid.NewGuid().ToString("N"));
        await using var receiver = await SetReceiver.StartAsync();
        // A slow receiver keeps pushes in flight when the server dies.
        receiver.Respond = _ => { Thread.Sleep(5); return (202, null, null); };
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token, "--push-allow", "http://127.0.0.1:*");
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        try
        {
            using var c = Client(port);
            var sub = await c.PostAsync("feeds/v1/subscriptions", new StringContent(new JsonObject
            {
                ["name"] = "durable", ["audience"] = "https://receiver.test", ["delivery"] = "push", ["pushUrl"] = receiver.Url,
                ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User"),
            }.ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, sub.StatusCode);

            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        using var resp = await c.PostAsync("scim/v2/Users", new StringContent(
                            $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dur-{{w}}-{{i}}"}""", Encoding.UTF8, "application/scim+json"));
                        if (resp.StatusCode != HttpStatusCode.Created) continue;
                        var id = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
                        acknowledged[id] = 1;
                        using var patch = await c.PatchAsync($"scim/v2/Users/{id}", new StringContent(
                            """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}""", Encoding.UTF8, "application/scim+json"));
                        if (patch.StatusCode == HttpStatusCode.OK) acknowledged[id] = 2;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        // The server is gone: whatever was not acknowledged may or may not have happened.
                    }
                }
            })).ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (acknowledged.Count < 150 && DateTime.UtcNow < deadline) await Task.Delay(20);
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
        }
        finally
        {
            if (!server.HasExited) server.Kill(true);
        }
        Assert.True(acknowledged.Count >= 50, $"only {acknowledged.Count} writes before the kill");

        var port2 = ServeProcess.FreePort();
        var again = await ServeProcess.StartAsync(dataDir, port2, Token, "--push-allow", "http://127.0.0.1:*");
        try
        {
            using var c = Client(port2);
            foreach (var (id, version) in acknowledged)
            {
                var r = await c.GetAsync($"scim/v2/Users/{id}");
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                Assert.True(long.Parse(r.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture) >= version);
            }
            // Every acknowledged change must reach the receiver, at least once.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            HashSet<(string, long)> delivered = [];
            while (DateTime.UtcNow < deadline)
            {
                delivered = receiver.Received.Select(r => Describe(r.Token)).ToHashSet();
                if (acknowledged.All(a => Enumerable.Range(1, (int)a.Value).All(v => delivered.Contains((a.Key, v))))) break;
                await Task.Delay(200);
            }
            var missing = acknowledged.SelectMany(a => Enumerable.Range(1, (int)a.Value).Select(v => (a.Key, (long)v))).Where(x => !delivered.Contains(x)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} acknowledged changes were never delivered, e.g. {missing.FirstOrDefault()}");
        }
        finally
        {
            again.Kill(true);
            await again.WaitForExitAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
            File.Delete(dataDir + ".key"); // beside the data directory
        }
    }

    private static (string Id, long Version) Describe(string token)
    {
        var claims = SetToken.Claims(token);
        var version = claims["events"]!.AsObject().Select(e => e.Value?["version"]?.GetValue<string>()).First(v => v is not null)!;
        return (claims["sub_id"]!["id"]!.GetValue<string>(), long.Parse(version[3..^1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
