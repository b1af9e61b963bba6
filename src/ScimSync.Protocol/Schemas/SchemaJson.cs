using System.Text.Json.Nodes;
using ScimSync.Protocol.Messages;

namespace ScimSync.Protocol.Schemas;

/// <summary>Reads and writes schema definitions in the RFC 7643 §7 representation.</summary>
public static class SchemaJson
{
    public static ScimSchema ReadSchema(JsonObject json)
    {
        var id = Str(json, "id") ?? throw new FormatException("schema has no \"id\"");
        var attrs = json["attributes"] as JsonArray ?? throw new FormatException($"schema {id} has no \"attributes\" array");
        return new ScimSchema
        {
            Id = id,
            Name = Str(json, "name"),
            Description = Str(json, "description"),
            Attributes = attrs.Select(a => ReadAttribute(a as JsonObject ?? throw new FormatException($"schema {id}: attribute is not an object"), id, 0)).ToArray(),
        };
    }

    private static SchemaAttribute ReadAttribute(JsonObject a, string schemaId, int depth)
    {
        var name = Str(a, "name") ?? throw new FormatException($"schema {schemaId}: attribute without \"name\"");
        if (!AttributePath.IsAttrName(name)) throw new FormatException($"schema {schemaId}: invalid attribute name \"{name}\"");
        var type = ParseEnum<AttributeType>(Str(a, "type") ?? "string", schemaId, name);
        var subs = (a["subAttributes"] as JsonArray)?.Select(s => ReadAttribute((JsonObject)s!, schemaId, depth + 1)).ToArray() ?? [];
        if (type == AttributeType.Complex && depth > 0)
            throw new FormatException($"schema {schemaId}: complex attribute {name} cannot nest complex sub-attributes (RFC 7643 §2.3.8)");
        if (type == AttributeType.Complex && subs.Length == 0)
            throw new FormatException($"schema {schemaId}: complex attribute {name} has no subAttributes");
        return new SchemaAttribute
        {
            Name = name,
            Type = type,
            MultiValued = Bool(a, "multiValued"),
            Description = Str(a, "description"),
            Required = Bool(a, "required"),
            CaseExact = Bool(a, "caseExact"),
            Mutability = ParseEnum<Mutability>(Str(a, "mutability") ?? "readWrite", schemaId, name),
            Returned = ParseEnum<Returned>(Str(a, "returned") ?? "default", schemaId, name),
            Uniqueness = ParseEnum<Uniqueness>(Str(a, "uniqueness") ?? "none", schemaId, name),
            CanonicalValues = Strings(a, "canonicalValues"),
            ReferenceTypes = Strings(a, "referenceTypes"),
            SubAttributes = subs,
        };
    }

    public static JsonObject WriteSchema(ScimSchema s, string location) => new()
    {
        ["schemas"] = new JsonArray(ScimSchemaUris.Schema),
        ["id"] = s.Id,
        ["name"] = s.Name,
        ["description"] = s.Description,
        ["attributes"] = new JsonArray(s.Attributes.Select(a => (JsonNode)WriteAttribute(a)).ToArray()),
        ["meta"] = new JsonObject { ["resourceType"] = "Schema", ["location"] = location },
    };

    private static JsonObject WriteAttribute(SchemaAttribute a)
    {
        var o = new JsonObject
        {
            ["name"] = a.Name,
            ["type"] = Camel(a.Type.ToString()),
            ["multiValued"] = a.MultiValued,
            ["description"] = a.Description ?? "",
            ["required"] = a.Required,
        };
        if (a.Type == AttributeType.Complex)
            o["subAttributes"] = new JsonArray(a.SubAttributes.Select(s => (JsonNode)WriteAttribute(s)).ToArray());
        if (a.CanonicalValues.Count > 0) o["canonicalValues"] = new JsonArray(a.CanonicalValues.Select(v => (JsonNode?)v).ToArray());
        if (a.Type is AttributeType.String or AttributeType.Reference or AttributeType.Binary) o["caseExact"] = a.CaseExact;
        o["mutability"] = Camel(a.Mutability.ToString());
        o["returned"] = Camel(a.Returned.ToString());
        if (a.Type != AttributeType.Complex && a.Type != AttributeType.Boolean) o["uniqueness"] = Camel(a.Uniqueness.ToString());
        if (a.Type == AttributeType.Reference) o["referenceTypes"] = new JsonArray(a.ReferenceTypes.Select(v => (JsonNode?)v).ToArray());
        return o;
    }

    public static JsonObject WriteResourceType(ResourceTypeDefinition rt, string location)
    {
        var o = new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchemaUris.ResourceType),
            ["id"] = rt.Id,
            ["name"] = rt.Name,
            ["endpoint"] = rt.Endpoint,
            ["description"] = rt.Description,
            ["schema"] = rt.Schema,
        };
        if (rt.SchemaExtensions.Count > 0)
            o["schemaExtensions"] = new JsonArray(rt.SchemaExtensions
                .Select(e => (JsonNode)new JsonObject { ["schema"] = e.Schema, ["required"] = e.Required }).ToArray());
        o["meta"] = new JsonObject { ["resourceType"] = "ResourceType", ["location"] = location };
        return o;
    }

    private static string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];

    private static T ParseEnum<T>(string value, string schemaId, string attr) where T : struct, Enum =>
        Enum.TryParse<T>(value, ignoreCase: true, out var r) && !int.TryParse(value, out _)
            ? r
            : throw new FormatException($"schema {schemaId}: attribute {attr} has unknown {typeof(T).Name} \"{value}\"");

    private static string? Str(JsonObject o, string name) => Get(o, name) is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static bool Bool(JsonObject o, string name) => Get(o, name) is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static string[] Strings(JsonObject o, string name) =>
        (Get(o, name) as JsonArray)?.Select(n => n?.GetValue<string>() ?? "").ToArray() ?? [];

    private static JsonNode? Get(JsonObject o, string name)
    {
        foreach (var (k, v) in o)
            if (string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }
}
