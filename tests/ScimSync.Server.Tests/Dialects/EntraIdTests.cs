using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Dialects;

/// <summary>
/// Replays of the requests Microsoft Entra ID's provisioning service sends (without the
/// aadOptscim062020 flag), as documented in docs/compatibility.md. Bodies are kept as Entra sends them.
/// </summary>
public sealed class EntraIdTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private async Task<string> CreateEntraUser(string userName)
    {
        var body = $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
             "externalId":"{{{Guid.NewGuid()}}}","userName":"{{{userName}}}","active":true,
             "emails":[{"primary":true,"type":"work","value":"{{{userName}}}@testuser.com"}],
             "meta":{"resourceType":"User"},
             "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
             "roles":[]}
            """;
        var r = await _c.PostAsync("Users", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task Create_then_lookup_by_userName_and_externalId()
    {
        var name = Unique("Test_User");
        var id = await CreateEntraUser(name);
        var byName = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"userName eq \"{name}\"")}");
        Assert.Equal(id, byName.Json["Resources"]![0]!["id"]!.GetValue<string>());
        var externalId = (await _c.GetScimAsync($"Users/{id}")).Json["externalId"]!.GetValue<string>();
        var byExt = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"externalId eq \"{externalId}\"")}");
        Assert.Equal(1, byExt.Json["totalResults"]!.GetValue<int>());
        var none = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString("userName eq \"non-existent user\"")}");
        Assert.Equal(0, none.Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Capitalised_ops_string_booleans_and_valuePath_replace()
    {
        var id = await CreateEntraUser(Unique("Test_User"));
        var r = await _c.PatchAsync($"Users/{id}", """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[
               {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
               {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
               {"op":"Replace","path":"active","value":"False"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("updatedEmail@microsoft.com", r.Json["emails"]![0]!["value"]!.GetValue<string>());
        Assert.Equal("updatedFamilyName", r.Json["name"]!["familyName"]!.GetValue<string>());
        Assert.False(r.Json["active"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Pathless_replace_with_dotted_and_qualified_keys()
    {
        var id = await CreateEntraUser(Unique("Test_User"));
        var r = await _c.PatchAsync($"Users/{id}", """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Replace","value":{
                "active":"True","displayName":"Entra Name","name.givenName":"Given",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales"}}]}
            """);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.True(r.Json["active"]!.GetValue<bool>());
        Assert.Equal("Given", r.Json["name"]!["givenName"]!.GetValue<string>());
        Assert.Equal("Sales", r.Json[Enterprise]!["department"]!.GetValue<string>());
    }

    [Fact]
    public async Task Manager_is_sent_as_a_plain_value()
    {
        var manager = await CreateEntraUser(Unique("Manager"));
        var id = await CreateEntraUser(Unique("Report"));
        var r = await _c.PatchAsync($"Users/{id}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"{{{manager}}}"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal(manager, r.Json[Enterprise]!["manager"]!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task Group_lifecycle_with_members_value_lists()
    {
        var u1 = await CreateEntraUser(Unique("GM"));
        var u2 = await CreateEntraUser(Unique("GM"));
        var name = Unique("displayName");
        var created = await _c.PostAsync("Groups", $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
             "externalId":"{{{Guid.NewGuid()}}}","displayName":"{{{name}}}","meta":{"resourceType":"Group"}}
            """);
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var gid = created.Json["id"]!.GetValue<string>();
        var lookup = await _c.GetScimAsync($"Groups?excludedAttributes=members&filter={Uri.EscapeDataString($"displayName eq \"{name}\"")}");
        Assert.Equal(gid, lookup.Json["Resources"]![0]!["id"]!.GetValue<string>());
        var add = await _c.PatchAsync($"Groups/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{{{u1}}}"},{"$ref":null,"value":"{{{u2}}}"}]}]}
            """);
        Assert.True(add.Status is HttpStatusCode.NoContent or HttpStatusCode.OK, add.ToString());
        var remove = await _c.PatchAsync($"Groups/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{{{u1}}}"}]}]}
            """);
        Assert.True(remove.Status is HttpStatusCode.NoContent or HttpStatusCode.OK, remove.ToString());
        var members = (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray();
        Assert.Equal(u2, Assert.Single(members)!["value"]!.GetValue<string>());
        var rename = await _c.PatchAsync($"Groups/{gid}", """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}
            """);
        Assert.True(rename.Status is HttpStatusCode.NoContent or HttpStatusCode.OK);
        var noMembers = await _c.GetScimAsync($"Groups/{gid}?excludedAttributes=members");
        Assert.Null(noMembers.Json["members"]);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Groups/{gid}")).Status);
    }
}
