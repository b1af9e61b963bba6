using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>RFC 7644 §3.3 (create) and §3.4.1 (retrieve), RFC 7643 attribute characteristics.</summary>
public sealed class CreateAndRetrieveTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Create_returns_201_with_location_etag_and_meta()
    {
        var name = Unique("bjensen");
        var r = await _c.PostAsync("Users", User(name, u =>
        {
            u["name"] = new JsonObject { ["givenName"] = "Barbara", ["familyName"] = "Jensen" };
            u["id"] = "client-chosen";
            u["meta"] = new JsonObject { ["version"] = "W/\"99\"" };
        }));
        Assert.Equal(HttpStatusCode.Created, r.Status);
        var id = r.Json["id"]!.GetValue<string>();
        Assert.NotEqual("client-chosen", id);
        var meta = r.Json["meta"]!.AsObject();
        Assert.Equal("User", meta["resourceType"]!.GetValue<string>());
        Assert.Equal(meta["created"]!.GetValue<string>(), meta["lastModified"]!.GetValue<string>());
        Assert.Equal(r.Headers.Location!.ToString(), meta["location"]!.GetValue<string>());
        Assert.Equal(r.ETag, meta["version"]!.GetValue<string>());
        Assert.StartsWith("W/\"", r.ETag);
        Assert.Equal("application/scim+json", r.ContentHeaders!.ContentType!.MediaType);
    }

    [Fact]
    public async Task UserName_is_unique_case_insensitively()
    {
        var name = Unique("casey");
        await _c.CreateUserAsync(name);
        var r = await _c.PostAsync("Users", User(name.ToUpperInvariant()));
        AssertError(r, HttpStatusCode.Conflict, "uniqueness");
    }

    [Fact]
    public async Task Deleted_userName_can_be_reused()
    {
        var name = Unique("reuse");
        var id = await _c.CreateUserAsync(name);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Users/{id}")).Status);
        await _c.CreateUserAsync(name);
    }

    [Fact]
    public async Task Password_is_never_returned()
    {
        var id = await _c.CreateUserAsync(Unique("pw"), u => u["password"] = "t1meMa$heen");
        var r = await _c.GetScimAsync($"Users/{id}?attributes=password,userName");
        Assert.Null(r.Json["password"]);
        Assert.NotNull(r.Json["userName"]);
        Assert.DoesNotContain("t1meMa", (await _c.GetScimAsync($"Users/{id}")).Body!.ToJsonString());
    }

    [Theory]
    [InlineData("""{"userName":"x"}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x1","shoeSize":42}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:example:unknown"],"userName":"x2"}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x3","active":"maybe"}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":["x4"]}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x5","emails":[{"value":"a@x","primary":true},{"value":"b@x","primary":true}]}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x6","name":{"nickname":"n"}}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x7","emails":[{"value":"a@x","type":"carrier-pigeon"}]}""", "invalidValue")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x8"}""", "invalidValue")]
    public async Task Bad_resources_get_400_with_the_right_scimType(string body, string scimType)
    {
        var r = await _c.PostAsync("Users", body);
        AssertError(r, HttpStatusCode.BadRequest, scimType);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1,2,3]")]
    [InlineData("")]
    [InlineData("\"just a string\"")]
    public async Task Malformed_bodies_are_invalidSyntax_without_internals(string body)
    {
        var r = await _c.PostAsync("Users", body);
        AssertError(r, HttpStatusCode.BadRequest, "invalidSyntax");
        var detail = r.Json["detail"]!.GetValue<string>();
        Assert.DoesNotContain("System.", detail);
        Assert.DoesNotContain(" at ", detail);
    }

    [Fact]
    public async Task Deeply_nested_body_is_rejected()
    {
        var body = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"deep\",\"x\":" + new string('[', 5000) + new string(']', 5000) + "}";
        var r = await _c.PostAsync("Users", body);
        AssertError(r, HttpStatusCode.BadRequest, "invalidSyntax");
        Assert.Equal(0, (await _c.GetScimAsync("Users?filter=userName eq \"deep\"")).Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Get_unknown_id_is_404_scim_error()
    {
        AssertError(await _c.GetScimAsync("Users/does-not-exist"), HttpStatusCode.NotFound, null);
    }

    [Fact]
    public async Task Attributes_returns_always_attributes_plus_the_listed_ones()
    {
        var id = await _c.CreateUserAsync(Unique("attrs"), u => u["name"] = new JsonObject { ["givenName"] = "A", ["familyName"] = "B" });
        var r = await _c.GetScimAsync($"Users/{id}?attributes=USERNAME");
        Assert.Equal(["id", "schemas", "userName"], r.Json.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray());
        var sub = await _c.GetScimAsync($"Users/{id}?attributes=name.givenName");
        Assert.Equal("A", sub.Json["name"]!["givenName"]!.GetValue<string>());
        Assert.Null(sub.Json["name"]!["familyName"]);
    }

    [Fact]
    public async Task ExcludedAttributes_removes_default_attributes_but_not_always_ones()
    {
        var id = await _c.CreateUserAsync(Unique("excl"), u => u["displayName"] = "Shown");
        var r = await _c.GetScimAsync($"Users/{id}?excludedAttributes=displayName,id,meta");
        Assert.Null(r.Json["displayName"]);
        Assert.Null(r.Json["meta"]);
        Assert.NotNull(r.Json["id"]);
    }

    [Fact]
    public async Task Attributes_and_excludedAttributes_together_are_rejected()
    {
        var id = await _c.CreateUserAsync(Unique("both"));
        AssertError(await _c.GetScimAsync($"Users/{id}?attributes=userName&excludedAttributes=displayName"), HttpStatusCode.BadRequest, "invalidValue");
    }

    [Fact]
    public async Task If_None_Match_with_current_etag_gives_304()
    {
        var id = await _c.CreateUserAsync(Unique("etag"));
        var first = await _c.GetScimAsync($"Users/{id}");
        var again = await _c.SendAsync(HttpMethod.Get, $"Users/{id}", configure: m => m.Headers.TryAddWithoutValidation("If-None-Match", first.ETag));
        Assert.Equal(HttpStatusCode.NotModified, again.Status);
        Assert.Null(again.Body);
    }

    [Fact]
    public async Task Enterprise_extension_round_trips_and_is_listed_in_schemas()
    {
        var id = await _c.CreateUserAsync(Unique("ent"), u =>
        {
            u["schemas"]!.AsArray().Add(Enterprise);
            u[Enterprise] = new JsonObject { ["employeeNumber"] = "701984", ["manager"] = new JsonObject { ["value"] = "m1", ["displayName"] = "ignored" } };
        });
        var r = await _c.GetScimAsync($"Users/{id}");
        Assert.Contains(Enterprise, r.Json["schemas"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal("701984", r.Json[Enterprise]!["employeeNumber"]!.GetValue<string>());
        Assert.Null(r.Json[Enterprise]!["manager"]!["displayName"]); // readOnly input is ignored
    }

    [Fact]
    public async Task Groups_attribute_of_user_is_read_only_and_computed()
    {
        var uid = await _c.CreateUserAsync(Unique("member"), u => u["groups"] = new JsonArray(new JsonObject { ["value"] = "fake" }));
        var gid = await _c.CreateGroupAsync(Unique("team"), uid);
        var r = await _c.GetScimAsync($"Users/{uid}");
        var groups = r.Json["groups"]!.AsArray();
        Assert.Single(groups);
        Assert.Equal(gid, groups[0]!["value"]!.GetValue<string>());
        Assert.Equal("direct", groups[0]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_member_id_is_rejected()
    {
        var r = await _c.PostAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = "g",
            ["members"] = new JsonArray(new JsonObject { ["value"] = "nobody" }),
        });
        AssertError(r, HttpStatusCode.BadRequest, "invalidValue");
    }
}
