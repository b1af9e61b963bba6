using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>
/// bulkId references (RFC 7644 §3.7.2) resolved in dependency order, in one pass. Alone, after the others: the
/// allocation check counts the whole test process, and tests running beside it (longer on PostgreSQL) were
/// counted with it.
/// </summary>
[Collection(AloneForAllocations.Name)]
public sealed class BulkReferenceTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static JsonObject Bulk(int? failOnErrors, IEnumerable<JsonObject> ops)
    {
        var o = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest") };
        if (failOnErrors is not null) o["failOnErrors"] = failOnErrors;
        o["Operations"] = new JsonArray(ops.Select(x => (JsonNode)x).ToArray());
        return o;
    }

    private static JsonObject GroupOp(string bulkId, string displayName, params string[] memberRefs) => new()
    {
        ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = bulkId,
        ["data"] = new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = displayName,
            ["members"] = new JsonArray(memberRefs.Select(r => (JsonNode)new JsonObject { ["value"] = "bulkId:" + r }).ToArray()),
        },
    };

    /// <summary>
    /// Op i is a group whose member is the group op i+1 creates: only the last can run first. Sweeping the
    /// waiting operations after each creation scanned the references of about n²/2 operations; the memory
    /// that took is the deterministic trace checked here (timing is for docs/benchmarks.md).
    /// </summary>
    [Fact]
    public async Task A_reverse_chain_of_1000_references_resolves_in_one_pass()
    {
        var p = Unique("chain");
        const int n = 1000;
        // Each group carries 20 plain values as well, as real operations carry data that a reference scan reads.
        var ops = Enumerable.Range(0, n).Select(i =>
        {
            var op = i == n - 1 ? GroupOp($"g{i}", $"{p}-{i}") : GroupOp($"g{i}", $"{p}-{i}", $"g{i + 1}");
            op["data"]!["externalId"] = $"{p}-{i}-" + string.Join("-", Enumerable.Range(0, 20));
            return op;
        }).ToList();
        var body = Bulk(null, ops).ToJsonString();
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var r = await _c.PostAsync("Bulk", body);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var results = r.Json["Operations"]!.AsArray();
        Assert.Equal(n, results.Count);
        Assert.All(results, o => Assert.Equal("201", o!["status"]!.GetValue<string>()));
        var ids = results.ToDictionary(o => o!["bulkId"]!.GetValue<string>(), o => o!["location"]!.GetValue<string>().Split('/')[^1]);
        var first = await _c.GetScimAsync($"Groups/{ids["g0"]}");
        Assert.Equal(ids["g1"], first.Json["members"]![0]!["value"]!.GetValue<string>());
        // Creating 1,000 groups over HTTP allocates some tens of MB in this process (server and client);
        // the repeated sweeps added about half a million reference scans on top (555 MiB in all, against 36).
        Assert.True(allocated < 150L << 20, $"the bulk request allocated {allocated / 1048576.0:F0} MiB");
    }

    [Fact]
    public async Task A_failed_operation_fails_what_waits_for_it_transitively_and_cycles_fail()
    {
        var p = Unique("fails");
        var uid = await _c.CreateUserAsync(p + "-taken");
        var ops = new List<JsonObject>
        {
            GroupOp("a", p + "-a", "b"),                      // waits for b, which waits for c, which fails
            GroupOp("b", p + "-b", "c"),
            new() { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "c", ["data"] = User(p + "-taken") },
            GroupOp("x", p + "-x", "y"),                      // a cycle
            GroupOp("y", p + "-y", "x"),
            GroupOp("ok", p + "-ok"),
            new() { ["method"] = "PUT", ["path"] = "/Users/" + uid, ["bulkId"] = "put", ["data"] = User(p + "-taken") },
            GroupOp("refput", p + "-refput", "put"),           // only a POST creates what bulkId: refers to
        };
        var r = await _c.PostAsync("Bulk", Bulk(null, ops));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var status = r.Json["Operations"]!.AsArray().ToDictionary(o => o!["bulkId"]!.GetValue<string>(), o => o!["status"]!.GetValue<string>());
        Assert.Equal("409", status["c"]);
        Assert.Equal("409", status["b"]);
        Assert.Equal("409", status["a"]);
        Assert.Equal("409", status["x"]);
        Assert.Equal("409", status["y"]);
        Assert.Equal("201", status["ok"]);
        Assert.Equal("200", status["put"]);
        Assert.Equal("409", status["refput"]);
    }

    [Fact]
    public async Task FailOnErrors_stops_in_request_order()
    {
        var p = Unique("stop");
        var ops = new List<JsonObject>
        {
            GroupOp("first", p + "-1"),
            GroupOp("bad", p + "-2", "nowhere"),
            GroupOp("third", p + "-3"),
        };
        var r = await _c.PostAsync("Bulk", Bulk(1, ops));
        var done = r.Json["Operations"]!.AsArray().Select(o => (o!["bulkId"]!.GetValue<string>(), o["status"]!.GetValue<string>())).ToArray();
        Assert.Equal([("first", "201"), ("bad", "409")], done);
    }
}

/// <summary>Tests that measure the whole process's allocations run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneForAllocations
{
    public const string Name = "Alone for allocations";
}
