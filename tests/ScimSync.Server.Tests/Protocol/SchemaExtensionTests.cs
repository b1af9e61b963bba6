using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>A server started with an operator schema file in DATA/schemas.</summary>
public sealed class ExtensionServerFixture : ScimServerFixture
{
    public const string Urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";

    protected override void Prepare(string dataDirectory)
    {
        Directory.CreateDirectory(Path.Combine(dataDirectory, "schemas"));
        File.WriteAllText(Path.Combine(dataDirectory, "schemas", "acme.json"), $$"""
            {
              "id": "{{Urn}}", "name": "AcmeUser", "description": "ACME account data",
              "x-scimsync-extends": [{"resourceType": "User", "required": false}],
              "attributes": [
                {"name": "badgeNumber", "type": "string", "uniqueness": "server", "caseExact": true},
                {"name": "clearance", "type": "string", "canonicalValues": ["public", "secret"]},
                {"name": "hireDate", "type": "dateTime"},
                {"name": "shoeSize", "type": "integer"},
                {"name": "internalScore", "type": "integer", "returned": "never"},
                {"name": "nickname2", "type": "string", "returned": "request"},
                {"name": "employeeKind", "type": "string", "mutability": "immutable"},
                {"name": "site", "type": "complex", "required": false, "subAttributes": [
                  {"name": "code", "type": "string", "required": true},
                  {"name": "floor", "type": "integer"}]}
              ]
            }
            """);
    }
}

public sealed class SchemaExtensionTests(ExtensionServerFixture server) : IClassFixture<ExtensionServerFixture>
{
    private const string Urn = ExtensionServerFixture.Urn;
    private readonly HttpClient _c = server.Client;

    private Task<string> Create(string name, JsonObject ext) => _c.CreateUserAsync(name, u =>
    {
        u["schemas"]!.AsArray().Add(Urn);
        u[Urn] = ext;
    });

    [Fact]
    public async Task Extension_is_discoverable()
    {
        var rt = await _c.GetScimAsync("ResourceTypes/User");
        Assert.Contains(Urn, rt.Json["schemaExtensions"]!.AsArray().Select(e => e!["schema"]!.GetValue<string>()));
        var schema = await _c.GetScimAsync($"Schemas/{Urn}");
        Assert.Equal("AcmeUser", schema.Json["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Characteristics_are_enforced_for_extension_attributes()
    {
        var badge = Unique("B");
        var id = await Create(Unique("x"), new JsonObject
        {
            ["badgeNumber"] = badge, ["clearance"] = "SECRET", ["hireDate"] = "2020-01-02T03:04:05Z", ["shoeSize"] = 44,
            ["internalScore"] = 7, ["nickname2"] = "n2", ["employeeKind"] = "contractor", ["site"] = new JsonObject { ["code"] = "HQ", ["floor"] = 3 },
        });
        var get = await _c.GetScimAsync($"Users/{id}");
        var ext = get.Json[Urn]!;
        Assert.Equal("secret", ext["clearance"]!.GetValue<string>()); // canonical spelling
        Assert.Null(ext["internalScore"]); // returned: never
        Assert.Null(ext["nickname2"]); // returned: request, not requested
        Assert.Equal("n2", (await _c.GetScimAsync($"Users/{id}?attributes={Urn}:nickname2")).Json[Urn]!["nickname2"]!.GetValue<string>());

        var dup = await _c.PostAsync("Users", User(Unique("y"), u => { u["schemas"]!.AsArray().Add(Urn); u[Urn] = new JsonObject { ["badgeNumber"] = badge }; }));
        AssertError(dup, HttpStatusCode.Conflict, "uniqueness");
        var other = await _c.PostAsync("Users", User(Unique("y"), u => { u["schemas"]!.AsArray().Add(Urn); u[Urn] = new JsonObject { ["badgeNumber"] = badge.ToLowerInvariant() }; }));
        Assert.Equal(HttpStatusCode.Created, other.Status); // caseExact uniqueness

        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("replace", $"{Urn}:employeeKind", "employee"))), HttpStatusCode.BadRequest, "mutability");
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("replace", $"{Urn}:shoeSize", "big"))), HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("replace", $"{Urn}:clearance", "top"))), HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("add", $"{Urn}:site", new JsonObject { ["floor"] = 2 }), Op("remove", $"{Urn}:site.code"))), HttpStatusCode.BadRequest, null);

        var byFilter = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"{Urn}:hireDate lt \"2021-01-01T00:00:00Z\" and {Urn}:shoeSize ge 44 and {Urn}:badgeNumber eq \"{badge}\"")}");
        Assert.Equal(1, byFilter.Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_bad_schema_file_stops_the_server_with_a_clear_message()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scimsync-badschema-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "schemas"));
        await File.WriteAllTextAsync(Path.Combine(dir, "schemas", "bad.json"), """{"id":"urn:x:bad","attributes":[{"name":"a","type":"strng"}]}""");
        var e = Assert.Throws<FormatException>(() => ScimSync.Protocol.Schemas.SchemaRegistry.CreateDefault(Path.Combine(dir, "schemas")));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("strng", e.Message);
        Directory.Delete(dir, true);
    }
}
