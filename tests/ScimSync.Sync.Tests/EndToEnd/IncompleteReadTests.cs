using System.Text.Json.Nodes;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// A target whose listing does not add up is never read as "these accounts are gone": the real engine
/// against a real `scimsync serve` behind a proxy that spoils its listings.
/// </summary>
[Collection("EndToEnd")]
public sealed class IncompleteReadTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private sealed class Rig(string root, Server source, Server app) : IAsyncDisposable
    {
        public string Root => root;
        public Server Source => source;
        public Server App => app;
        public string Config => Path.Combine(root, "sync.yaml");

        public static async Task<Rig> StartAsync(int users)
        {
            var root = Path.Combine(Path.GetTempPath(), "scimsync-incomplete-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(root);
            var servers = await Task.WhenAll(Server.StartAsync("hr", root), Server.StartAsync("app", root, "--disable", "cursor"));
            for (var i = 0; i < users; i++) await servers[0].CreateUserAsync($"u{i:000}@example.com", kind: "employee");
            return new Rig(root, servers[0], servers[1]);
        }

        public void WriteConfig(Uri target) => File.WriteAllText(Config, $$"""
            state: ./state
            source: { type: scim, url: "{{source.ScimUrl}}", auth: { type: bearer, token: {{source.Token}} } }
            targets:
              - name: app
                url: {{target}}
                auth: { type: bearer, token: {{app.Token}} }
                limits: { maxPageSize: 50 }
            """);

        public async ValueTask DisposeAsync()
        {
            await source.DisposeAsync();
            await app.DisposeAsync();
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A user listing with <paramref name="keep"/> applied to the Resources of each page (totalResults left as it was).</summary>
    private static Func<string, string, string> SpoilUserPages(Func<int, JsonArray, JsonArray> keep) => (path, body) =>
    {
        if (!path.StartsWith("/scim/v2/Users?", StringComparison.Ordinal)) return body;
        var list = JsonNode.Parse(body)!.AsObject();
        var start = list["startIndex"]?.GetValue<int>() ?? 1;
        var resources = (JsonArray)list["Resources"]!;
        var kept = keep(start, resources);
        list["Resources"] = new JsonArray(kept.Select(r => r!.DeepClone()).ToArray());
        return list.ToJsonString();
    };

    private static JsonNode AppTarget(string output) => Cli.Json(output)["targets"]!.AsArray().Single()!;

    [Fact]
    public async Task A_short_page_in_the_middle_unlinks_nothing_recreates_nothing_and_is_reported()
    {
        await using var rig = await Rig.StartAsync(users: 120);
        rig.WriteConfig(rig.App.ScimUrl);
        Assert.Equal(0, (await Cli.RunAsync(RunTimeout, "sync", "run", "--config", rig.Config)).Code);
        var before = (await rig.App.UsersAsync()).Select(u => u.ToJsonString()).Order().ToArray();
        Assert.Equal(120, before.Length);

        // The second page loses 30 of its 50 accounts; totalResults still says 120.
        await using var proxy = await FaultProxy.StartAsync(rig.App.ScimUrl, failEvery: 0,
            rewrite: SpoilUserPages((start, page) => start == 51 ? new JsonArray(page.Take(20).Select(r => r!.DeepClone()).ToArray()) : page));
        rig.WriteConfig(proxy.ScimUrl);
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", rig.Config, "--json");

        Assert.True(code == 1, output);
        var app = AppTarget(output);
        Assert.Contains("short page", app["incomplete"]!.GetValue<string>());
        Assert.DoesNotContain(app["operations"]!.AsArray(), o => o!["verb"]!.GetValue<string>() is "unlink" or "create" or "delete" or "deactivate");
        Assert.Equal(before, (await rig.App.UsersAsync()).Select(u => u.ToJsonString()).Order().ToArray());
        var (_, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", rig.Config, "--json");
        var appStatus = Cli.Json(status).AsArray().Single()!;
        Assert.Equal(120, appStatus["accounts"]!.GetValue<int>()); // the shadow forgot nobody
        Assert.False(appStatus["lastRead"]!["complete"]!.GetValue<bool>());
        // The walk read on from where the short page ended, so it found everyone; it still cannot know that.
        Assert.Equal(120, appStatus["lastRead"]!["accounts"]!.GetValue<int>());
        Assert.NotNull(appStatus["lastRead"]!["lastCompleteAt"]); // the initial run's read
    }

    [Fact]
    public async Task A_read_that_finds_half_the_accounts_is_not_believed_until_confirmed()
    {
        await using var rig = await Rig.StartAsync(users: 120);
        rig.WriteConfig(rig.App.ScimUrl);
        Assert.Equal(0, (await Cli.RunAsync(RunTimeout, "sync", "run", "--config", rig.Config)).Code);

        // A listing that adds up (totalResults 60, 60 returned) but holds only half the accounts.
        await using var proxy = await FaultProxy.StartAsync(rig.App.ScimUrl, failEvery: 0, rewrite: (path, body) =>
        {
            if (!path.StartsWith("/scim/v2/Users?", StringComparison.Ordinal)) return body;
            var list = JsonNode.Parse(body)!.AsObject();
            var start = list["startIndex"]!.GetValue<int>();
            list["totalResults"] = 60;
            list["Resources"] = new JsonArray(((JsonArray)list["Resources"]!).Take(Math.Max(0, 61 - start)).Select(r => r!.DeepClone()).ToArray());
            return list.ToJsonString();
        });
        rig.WriteConfig(proxy.ScimUrl);
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "reconcile", "--config", rig.Config, "--json");

        Assert.True(code == 1, output);
        var app = AppTarget(output);
        Assert.Contains("read 60 accounts where the shadow holds 120", app["incomplete"]!.GetValue<string>());
        Assert.Empty(app["drift"]!.AsArray()); // 60 accounts not seen are not "deleted out of band"
        Assert.Empty(app["planned"]!.AsArray());
        Assert.Equal(120, (await rig.App.UsersAsync()).Count);
    }
}
