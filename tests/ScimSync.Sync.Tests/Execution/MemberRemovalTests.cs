using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.Execution;

/// <summary>Membership removal in both dialects, as the requests a target receives.</summary>
public sealed class MemberRemovalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-members-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Answers like a SCIM service provider with PATCH and records every PATCH body.</summary>
    private sealed class RecordingTarget : HttpMessageHandler
    {
        public List<JsonObject> Patches { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/ServiceProviderConfig", StringComparison.Ordinal))
                return new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = new StringContent("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{"supported":true},"bulk":{"supported":false},"filter":{"supported":true,"maxResults":100}}""", System.Text.Encoding.UTF8, "application/scim+json"),
                };
            if (request.Method == HttpMethod.Patch)
            {
                var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!.AsObject();
                lock (Patches) Patches.Add(body);
                return new HttpResponseMessage(HttpStatusCode.NoContent);
            }
            return new HttpResponseMessage(HttpStatusCode.NotFound);
        }
    }

    private async Task<List<JsonObject>> RemoveAsync(MemberRemoval dialect, params string[] targetIds)
    {
        var target = new RecordingTarget();
        using var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, target);
        using var shadows = SqliteSyncState.Open(Path.Combine(_dir, dialect.ToString()));
        var executor = new TargetExecutor(client, shadows, TimeProvider.System, 4) { BatchSize = 2, MemberRemoval = dialect };
        var plan = new SyncPlan("app", [new ChangeMembers("app", "sg1", "tg1", "Expenses", [], targetIds)], [], new Dictionary<Correlation.Situation, int>(), 0, null);
        var report = await executor.ExecuteAsync(plan, "test", null, CancellationToken.None);
        Assert.Equal(0, report.Failed);
        return target.Patches;
    }

    [Fact]
    public async Task By_default_each_member_is_removed_by_a_value_filter_path()
    {
        var patches = await RemoveAsync(MemberRemoval.Filter, "a1", "b\"2", "c3");
        Assert.Equal(2, patches.Count); // batches of two
        var ops = patches.SelectMany(p => p["Operations"]!.AsArray()).ToArray();
        Assert.Equal(["members[value eq \"a1\"]", "members[value eq \"b\\\"2\"]", "members[value eq \"c3\"]"], ops.Select(o => o!["path"]!.GetValue<string>()));
        Assert.All(ops, o => Assert.Null(o!["value"]));
    }

    [Fact]
    public async Task The_entra_dialect_removes_members_by_a_value_list()
    {
        var patches = await RemoveAsync(MemberRemoval.ValueList, "a1", "b2", "c3");
        Assert.Equal(2, patches.Count);
        var first = Assert.Single(patches[0]["Operations"]!.AsArray())!;
        Assert.Equal("remove", first["op"]!.GetValue<string>());
        Assert.Equal("members", first["path"]!.GetValue<string>());
        Assert.Equal(["a1", "b2"], first["value"]!.AsArray().Select(v => v!["value"]!.GetValue<string>()));
        Assert.Equal(["c3"], patches[1]["Operations"]![0]!["value"]!.AsArray().Select(v => v!["value"]!.GetValue<string>()));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
