using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// The contract outside tools rely on (DESIGN.md §4), checked against the real `scimsync serve` process:
/// --urls and --data, SCIMSYNC_ADMIN_TOKEN, /healthz, /scim/v2, bearer auth, data surviving a kill -9.
/// </summary>
public sealed class ServeProcessTests
{
    [Fact]
    public async Task Serve_honours_the_contract_and_keeps_acknowledged_writes_across_kill_9()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-e2e-" + Guid.NewGuid().ToString("N"), "nested", "data");
        const string token = "e2e-admin-token";
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, token);
        var ids = new List<string>();
        try
        {
            Assert.True(File.Exists(Path.Combine(dataDir, "scimsync.db")));
            using var anonymous = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/") };
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("Users")).StatusCode);

            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/") };
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            for (var i = 0; i < 50; i++)
            {
                using var resp = await c.PostAsync("Users", new StringContent(
                    $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"e2e-{{i}}"}""", Encoding.UTF8, "application/scim+json"));
                Assert.Equal(HttpStatusCode.Created, resp.StatusCode);
                Assert.Equal("application/scim+json", resp.Content.Headers.ContentType!.MediaType);
                ids.Add(JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
            }
        }
        finally
        {
            server.Kill(entireProcessTree: true); // SIGKILL: no shutdown hooks, no checkpoint
            await server.WaitForExitAsync();
        }

        var port2 = ServeProcess.FreePort();
        var again = await ServeProcess.StartAsync(dataDir, port2, token);
        try
        {
            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port2}/scim/v2/") };
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            foreach (var id in ids)
                Assert.Equal(HttpStatusCode.OK, (await c.GetAsync($"Users/{id}")).StatusCode);
            var list = JsonNode.Parse(await c.GetStringAsync("Users?filter=userName%20sw%20%22e2e-%22&count=0"))!;
            Assert.Equal(50, list["totalResults"]!.GetValue<int>());
        }
        finally
        {
            again.Kill(entireProcessTree: true);
            await again.WaitForExitAsync();
            try { Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(dataDir))!, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task Token_commands_create_list_and_revoke()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, secret, _) = await RunCli("token", "create", "--name", "okta", "--scopes", "scim:read", "--data", dataDir);
            Assert.Equal(0, code);
            Assert.StartsWith("scimsync_", secret.Trim());
            var (listCode, list, _) = await RunCli("token", "list", "--data", dataDir);
            Assert.Equal(0, listCode);
            Assert.Contains("okta", list);
            Assert.DoesNotContain(secret.Trim(), list);
            Assert.Equal(0, (await RunCli("token", "revoke", "okta", "--data", dataDir)).Code);
            Assert.Equal(1, (await RunCli("token", "revoke", "okta", "--data", dataDir)).Code);
            var (badCode, _, err) = await RunCli("token", "create", "--name", "x", "--scopes", "root", "--data", dataDir);
            Assert.Equal(2, badCode);
            Assert.Contains("Unknown scope", err);
        }
        finally
        {
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
            File.Delete(dataDir + ".key"); // beside the data directory
        }
    }

    [Fact]
    public async Task Events_commands_manage_subscriptions_of_a_running_server()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-evcli-" + Guid.NewGuid().ToString("N"));
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, "cli-admin");
        try
        {
            string[] common = ["--url", $"http://127.0.0.1:{port}", "--token", "cli-admin"];
            var (code, created, err) = await RunCli(["events", "create", "--name", "helpdesk", "--audience", "https://helpdesk.test", "--payload", "full", "--ignore", "title", "--coalesce", "--json", .. common]);
            Assert.True(code == 0, err);
            Assert.Contains("\"secret\"", created);
            Assert.True(System.Text.Json.Nodes.JsonNode.Parse(created)!["coalesce"]!.GetValue<bool>());
            var (_, list, _) = await RunCli(["events", "list", .. common]);
            Assert.Contains("helpdesk", list);
            Assert.Equal(0, (await RunCli(["events", "pause", "helpdesk", .. common])).Code);
            var (_, shown, _) = await RunCli(["events", "show", "helpdesk", "--json", .. common]);
            Assert.Equal("paused", JsonNode.Parse(shown)!["state"]!.GetValue<string>());
            var (badCode, _, badErr) = await RunCli(["events", "create", "--name", "x", "--audience", "a", "--filter", "title regex 1", .. common]);
            Assert.Equal(2, badCode);
            Assert.Contains("400", badErr);
            var (batchCode, _, batchErr) = await RunCli(["events", "create", "--name", "y", "--audience", "a", "--push-batch", "0", .. common]);
            Assert.Equal(2, batchCode);
            Assert.Contains("push-batch", batchErr); // refused by the command line before any request
            // A credential the server refuses is configuration (3), not a mistyped command (2).
            var (wrongCode, _, _) = await RunCli(["events", "list", "--url", $"http://127.0.0.1:{port}", "--token", "wrong"]);
            Assert.Equal(3, wrongCode);
        }
        finally
        {
            server.Kill(true);
            await server.WaitForExitAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
            File.Delete(dataDir + ".key"); // beside the data directory
        }
    }

    [Fact]
    public async Task Serve_switches_make_a_constrained_target()
    {
        var (badCode, _, badErr) = await RunCli("serve", "--disable", "patch,sort", "--data", Path.Combine(Path.GetTempPath(), "scimsync-never-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(2, badCode);
        Assert.Contains("--disable", badErr);

        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-constrained-" + Guid.NewGuid().ToString("N"));
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, "c-admin", "--max-results", "100", "--rate-limit", "5", "--disable", "patch,bulk,cursor");
        try
        {
            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/") };
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "c-admin");
            var spc = JsonNode.Parse(await c.GetStringAsync("ServiceProviderConfig"))!;
            Assert.False(spc["patch"]!["supported"]!.GetValue<bool>());
            Assert.False(spc["bulk"]!["supported"]!.GetValue<bool>());
            Assert.False(spc["pagination"]!["cursor"]!.GetValue<bool>());
            Assert.Equal(100, spc["pagination"]!["maxPageSize"]!.GetValue<int>());
            using var patch = new HttpRequestMessage(HttpMethod.Patch, "Users/x")
            {
                Content = new StringContent("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\",\"path\":\"title\"}]}",
                    Encoding.UTF8, "application/scim+json"),
            };
            Assert.Equal(HttpStatusCode.NotImplemented, (await c.SendAsync(patch)).StatusCode);

            // Five per second: twenty back-to-back requests cannot all pass (they would need 3 s).
            var refused = new List<TimeSpan?>();
            for (var i = 0; i < 20; i++)
            {
                using var r = await c.GetAsync("Users?count=0");
                if (r.StatusCode == HttpStatusCode.TooManyRequests) refused.Add(r.Headers.RetryAfter?.Delta);
                else Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }
            Assert.NotEmpty(refused);
            Assert.All(refused, d => Assert.True(d >= TimeSpan.FromSeconds(1)));
        }
        finally
        {
            server.Kill(true);
            await server.WaitForExitAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
            File.Delete(dataDir + ".key"); // beside the data directory
        }
    }

    private static Task<(int Code, string Out, string Err)> RunCli(params string[] args) => ServeProcess.RunCliAsync(args);
}
