using System.Text.Json.Nodes;
using ScimSync.Client.Bulk;
using ScimSync.Client.Tests.Infrastructure;
using ScimSync.Server;

namespace ScimSync.Client.Tests;

public sealed class SmallBulkTarget : TargetFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions options) => options with { BulkMaxOperations = 5, BulkMaxPayloadBytes = 2000 };
}

/// <summary>Bulk requests: split by the advertised limits on the bytes sent, answered per operation.</summary>
public sealed class BulkTests(SmallBulkTarget target) : IClassFixture<SmallBulkTarget>
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static IReadOnlyList<BulkOperation> UserUnit(int i, int padding = 0)
    {
        var user = Resources.User($"bulk-user-{i}");
        if (padding > 0) user["title"] = new string('x', padding);
        return [new BulkOperation("POST", "/Users", "u" + i, user)];
    }

    [Fact]
    public void Requests_stay_within_max_operations_and_the_payload_measured_on_the_bytes_sent()
    {
        // Units of one user, of varying size, and every fifth a group with two PATCHes that refer to it.
        var units = Enumerable.Range(0, 60).Select(i => i % 5 == 4
            ? (IReadOnlyList<BulkOperation>)[new BulkOperation("POST", "/Groups", "g" + i, Resources.Group("G" + i)),
                new BulkOperation("PATCH", "/Groups/bulkId:g" + i, "m" + i + ".0", new JsonObject { ["Operations"] = new JsonArray() }),
                new BulkOperation("PATCH", "/Groups/bulkId:g" + i, "m" + i + ".1", new JsonObject { ["Operations"] = new JsonArray() })]
            : UserUnit(i, padding: i * 7 % 300)).ToArray();
        var batches = BulkBatches.Split(units, maxOperations: 6, maxPayloadBytes: 1500).ToArray();

        Assert.All(batches, b => Assert.True(b.Fits));
        Assert.All(batches, b => Assert.InRange(b.Operations.Count, 1, 6));
        Assert.All(batches, b => Assert.InRange(b.Body.Length, 1, 1500));
        // Each body is exactly its operations, as a BulkRequest without failOnErrors.
        foreach (var b in batches)
        {
            var body = JsonNode.Parse(b.Body.Span)!.AsObject();
            Assert.Equal("urn:ietf:params:scim:api:messages:2.0:BulkRequest", body["schemas"]![0]!.GetValue<string>());
            Assert.Null(body["failOnErrors"]);
            Assert.Equal(b.Operations.Select(o => o.BulkId), body["Operations"]!.AsArray().Select(o => o!["bulkId"]!.GetValue<string>()));
        }
        // Every operation once, in order; a group never apart from the PATCHes that name it.
        Assert.Equal(units.SelectMany(u => u).Select(o => o.BulkId), batches.SelectMany(b => b.Operations).Select(o => o.BulkId));
        Assert.All(batches, b => Assert.All(b.Operations.Where(o => o.Method == "PATCH"), p => Assert.Contains(b.Operations, o => o.Reference == p.Path["/Groups/".Length..])));
        // Requests are full: the next unit would not have fitted, by operations or by bytes (both happen here).
        var unitOf = units.SelectMany((u, i) => u.Select(o => (o.BulkId, i))).ToDictionary(x => x.BulkId, x => x.i);
        var byBytes = 0;
        var byCount = 0;
        for (var k = 0; k + 1 < batches.Length; k++)
        {
            var next = units[unitOf[batches[k + 1].Operations[0].BulkId]];
            var together = BulkBatches.Of([.. batches[k].Operations, .. next]);
            Assert.True(together.Operations.Count > 6 || together.Body.Length > 1500, $"request {k} had room for the next unit");
            if (together.Body.Length > 1500) byBytes++;
            if (together.Operations.Count > 6) byCount++;
        }
        Assert.True(byBytes > 0 && byCount > 0, $"{byBytes} requests closed by bytes, {byCount} by count");
    }

    [Fact]
    public void A_unit_too_large_for_any_request_is_handed_back_to_go_alone()
    {
        var batches = BulkBatches.Split([UserUnit(1), UserUnit(2, padding: 5000), UserUnit(3)], maxOperations: 10, maxPayloadBytes: 2000).ToArray();
        Assert.Equal("u2", Assert.Single(batches, b => !b.Fits).Operations.Single().BulkId);
        Assert.Equal(["u1", "u3"], Assert.Single(batches, b => b.Fits).Operations.Select(o => o.BulkId));
    }

    [Fact]
    public async Task Each_operation_gets_its_own_answer_and_a_group_is_named_by_bulkId_in_the_same_request()
    {
        using var client = target.Server.Client();
        var caps = await client.GetCapabilitiesAsync(None);
        Assert.True(caps.Bulk);
        Assert.Equal(5, caps.BulkMaxOperations);
        Assert.Equal(2000, caps.BulkMaxPayloadSize);

        var taken = Resources.Unique("taken");
        await client.CreateAsync("Users", Resources.User(taken), None);
        var fresh = Resources.Unique("fresh");
        var group = Resources.Unique("group");
        var ops = new[]
        {
            new BulkOperation("POST", "/Users", "a", Resources.User(fresh)),
            new BulkOperation("POST", "/Users", "b", Resources.User(taken)),
            new BulkOperation("POST", "/Groups", "g", Resources.Group(group)),
            new BulkOperation("PATCH", "/Groups/bulkId:g", "m", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                ["Operations"] = new JsonArray(Resources.Op("add", "members", new JsonArray(new JsonObject { ["value"] = "bulkId:a" }))),
            }),
        };
        var results = await client.BulkAsync(BulkBatches.Of(ops), None);

        Assert.Equal(["a", "b", "g", "m"], results.Select(r => r.Operation.BulkId));
        Assert.Equal([201, 409, 201, 200], results.Select(r => r.Status));
        Assert.Equal("uniqueness", results[1].Error().ScimType);
        var user = await client.GetAsync("Users", results[0].Id!, null, None);
        Assert.Equal(fresh, user!["userName"]!.GetValue<string>());
        // Our server answers a user's create with the user as stored (a GET's representation; the group it
        // joined later in the request aside), a group's without.
        var read = user.DeepClone().AsObject();
        Assert.NotNull(read["groups"]);
        read.Remove("groups");
        Assert.True(JsonNode.DeepEquals(read, results[0].Resource), results[0].Response?.ToJsonString());
        Assert.Null(results[2].Resource);
        var created = await client.GetAsync("Groups", results[2].Id!, null, None);
        Assert.Equal(results[0].Id, created!["members"]![0]!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task Creates_run_side_by_side_yet_each_is_answered_and_a_name_is_taken_once()
    {
        using var client = target.Server.Client();
        var twice = Resources.Unique("twice");
        var names = new[] { Resources.Unique("one"), twice, Resources.Unique("two"), twice, Resources.Unique("three") };
        var results = await client.BulkAsync(BulkBatches.Of(names.Select((n, i) => new BulkOperation("POST", "/Users", "c" + i, Resources.User(n))).ToArray()), None);

        Assert.Equal([201, 201, 201], new[] { 0, 2, 4 }.Select(i => results[i].Status));
        Assert.Equal([201, 409], new[] { results[1].Status, results[3].Status }.Order());
        foreach (var r in results.Where(r => r.IsSuccess))
            Assert.Equal(r.Resource!["userName"]!.GetValue<string>(), (await client.GetAsync("Users", r.Id!, null, None))!["userName"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_request_over_the_limits_fails_as_a_whole_with_413()
    {
        using var client = target.Server.Client();
        var tooMany = Enumerable.Range(0, 6).Select(i => new BulkOperation("DELETE", "/Users/nobody-" + i, "d" + i, null)).ToArray();
        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.BulkAsync(BulkBatches.Of(tooMany), None));
        Assert.Equal(413, e.Status);
        var big = Resources.User(Resources.Unique("big"));
        big["title"] = new string('x', 3000);
        e = await Assert.ThrowsAsync<ScimClientException>(() => client.BulkAsync(BulkBatches.Of([new BulkOperation("POST", "/Users", "x", big)]), None));
        Assert.Equal(413, e.Status);
    }
}
