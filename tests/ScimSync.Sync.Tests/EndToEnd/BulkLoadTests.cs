using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// An initial load through /Bulk against real `scimsync serve` processes and the real engine: three targets
/// (Bulk with small limits, Bulk turned off by <c>dialect.disableBulk</c>, a server without Bulk) must end in
/// the same state, with the same shadows, links and audit, while a proxy in front of each records what the
/// engine actually sent.
/// </summary>
[Collection("EndToEnd")]
public sealed class BulkLoadTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);
    private const int Users = 90;
    private const int MaxOperations = 7;
    private const int MaxPayload = 4000;

    /// <summary>What one target's proxy saw.</summary>
    private sealed class Seen
    {
        public ConcurrentQueue<(string Method, string Path, byte[] Body, int Status)> Requests { get; } = new();
        public IEnumerable<(byte[] Body, int Status)> Bulks => Requests.Where(r => r.Method == "POST" && r.Path.EndsWith("/Bulk", StringComparison.Ordinal)).Select(r => (r.Body, r.Status));
        public int SinglePosts(string endpoint) => Requests.Count(r => r.Method == "POST" && r.Path.EndsWith("/" + endpoint, StringComparison.Ordinal));
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required string Root { get; init; }
        public required Server Source { get; init; }
        public required Dictionary<string, (Server Server, FaultProxy Proxy, Seen Seen)> Targets { get; init; }
        public string Config => Path.Combine(Root, "sync.yaml");
        public string State => Path.Combine(Root, "state");

        /// <param name="advertise">The bulk target's limits as the engine reads them in its ServiceProviderConfig.</param>
        /// <param name="withoutResources">The bulk target's answers lose the resources our server puts in them, as RFC 7644 allows: the engine must read them back.</param>
        public static async Task<Rig> StartAsync(int advertiseOperations = MaxOperations, int advertisePayload = MaxPayload, bool withoutResources = false)
        {
            static string Strip(string path, string body)
            {
                if (!path.EndsWith("/Bulk", StringComparison.Ordinal)) return body;
                var answer = JsonNode.Parse(body)!;
                foreach (var op in answer["Operations"]!.AsArray())
                    if (op!["status"]!.GetValue<string>().StartsWith('2')) op.AsObject().Remove("response");
                return answer.ToJsonString();
            }
            string Advertise(string path, string body)
            {
                if (!path.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return body;
                var spc = JsonNode.Parse(body)!.AsObject();
                spc["bulk"]!["maxOperations"] = advertiseOperations;
                spc["bulk"]!["maxPayloadSize"] = advertisePayload;
                return spc.ToJsonString();
            }
            var root = Path.Combine(Path.GetTempPath(), "scimsync-bulk-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(root);
            var servers = await Task.WhenAll(
                Server.StartAsync("hr", root),
                Server.StartAsync("bulk", root, "--bulk-max-operations", MaxOperations.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    // Room for the title the proxy adds (AddsTitle); the engine is told MaxPayload.
                    "--bulk-max-payload", (2 * MaxPayload).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                Server.StartAsync("off", root),
                Server.StartAsync("nobulk", root, "--disable", "bulk"));
            var targets = new Dictionary<string, (Server, FaultProxy, Seen)>();
            foreach (var s in servers.Skip(1))
            {
                var seen = new Seen();
                var proxy = await FaultProxy.StartAsync(s.ScimUrl, failEvery: 0, rewrite: s.Name == "bulk" ? Advertise : null, rewritePost: s.Name == "bulk" && withoutResources ? Strip : null,
                    observe: (method, path, body, status) => seen.Requests.Enqueue((method, path, body, status)), rewriteRequest: AddsTitle);
                targets[s.Name] = (s, proxy, seen);
            }
            return new Rig { Root = root, Source = servers[0], Targets = targets };
        }

        public void WriteConfig() => File.WriteAllText(Config, $$"""
            state: ./state
            source: { type: scim, url: "{{Source.ScimUrl}}", auth: { type: bearer, token: {{Source.Token}} } }
            targets:
            {{string.Join("\n", Targets.Select(t => $$"""
              - name: {{t.Key}}
                url: {{t.Value.Proxy.ScimUrl}}
                auth: { type: bearer, token: {{t.Value.Server.Token}} }
                correlation: [externalId]
                groups: { all: true, batchSize: 10 }
                dialect: { disableBulk: {{(t.Key == "off" ? "true" : "false")}} }
            """))}}
            """);

        public async ValueTask DisposeAsync()
        {
            foreach (var (server, proxy, _) in Targets.Values)
            {
                await proxy.DisposeAsync();
                await server.DisposeAsync();
            }
            await Source.DisposeAsync();
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// Every target stores a title the engine never sent on each user it is asked to create, single or in Bulk:
    /// only a shadow read back from the target has it.
    /// </summary>
    private static byte[] AddsTitle(string request, byte[] body)
    {
        static void Title(JsonNode? user)
        {
            if (user is JsonObject u && u["userName"] is not null) u["title"] = "title given by the target";
        }
        if (request.EndsWith("/Users", StringComparison.Ordinal) && request.StartsWith("POST", StringComparison.Ordinal))
        {
            var user = JsonNode.Parse(body);
            Title(user);
            return Encoding.UTF8.GetBytes(user!.ToJsonString());
        }
        if (!request.EndsWith("/Bulk", StringComparison.Ordinal)) return body;
        var bulk = JsonNode.Parse(body)!;
        foreach (var op in bulk["Operations"]!.AsArray())
            if (op!["path"]!.GetValue<string>() == "/Users") Title(op["data"]);
        return Encoding.UTF8.GetBytes(bulk.ToJsonString());
    }

    /// <summary>
    /// The source: <see cref="Users"/> people and three groups (40, 25 and 0 members); on every target, three of
    /// the people exist already (made by hand, not linked, so creating them answers 409 and the engine adopts them).
    /// </summary>
    private static async Task SeedAsync(Rig rig)
    {
        var ids = new List<string>();
        for (var i = 0; i < Users; i++)
            ids.Add((await rig.Source.CreateUserAsync($"person{i:000}@example.com", kind: "employee", department: i % 2 == 0 ? "Sales" : "Support"))["id"]!.GetValue<string>());
        foreach (var (name, members) in new[] { ("Everyone-40", ids.Take(40)), ("Some-25", ids.Skip(50).Take(25)), ("Nobody", ids.Take(0)) })
            await rig.Source.Client.CreateAsync("Groups", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                ["displayName"] = name,
                ["members"] = new JsonArray(members.Select(m => (JsonNode)new JsonObject { ["value"] = m }).ToArray()),
            }, CancellationToken.None);
        foreach (var (server, _, _) in rig.Targets.Values)
            foreach (var i in new[] { 3, 44, 81 })
                await server.CreateUserAsync($"person{i:000}@example.com", userType: "made by hand");
    }

    /// <summary>A target's users (without id and meta) and groups (members by userName), comparable across targets.</summary>
    private static async Task<(string[] Users, string[] Groups)> StateOfAsync(Server target)
    {
        var users = await target.UsersAsync();
        var names = users.ToDictionary(u => u["id"]!.GetValue<string>(), u => u["userName"]!.GetValue<string>());
        var plain = users.Select(u =>
        {
            var copy = u.DeepClone().AsObject();
            copy.Remove("id");
            copy.Remove("meta");
            // Group ids differ between targets; the groups a user is in are compared by name.
            if (copy["groups"] is JsonArray groups)
                copy["groups"] = new JsonArray(groups.Select(g => g!["display"]!.GetValue<string>()).Order(StringComparer.Ordinal).Select(n => (JsonNode)n).ToArray());
            return copy.ToJsonString();
        }).Order(StringComparer.Ordinal).ToArray();
        var groups = (await target.GroupsAsync()).Select(g => g["displayName"]!.GetValue<string>() + ": " +
            string.Join(",", (g["members"] as JsonArray ?? []).Select(m => names[m!["value"]!.GetValue<string>()]).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal).ToArray();
        return (plain, groups);
    }

    /// <summary>
    /// A user without its read-only <c>groups</c>, which the target fills in when groups are made after the
    /// user (the shadow keeps memberships apart, in its groups).
    /// </summary>
    private static JsonObject WithoutGroups(JsonObject user)
    {
        var copy = user.DeepClone().AsObject();
        copy.Remove("groups");
        // The shadow keeps no meta.
        copy.Remove("meta");
        return copy;
    }

    /// <summary>Equal, or the first entry that differs, whole.</summary>
    private static void Same(string[] expected, string[] actual, string other)
    {
        var first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(first < 0 && expected.Length == actual.Length,
            first < 0 ? $"{other}: {expected.Length} entries, bulk: {actual.Length}" : $"{other}: {expected[first]}\nbulk: {actual[first]}");
    }

    private static async Task<JsonArray> LogAsync(string config, string target)
    {
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "log", "--config", config, "--target", target, "--limit", "10000", "--json", "--log-level", "warning");
        Assert.True(code == 0, output);
        return Cli.Json(output).AsArray();
    }

    /// <summary>Every target has the same links, and each shadow account is the account as its target holds it.</summary>
    private static async Task ShadowsHoldWhatTargetsHoldAsync(Rig rig)
    {
        using (var state = SqliteSyncState.Open(rig.State))
        {
            var sourceIds = state.LinksBySource("off").Keys.Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(Users, sourceIds.Length);
            foreach (var (name, t) in rig.Targets)
            {
                Assert.Equal(sourceIds, state.LinksBySource(name).Keys.Order(StringComparer.Ordinal));
                var onTarget = (await t.Server.UsersAsync()).ToDictionary(u => u["id"]!.GetValue<string>());
                var shadow = state.LoadState(name);
                Assert.Equal(Users, shadow.Accounts.Count);
                // Those made by hand were adopted, not created through the proxy: no title.
                Assert.Equal(Users - 3, shadow.Accounts.Count(a => a.Document["title"]?.GetValue<string>() == "title given by the target"));
                foreach (var account in shadow.Accounts)
                    Assert.True(JsonNode.DeepEquals(WithoutGroups(onTarget[account.Id]), WithoutGroups(account.Document)), $"{name}: shadow of {account.UserName} differs from the target: {account.Document.ToJsonString()} vs {onTarget[account.Id].ToJsonString()}");
                Assert.Equal(3, shadow.GroupLinks.Count);
                Assert.Equal([0, 25, 40], shadow.Groups.Select(g => g.Members.Count).Order());
            }
        }
    }

    [Fact]
    public async Task An_initial_load_through_Bulk_ends_where_one_through_single_requests_does()
    {
        await using var rig = await Rig.StartAsync(withoutResources: true);
        await SeedAsync(rig);
        rig.WriteConfig();
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", rig.Config);
        Assert.True(code == 0, output);

        // The same users and groups with the same members on all three targets.
        var states = new Dictionary<string, (string[] Users, string[] Groups)>();
        foreach (var (name, t) in rig.Targets) states[name] = await StateOfAsync(t.Server);
        Assert.Equal(Users, states["bulk"].Users.Length);
        Assert.Equal(["Everyone-40: " + string.Join(",", Enumerable.Range(0, 40).Select(i => $"person{i:000}@example.com")), "Nobody: ",
            "Some-25: " + string.Join(",", Enumerable.Range(50, 25).Select(i => $"person{i:000}@example.com"))], states["bulk"].Groups);
        foreach (var other in new[] { "off", "nobulk" })
        {
            Same(states[other].Users, states["bulk"].Users, other);
            Same(states[other].Groups, states["bulk"].Groups, other);
        }

        // What was sent: Bulk requests within both limits, each operation once; the others never saw /Bulk.
        var bulk = rig.Targets["bulk"].Seen;
        var requests = bulk.Bulks.ToArray();
        Assert.All(requests, r => Assert.Equal(200, r.Status));
        var sent = requests.Select(r => JsonNode.Parse(r.Body)!.AsObject()).ToArray();
        Assert.All(requests, r => Assert.True(r.Body.Length <= MaxPayload, $"{r.Body.Length} bytes"));
        Assert.All(sent, b => Assert.InRange(b["Operations"]!.AsArray().Count, 1, MaxOperations));
        Assert.All(sent, b => Assert.Null(b["failOnErrors"]));
        var ops = sent.SelectMany(b => b["Operations"]!.AsArray()).Select(o => o!.AsObject()).ToArray();
        var userPosts = ops.Where(o => o["path"]!.GetValue<string>() == "/Users").Select(o => o["data"]!["userName"]!.GetValue<string>()).ToArray();
        Assert.Equal(Users, userPosts.Length);
        Assert.Equal(Users, userPosts.Distinct().Count());
        // A group's members travel with it, naming it by bulkId.
        var groupPost = ops.Single(o => o["path"]!.GetValue<string>() == "/Groups" && o["data"]!["displayName"]!.GetValue<string>() == "Everyone-40");
        var holding = sent.Single(b => b["Operations"]!.AsArray().Contains(groupPost))["Operations"]!.AsArray();
        Assert.Equal(4, holding.Count(o => o!["method"]!.GetValue<string>() == "PATCH" && o["path"]!.GetValue<string>() == "/Groups/bulkId:" + groupPost["bulkId"]!.GetValue<string>()));
        Assert.Equal(4, ops.Count(o => o["path"]!.GetValue<string>().StartsWith("/Groups/", StringComparison.Ordinal) && o["path"]!.GetValue<string>().EndsWith(groupPost["bulkId"]!.GetValue<string>(), StringComparison.Ordinal)));
        // The three that existed answered 409 in Bulk and were adopted by a single create (409 again) and a lookup.
        Assert.Equal(3, bulk.SinglePosts("Users"));
        Assert.Equal(0, bulk.SinglePosts("Groups"));
        foreach (var other in new[] { "off", "nobulk" })
        {
            Assert.Empty(rig.Targets[other].Seen.Bulks);
            Assert.Equal(Users, rig.Targets[other].Seen.SinglePosts("Users"));
        }

        // The engine's shadows hold what each target holds (read back after Bulk), and the links are the same.
        await ShadowsHoldWhatTargetsHoldAsync(rig);

        // The audit: one record per operation, the same on every target, creates with their old → new values.
        var logs = new Dictionary<string, JsonArray>();
        foreach (var name in rig.Targets.Keys) logs[name] = await LogAsync(rig.Config, name);
        static string[] Summary(JsonArray log) => log.Select(e => $"{e!["verb"]} {e["subject"]!.GetValue<string>().Split(" [")[0]} {e["result"]}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Summary(logs["off"]), Summary(logs["bulk"]));
        Assert.Equal(Summary(logs["nobulk"]), Summary(logs["bulk"]));
        var creates = logs["bulk"].Where(e => e!["verb"]!.GetValue<string>() == "create" && e["subject"]!.GetValue<string>().StartsWith("user ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Users, creates.Length);
        Assert.All(creates, e => Assert.Equal("ok", e!["result"]!.GetValue<string>()));
        Assert.Equal(Users - 3, creates.Count(e => e!["detail"]?.GetValue<string>() == "bulk"));
        Assert.All(creates, e =>
        {
            var change = e!["changes"]!.AsArray().Single(c => c!["path"]!.GetValue<string>() == "userName")!;
            Assert.Null(change["old"]);
            Assert.Equal(e["userName"]!.GetValue<string>(), change["new"]!.GetValue<string>());
        });
        // Two groups have members to add ("Nobody" has none): one membership record each, as single requests give.
        Assert.Equal(2, logs["bulk"].Count(e => e!["verb"]!.GetValue<string>() == "members"));
    }

    [Fact]
    public async Task A_Bulk_request_refused_as_too_large_is_split_and_nothing_is_lost_or_created_twice()
    {
        // The engine is told the target takes 100 operations a request; the server refuses more than 7 with 413.
        await using var rig = await Rig.StartAsync(advertiseOperations: 100, advertisePayload: 1 << 20);
        await SeedAsync(rig);
        rig.WriteConfig();
        var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", rig.Config);
        Assert.True(code == 0, output);

        var requests = rig.Targets["bulk"].Seen.Bulks.ToArray();
        Assert.Contains(requests, r => r.Status == 413);
        Assert.Contains(requests, r => r.Status == 200);
        Assert.Contains("a Bulk request of", output, StringComparison.Ordinal);
        var bulk = await StateOfAsync(rig.Targets["bulk"].Server);
        var off = await StateOfAsync(rig.Targets["off"].Server);
        Assert.Equal(Users, bulk.Users.Length);
        Same(off.Users, bulk.Users, "off");
        Same(off.Groups, bulk.Groups, "off");
        // Here the answers carry the created users: the shadow takes them from there.
        await ShadowsHoldWhatTargetsHoldAsync(rig);
    }
}
