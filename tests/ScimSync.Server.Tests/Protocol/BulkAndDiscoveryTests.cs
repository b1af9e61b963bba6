using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>RFC 7644 §3.7 (Bulk) and §4 (discovery).</summary>
public sealed class BulkAndDiscoveryTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static JsonObject Bulk(int? failOnErrors, params JsonObject[] ops)
    {
        var o = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest") };
        if (failOnErrors is not null) o["failOnErrors"] = failOnErrors;
        o["Operations"] = new JsonArray(ops.Select(x => (JsonNode)x).ToArray());
        return o;
    }

    [Fact]
    public async Task Bulk_resolves_bulkId_references_in_any_order()
    {
        var p = Unique("bulk");
        var r = await _c.PostAsync("Bulk", Bulk(null,
            new JsonObject
            {
                ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "g1",
                ["data"] = new JsonObject
                {
                    ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = p,
                    ["members"] = new JsonArray(new JsonObject { ["type"] = "User", ["value"] = "bulkId:u1" }),
                },
            },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u1", ["data"] = User(p + "-alice") }));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var ops = r.Json["Operations"]!.AsArray();
        Assert.Equal(2, ops.Count);
        Assert.All(ops, o => Assert.Equal("201", o!["status"]!.GetValue<string>()));
        var userLocation = ops.Single(o => o!["bulkId"]!.GetValue<string>() == "u1")!["location"]!.GetValue<string>();
        var gid = ops.Single(o => o!["bulkId"]!.GetValue<string>() == "g1")!["location"]!.GetValue<string>().Split('/')[^1];
        var group = await _c.GetScimAsync($"Groups/{gid}");
        Assert.Equal(userLocation.Split('/')[^1], group.Json["members"]![0]!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task Bulk_reports_per_operation_errors_and_stops_at_failOnErrors()
    {
        var p = Unique("bulkerr");
        var r = await _c.PostAsync("Bulk", Bulk(1,
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "a", ["data"] = User(p) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b", ["data"] = User(p) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "c", ["data"] = User(p + "-c") }));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var ops = r.Json["Operations"]!.AsArray();
        Assert.Equal(2, ops.Count);
        Assert.Equal("409", ops[1]!["status"]!.GetValue<string>());
        Assert.Equal("uniqueness", ops[1]!["response"]!["scimType"]!.GetValue<string>());
        Assert.Null(ops[1]!["location"]);
        Assert.Equal(0, (await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"userName eq \"{p}-c\"")}")).Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Bulk_circular_and_unknown_references_fail_with_409()
    {
        var r = await _c.PostAsync("Bulk", Bulk(null,
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "x", ["data"] = new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = "x", ["members"] = new JsonArray(new JsonObject { ["value"] = "bulkId:y" }) } },
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "y", ["data"] = new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = "y", ["members"] = new JsonArray(new JsonObject { ["value"] = "bulkId:x" }) } },
            new JsonObject { ["method"] = "PATCH", ["path"] = "/Users/bulkId:nope", ["data"] = Patch(Op("replace", "title", "t")) }));
        Assert.All(r.Json["Operations"]!.AsArray(), o => Assert.Equal("409", o!["status"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Bulk_over_maxOperations_is_413()
    {
        var ops = Enumerable.Range(0, 1001).Select(i => new JsonObject { ["method"] = "DELETE", ["path"] = $"/Users/x{i}" }).ToArray();
        AssertError(await _c.PostAsync("Bulk", Bulk(null, ops)), HttpStatusCode.RequestEntityTooLarge, null);
    }

    [Fact]
    public async Task ServiceProviderConfig_describes_the_server()
    {
        var r = await _c.GetScimAsync("ServiceProviderConfig");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.True(r.Json["patch"]!["supported"]!.GetValue<bool>());
        Assert.Equal(1000, r.Json["filter"]!["maxResults"]!.GetValue<int>());
        Assert.Equal(1000, r.Json["bulk"]!["maxOperations"]!.GetValue<int>());
        Assert.True(r.Json["pagination"]!["cursor"]!.GetValue<bool>());
        Assert.Equal("index", r.Json["pagination"]!["defaultPaginationMethod"]!.GetValue<string>());
        Assert.Equal("oauthbearertoken", r.Json["authenticationSchemes"]![0]!["type"]!.GetValue<string>());
        Assert.Equal("none", r.Json["securityEvents"]!["asyncRequest"]!.GetValue<string>());
        Assert.Contains("urn:ietf:params:scim:event:prov:deactivate", r.Json["securityEvents"]!["eventUris"]!.AsArray().Select(u => u!.GetValue<string>()));
        // No --documentation-url: no link to a page nobody set up.
        Assert.False(r.Json.ContainsKey("documentationUri"));
    }

    [Fact]
    public async Task ResourceTypes_and_Schemas_are_list_responses_and_addressable()
    {
        var rts = await _c.GetScimAsync("ResourceTypes");
        Assert.Equal(2, rts.Json["totalResults"]!.GetValue<int>());
        var user = await _c.GetScimAsync("ResourceTypes/User");
        Assert.Equal("/Users", user.Json["endpoint"]!.GetValue<string>());
        Assert.Equal(Enterprise, user.Json["schemaExtensions"]![0]!["schema"]!.GetValue<string>());
        var schemas = await _c.GetScimAsync("Schemas");
        var ids = schemas.Json["Resources"]!.AsArray().Select(s => s!["id"]!.GetValue<string>()).ToArray();
        Assert.Contains(UserSchema, ids);
        Assert.DoesNotContain(ids, i => i.StartsWith("urn:ietf:params:scim:api:", StringComparison.Ordinal));
        var one = await _c.GetScimAsync($"Schemas/{UserSchema}");
        var userName = one.Json["attributes"]!.AsArray().Single(a => a!["name"]!.GetValue<string>() == "userName")!;
        Assert.Equal("server", userName["uniqueness"]!.GetValue<string>());
        Assert.True(userName["required"]!.GetValue<bool>());
        AssertError(await _c.GetScimAsync("Schemas/urn:nope"), HttpStatusCode.NotFound, null);
    }

    [Fact]
    public async Task Discovery_with_a_filter_is_403()
    {
        AssertError(await _c.GetScimAsync("ResourceTypes?filter=name%20eq%20%22User%22"), HttpStatusCode.Forbidden, null);
    }
}
