using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Tests.Filtering;

/// <summary>
/// The default User/Group/Enterprise schemas plus a test extension, because the built-in schemas have no
/// integer, decimal, caseExact-string or multi-valued simple attributes to filter on.
/// </summary>
internal static class FilterTestData
{
    public const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    public const string Widget = "urn:scimsync:test:2.0:Widget";

    public static readonly ScimSchema WidgetSchema = new()
    {
        Id = Widget,
        Name = "Widget",
        Attributes =
        [
            new() { Name = "level", Type = AttributeType.Integer },
            new() { Name = "score", Type = AttributeType.Decimal },
            new() { Name = "tags", MultiValued = true },
            new() { Name = "code", CaseExact = true },
            new() { Name = "blob", Type = AttributeType.Binary },
            new() { Name = "secret", Returned = Returned.Never },
        ],
    };

    public static readonly SchemaRegistry Registry = CreateRegistry();

    public static ResourceTypeDefinition User => Registry.User;
    public static ResourceTypeDefinition Group => Registry.Group;

    private static SchemaRegistry CreateRegistry()
    {
        var defaults = SchemaRegistry.CreateDefault();
        var user = defaults.User with { SchemaExtensions = [.. defaults.User.SchemaExtensions, new SchemaExtension(Widget, false)] };
        return new SchemaRegistry([.. defaults.Schemas, WidgetSchema], [user, defaults.Group]);
    }

    public static ResolvedAttribute Resolve(string path, ResourceTypeDefinition? rt = null) =>
        Registry.Resolve(rt ?? User, AttributePath.TryParse(path)!)!;

    public static BoundFilter Bind(string filter, bool strict = true, ResourceTypeDefinition? rt = null) =>
        FilterBinder.Bind(ScimFilterParser.Parse(filter), rt ?? User, Registry, strict);

    public static bool Matches(string filter, JsonObject resource, bool strict = true) =>
        FilterEvaluator.Matches(Bind(filter, strict), resource);

    public static ScimException InvalidFilter(Action act)
    {
        var e = Assert.Throws<ScimException>(act);
        Assert.Equal(400, e.Status);
        Assert.Equal(ScimErrorType.InvalidFilter, e.ScimType);
        return e;
    }

    public static ScimException InvalidPath(Action act)
    {
        var e = Assert.Throws<ScimException>(act);
        Assert.Equal(400, e.Status);
        Assert.Equal(ScimErrorType.InvalidPath, e.ScimType);
        return e;
    }

    /// <summary>
    /// Four users chosen so that every RFC 7644 §3.4.2.2 example selects a different, non-trivial subset:
    /// cwong has a work address at other.com and a home address at example.com (the same-value trap) and
    /// a lastModified that is later as an instant but earlier as text; mpatel the reverse.
    /// </summary>
    public static IReadOnlyDictionary<string, JsonObject> Users() => new Dictionary<string, JsonObject>
    {
        ["bjensen"] = Parse($$"""
            {
              "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "{{Enterprise}}", "{{Widget}}"],
              "id": "2819c223-7f76-453a-919d-413861904646",
              "externalId": "BJensen-Ext",
              "userName": "bjensen",
              "name": { "formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara" },
              "displayName": "Babs Jensen",
              "title": "Tour Guide",
              "userType": "Employee",
              "active": true,
              "emails": [
                { "value": "bjensen@example.com", "type": "work", "primary": true },
                { "value": "babs@jensen.org", "type": "home" }
              ],
              "ims": [ { "value": "bjensen@foo.com", "type": "xmpp" } ],
              "meta": { "resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z" },
              "{{Enterprise}}": {
                "employeeNumber": "701984",
                "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
              },
              "{{Widget}}": { "level": 3, "score": 4.5, "tags": ["alpha", "Beta"], "code": "AbC", "blob": "AAEC" }
            }
            """),
        ["jsmith"] = Parse("""
            {
              "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
              "id": "c3a26dd3-27a0-4dec-a2ac-ce211e105f97",
              "userName": "JSmith",
              "name": { "familyName": "O'Malley", "givenName": "John" },
              "userType": "Intern",
              "active": false,
              "emails": [
                { "value": "john@other.com", "type": "work" },
                { "value": "john@example.net", "type": "home" }
              ],
              "ims": [ { "value": "john@foo.com", "type": "xmpp" } ],
              "meta": { "resourceType": "User", "lastModified": "2011-05-13T06:42:35+02:00" }
            }
            """),
        ["mpatel"] = Parse("""
            {
              "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
              "id": "0e3c1a9e-0a4f-4c55-9d0e-3e7f0f0e3b10",
              "userName": "mpatel",
              "title": "",
              "userType": "Employee",
              "emails": [ { "value": "mpatel@example.org", "type": "home" } ],
              "meta": { "resourceType": "User", "lastModified": "2011-05-13T05:42:33+02:00" }
            }
            """),
        ["cwong"] = Parse("""
            {
              "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
              "id": "7a9c5d1e-54b1-4f1e-a0c2-0b4f2a9e7c33",
              "userName": "cwong",
              "userType": "Employee",
              "emails": [
                { "value": "cwong@other.com", "type": "work" },
                { "value": "cwong@example.com", "type": "home" }
              ],
              "ims": [ { "value": "cwong@foo.com", "type": "aim" } ],
              "meta": { "resourceType": "User", "lastModified": "2011-05-12T23:00:00-07:00" }
            }
            """),
    };

    public static JsonObject Parse(string json) => (JsonObject)JsonNode.Parse(json)!;

    /// <summary>The keys of the sample users <paramref name="filter"/> selects, in order.</summary>
    public static string[] Select(string filter) =>
        Users().Where(u => Matches(filter, u.Value)).Select(u => u.Key).Order(StringComparer.Ordinal).ToArray();
}
