using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Dialects;

/// <summary>Replays of Okta's SCIM 2.0 provisioning requests (see docs/compatibility.md).</summary>
public sealed class OktaTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static string OktaUser(string userName, string given = "Test", bool active = true) => $$$"""
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{{userName}}}",
         "name":{"givenName":"{{{given}}}","familyName":"User"},
         "emails":[{"primary":true,"value":"{{{userName}}}","type":"work"}],
         "displayName":"{{{given}}} User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
         "groups":[],"password":"1mz050nq","active":{{{(active ? "true" : "false")}}}}
        """;

    [Fact]
    public async Task Import_pages_by_100_with_stable_order_and_integer_counts()
    {
        var p = Unique("okta");
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.Created, (await _c.PostAsync("Users", OktaUser($"{p}{i}@okta.local"))).Status);
        var filter = Uri.EscapeDataString($"userName sw \"{p}\"");
        var a = await _c.GetScimAsync($"Users?filter={filter}&startIndex=1&count=100");
        var b = await _c.GetScimAsync($"Users?filter={filter}&startIndex=1&count=100");
        Assert.Equal(5, a.Json["totalResults"]!.GetValue<int>());
        Assert.Equal(System.Text.Json.JsonValueKind.Number, a.Json["startIndex"]!.GetValueKind());
        Assert.Equal(
            a.Json["Resources"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()),
            b.Json["Resources"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
        var exact = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"userName eq \"{p}3@okta.local\"")}&startIndex=1&count=100");
        Assert.Equal(1, exact.Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Profile_update_is_a_full_put_and_deactivation_a_pathless_patch()
    {
        var name = Unique("okta") + "@okta.local";
        var created = await _c.PostAsync("Users", OktaUser(name));
        var id = created.Json["id"]!.GetValue<string>();
        var put = await _c.PutAsync($"Users/{id}", OktaUser(name, given: "Changed").Replace("\"schemas\"", $"\"id\":\"{id}\",\"schemas\""));
        Assert.Equal(HttpStatusCode.OK, put.Status);
        Assert.Equal("Changed", put.Json["name"]!["givenName"]!.GetValue<string>());
        var deactivate = await _c.PatchAsync($"Users/{id}", """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}
            """);
        Assert.Equal(HttpStatusCode.OK, deactivate.Status);
        Assert.False(deactivate.Json["active"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Group_rename_echoes_the_id_and_members_change_by_value()
    {
        var u = (await _c.PostAsync("Users", OktaUser(Unique("m") + "@okta.local"))).Json["id"]!.GetValue<string>();
        var g = await _c.PostAsync("Groups", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}""");
        Assert.Equal(HttpStatusCode.Created, g.Status);
        var gid = g.Json["id"]!.GetValue<string>();
        var rename = await _c.PatchAsync($"Groups/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"{{{gid}}}","displayName":"Test SCIMv2 renamed"}}]}
            """);
        Assert.True(rename.Status is HttpStatusCode.NoContent or HttpStatusCode.OK, rename.ToString());
        var add = await _c.PatchAsync($"Groups/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{{{u}}}","display":"test.user@okta.local"}]}]}
            """);
        Assert.True(add.Status is HttpStatusCode.NoContent or HttpStatusCode.OK);
        var remove = await _c.PatchAsync($"Groups/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{{{u}}}\"]"}]}
            """);
        Assert.True(remove.Status is HttpStatusCode.NoContent or HttpStatusCode.OK);
        var group = await _c.GetScimAsync($"Groups/{gid}");
        Assert.Equal("Test SCIMv2 renamed", group.Json["displayName"]!.GetValue<string>());
        Assert.Null(group.Json["members"]);
        var otherId = await _c.PatchAsync($"Groups/{gid}", """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"different","displayName":"x"}}]}
            """);
        AssertError(otherId, HttpStatusCode.BadRequest, "mutability");
    }
}
