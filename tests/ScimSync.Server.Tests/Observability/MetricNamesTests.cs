using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Observability;

/// <summary>
/// After some activity, the real `scimsync serve` process's /metrics holds the server's metrics under the names
/// docs/telemetry.md gives them (one process: in-process hosts side by side would share meters by name).
/// </summary>
public sealed partial class MetricNamesTests
{
    private static readonly string[] Expected =
    [
        "http_server_request_duration_seconds_count",
        "scimsync_store_group_commits_total",
        "scimsync_store_group_members_total",
        "scimsync_store_read_duration_seconds_count",
        "scimsync_feed_queued_total",
        "scimsync_feed_pending",
        "scimsync_feed_dead_letters",
        "scimsync_feed_oldest_pending_age_seconds",
        "scimsync_feed_fanout_lag",
        "scimsync_feed_fanout_lag_age_seconds",
    ];

    [Fact]
    public async Task Metrics_are_present_under_their_documented_names()
    {
        var docs = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "telemetry.md"));
        foreach (var name in Expected)
            Assert.Contains("`" + Regex.Replace(name, "_(count|bucket|sum)$", "") + "`", docs);

        var dataDir = Path.Combine(Path.GetTempPath(), "scimsync-metrics-" + Guid.NewGuid().ToString("N"), "data");
        const string token = "metrics-admin-token";
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, token);
        try
        {
            using var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/") };
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            // A poll subscription nobody polls keeps events pending; a create, a read by id and a search.
            Assert.Equal(HttpStatusCode.Created, (await c.PostAsync("/feeds/v1/subscriptions", new JsonObject { ["name"] = "metrics-test", ["audience"] = "test", ["delivery"] = "poll" })).Status);
            var user = await c.PostAsync("Users", User(Unique("metrics")));
            Assert.Equal(HttpStatusCode.Created, user.Status);
            Assert.Equal(HttpStatusCode.OK, (await c.GetScimAsync("Users/" + user.Json["id"]!.GetValue<string>())).Status);
            Assert.Equal(HttpStatusCode.OK, (await c.GetScimAsync("Users?filter=userName%20sw%20%22metrics%22")).Status);

            // The feed's gauges are refreshed every few seconds by the fan-out loop: wait (bounded) for them.
            string text = "";
            var deadline = DateTime.UtcNow.AddSeconds(30);
            using var http = new HttpClient();
            while (DateTime.UtcNow < deadline)
            {
                text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
                if (Expected.All(Series(text).Contains)) break;
                await Task.Delay(200);
            }
            var series = Series(text);
            Assert.True(Expected.All(series.Contains), "missing: " + string.Join(", ", Expected.Where(n => !series.Contains(n))));
            Assert.Matches("target_info\\{[^}]*service_name=\"scimsync-server\"", text);
            Assert.Matches("scimsync_store_read_duration_seconds_count\\{[^}]*kind=\"find\"", text);
            Assert.Matches("scimsync_store_read_duration_seconds_count\\{(?=[^}]*kind=\"query\")(?=[^}]*scan=\"false\")", text);
            Assert.Matches("scimsync_feed_pending\\{[^}]*subscription=\"metrics-test\"[^}]*\\} [1-9]", text);
            Assert.Matches("http_server_request_duration_seconds_count\\{[^}]*http_route=\"/scim/v2/\\{endpoint\\}/\\{id\\}\"", text);
            // ASP.NET Core's meters are named one by one: the memory pool's counters (updated on every buffer Kestrel
            // rents and returns) and routing's (every request) cost CPU on every request for nothing documented.
            Assert.Contains(series, s => s.StartsWith("kestrel_", StringComparison.Ordinal));
            Assert.DoesNotContain(series, s => s.StartsWith("aspnetcore_memory_pool", StringComparison.Ordinal) || s.StartsWith("aspnetcore_routing", StringComparison.Ordinal));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            // The key file sits beside the data directory, inside the directory deleted here.
            try { Directory.Delete(Path.GetDirectoryName(dataDir)!, recursive: true); } catch (IOException) { }
        }
    }

    private static HashSet<string> Series(string exposition) =>
        exposition.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => SeriesName().Match(l).Value).ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex SeriesName();

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ScimSync.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("ScimSync.slnx not found above " + AppContext.BaseDirectory);
    }
}
