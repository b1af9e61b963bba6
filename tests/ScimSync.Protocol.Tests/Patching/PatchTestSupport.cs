using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Tests.PatchingTests;

/// <summary>
/// Default schemas, plus a registry with a test extension for characteristics the built-in schemas lack
/// (an immutable attribute, a multi-valued simple attribute, a required attribute).
/// </summary>
internal static class PatchTestSupport
{
    public const string PatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    public const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    public const string Badge = "urn:scimsync:test:2.0:Badge";
    public const string BabsId = "2819c223-7f76-453a-919d-413861904646";
    public const string MandyId = "902c246b-6245-4190-8e05-00816be7344a";

    public static readonly SchemaRegistry Registry = SchemaRegistry.CreateDefault();
    public static readonly ResourceShaper Shaper = new(Registry);
    public static readonly PatchEngine Engine = new(Shaper);

    public static readonly ScimSchema BadgeSchema = new()
    {
        Id = Badge,
        Name = "Badge",
        Attributes =
        [
            new() { Name = "badgeId", Mutability = Mutability.Immutable },
            new() { Name = "tags", MultiValued = true },
            new() { Name = "site", Required = true },
            new() { Name = "floor", Type = AttributeType.Integer },
        ],
    };

    public static readonly SchemaRegistry BadgeRegistry = CreateBadgeRegistry();
    public static readonly PatchEngine BadgeEngine = new(new ResourceShaper(BadgeRegistry));

    private static SchemaRegistry CreateBadgeRegistry()
    {
        var defaults = SchemaRegistry.CreateDefault();
        var user = defaults.User with { SchemaExtensions = [.. defaults.User.SchemaExtensions, new SchemaExtension(Badge, false)] };
        return new SchemaRegistry([.. defaults.Schemas, BadgeSchema], [user, defaults.Group]);
    }

    public static JsonObject Obj(string json) => (JsonObject)JsonNode.Parse(json)!;

    /// <summary>A canonical User with two emails (work primary) and a name.</summary>
    public static JsonObject User() => Obj($$"""
        {"schemas":["{{UserSchema}}"],"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},
         "displayName":"Babs Jensen","active":true,
         "emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]}
        """);

    /// <summary>The same User with an enterprise extension.</summary>
    public static JsonObject EnterpriseUser()
    {
        var u = User();
        u["schemas"] = new JsonArray(UserSchema, Enterprise);
        u[Enterprise] = Obj("""{"employeeNumber":"701984","department":"Tour Operations","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}""");
        return u;
    }

    /// <summary>The RFC 7644 §3.5.2 example group with two members.</summary>
    public static JsonObject Group() => Obj($$"""
        {"schemas":["{{GroupSchema}}"],"displayName":"Tour Guides","members":[
          {"value":"{{BabsId}}","display":"Babs Jensen","type":"User"},
          {"value":"{{MandyId}}","display":"Mandy Pepperidge","type":"User"}]}
        """);

    public static PatchRequest Request(params string[] operations) =>
        PatchRequest.Read(JsonNode.Parse($$"""{"schemas":["{{PatchOp}}"],"Operations":[{{string.Join(",", operations)}}]}"""));

    public static PatchResult PatchUser(JsonObject user, params string[] operations) =>
        Engine.Apply(user, Registry.User, Request(operations));

    public static PatchResult PatchGroup(JsonObject group, params string[] operations) =>
        Engine.Apply(group, Registry.Group, Request(operations));

    public static PatchResult PatchBadgeUser(JsonObject user, params string[] operations) =>
        BadgeEngine.Apply(user, BadgeRegistry.User, Request(operations));

    public static ScimException Fails(string scimType, Action act)
    {
        var e = Assert.Throws<ScimException>(act);
        Assert.Equal(400, e.Status);
        Assert.Equal(scimType, e.ScimType);
        Assert.False(string.IsNullOrWhiteSpace(e.Detail));
        return e;
    }

    /// <summary>Asserts a PATCH fails and leaves its input exactly as it was (atomicity).</summary>
    public static ScimException FailsAtomically(string scimType, JsonObject input, Action<JsonObject> act)
    {
        var snapshot = input.DeepClone();
        var e = Fails(scimType, () => act(input));
        AssertJson(snapshot, input);
        return e;
    }

    public static void AssertJson(string expected, JsonNode? actual) => AssertJson(JsonNode.Parse(expected), actual);

    public static void AssertJson(JsonNode? expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual),
            $"expected: {expected?.ToJsonString() ?? "null"}\nactual:   {actual?.ToJsonString() ?? "null"}");

    public static string[] SchemasOf(JsonObject resource) =>
        ((JsonArray)resource["schemas"]!).Select(s => s!.GetValue<string>()).ToArray();
}
