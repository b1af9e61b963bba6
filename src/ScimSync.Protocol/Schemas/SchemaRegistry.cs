using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;

namespace ScimSync.Protocol.Schemas;

/// <summary>
/// The schemas and resource types a server offers. Built once at start-up and immutable afterwards, so
/// it is shared freely between requests.
/// </summary>
public sealed class SchemaRegistry
{
    private readonly FrozenDictionary<string, ScimSchema> _schemas;
    private readonly FrozenDictionary<string, ResourceTypeDefinition> _byName;
    private readonly FrozenDictionary<string, ResourceTypeDefinition> _byEndpoint;

    public SchemaRegistry(IEnumerable<ScimSchema> schemas, IEnumerable<ResourceTypeDefinition> resourceTypes)
    {
        Schemas = schemas.ToArray();
        ResourceTypes = resourceTypes.ToArray();
        _schemas = Schemas.ToFrozenDictionary(s => s.Id, StringComparer.OrdinalIgnoreCase);
        _byName = ResourceTypes.ToFrozenDictionary(r => r.Name, StringComparer.OrdinalIgnoreCase);
        _byEndpoint = ResourceTypes.ToFrozenDictionary(r => r.Endpoint.TrimStart('/'), StringComparer.OrdinalIgnoreCase);
        foreach (var rt in ResourceTypes)
        {
            if (!_schemas.ContainsKey(rt.Schema)) throw new FormatException($"resource type {rt.Name}: unknown schema {rt.Schema}");
            foreach (var e in rt.SchemaExtensions)
                if (!_schemas.ContainsKey(e.Schema)) throw new FormatException($"resource type {rt.Name}: unknown extension {e.Schema}");
        }
    }

    public IReadOnlyList<ScimSchema> Schemas { get; }
    public IReadOnlyList<ResourceTypeDefinition> ResourceTypes { get; }

    public ResourceTypeDefinition User => _byName["User"];
    public ResourceTypeDefinition Group => _byName["Group"];

    public ScimSchema? FindSchema(string urn) => _schemas.GetValueOrDefault(urn);
    public ResourceTypeDefinition? FindResourceType(string name) => _byName.GetValueOrDefault(name);
    public ResourceTypeDefinition? FindByEndpoint(string endpoint) => _byEndpoint.GetValueOrDefault(endpoint.Trim('/'));

    public ScimSchema CoreSchemaOf(ResourceTypeDefinition rt) => _schemas[rt.Schema];

    /// <summary>
    /// Binds a path to its definition for <paramref name="rt"/>. Returns null when the attribute is not
    /// defined there (the caller decides whether that is an error or "no value", RFC 7644 §3.4.2.1).
    /// Throws invalidPath when a sub-attribute is asked of a simple attribute or a URN is not a schema.
    /// </summary>
    public ResolvedAttribute? Resolve(ResourceTypeDefinition rt, AttributePath path)
    {
        if (path.SchemaUrn is not null)
        {
            var urn = path.SchemaUrn;
            if (string.Equals(urn, rt.Schema, StringComparison.OrdinalIgnoreCase))
                return Bind(_schemas[rt.Schema], null, path);
            var ext = rt.SchemaExtensions.FirstOrDefault(e => string.Equals(e.Schema, urn, StringComparison.OrdinalIgnoreCase));
            if (ext is not null)
                return Bind(_schemas[ext.Schema], ext.Schema, path);
            return null;
        }

        var common = CommonAttributes.Schema.FindAttribute(path.Name);
        if (common is not null) return Bind(CommonAttributes.Schema, null, path);
        var core = _schemas[rt.Schema];
        if (core.FindAttribute(path.Name) is not null) return Bind(core, null, path);
        // Extension attributes SHOULD be qualified (RFC 7644 §3.10); an unqualified name that only one
        // extension defines is accepted, because clients do send them.
        ResolvedAttribute? found = null;
        foreach (var e in rt.SchemaExtensions)
        {
            var s = _schemas[e.Schema];
            if (s.FindAttribute(path.Name) is null) continue;
            if (found is not null) return null;
            found = Bind(s, e.Schema, path);
        }
        return found;
    }

    /// <summary>Whether "urn:...:User" (as split into urn + name by <see cref="AttributePath"/>) names an extension of <paramref name="rt"/>.</summary>
    public string? AsExtensionUrn(ResourceTypeDefinition rt, AttributePath path)
    {
        if (path.SchemaUrn is null || path.SubAttribute is not null) return null;
        var whole = path.SchemaUrn + ":" + path.Name;
        return rt.SchemaExtensions.FirstOrDefault(e => string.Equals(e.Schema, whole, StringComparison.OrdinalIgnoreCase))?.Schema;
    }

    private static ResolvedAttribute? Bind(ScimSchema schema, string? container, AttributePath path)
    {
        var attr = schema.FindAttribute(path.Name);
        if (attr is null) return null;
        if (path.SubAttribute is null) return new ResolvedAttribute(schema, container, attr, null);
        if (!attr.IsComplex)
            throw ScimException.InvalidPath($"\"{attr.Name}\" has no sub-attributes, so \"{path}\" is not a valid path");
        var sub = attr.FindSubAttribute(path.SubAttribute);
        return sub is null ? null : new ResolvedAttribute(schema, container, attr, sub);
    }

    /// <summary>The built-in User, Group and Enterprise User definitions, plus operator schema files.</summary>
    public static SchemaRegistry CreateDefault(string? extensionDirectory = null)
    {
        var schemas = new List<ScimSchema>
        {
            LoadEmbedded("User.json"), LoadEmbedded("Group.json"), LoadEmbedded("EnterpriseUser.json"), LoadEmbedded("ScimSyncAccount.json"),
        };
        var userExtensions = new List<SchemaExtension> { new(ScimSchemaUris.EnterpriseUser, false), new(ScimSchemaUris.ScimSyncAccount, false) };
        var groupExtensions = new List<SchemaExtension>();
        if (extensionDirectory is not null && Directory.Exists(extensionDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(extensionDirectory, "*.json").Order(StringComparer.Ordinal))
            {
                var (schema, extends) = LoadExtensionFile(file);
                if (schemas.Any(s => string.Equals(s.Id, schema.Id, StringComparison.OrdinalIgnoreCase)))
                    throw new FormatException($"{file}: schema {schema.Id} is defined twice");
                schemas.Add(schema);
                foreach (var (rtName, required) in extends)
                {
                    var list = rtName.Equals("User", StringComparison.OrdinalIgnoreCase) ? userExtensions
                        : rtName.Equals("Group", StringComparison.OrdinalIgnoreCase) ? groupExtensions
                        : throw new FormatException($"{file}: can only extend User or Group, not \"{rtName}\"");
                    list.Add(new SchemaExtension(schema.Id, required));
                }
            }
        }
        var resourceTypes = new[]
        {
            new ResourceTypeDefinition
            {
                Id = "User", Name = "User", Endpoint = "/Users", Description = "User Account",
                Schema = ScimSchemaUris.User, SchemaExtensions = userExtensions,
            },
            new ResourceTypeDefinition
            {
                Id = "Group", Name = "Group", Endpoint = "/Groups", Description = "Group",
                Schema = ScimSchemaUris.Group, SchemaExtensions = groupExtensions,
            },
        };
        return new SchemaRegistry(schemas, resourceTypes);
    }

    /// <summary>
    /// An operator extension file is an RFC 7643 §7 schema object plus a ScimSync member
    /// <c>"x-scimsync-extends": [{"resourceType": "User", "required": false}]</c> naming where it attaches.
    /// </summary>
    private static (ScimSchema Schema, List<(string, bool)> Extends) LoadExtensionFile(string file)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new FormatException($"{file}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{file}: invalid JSON: {e.Message}");
        }
        ScimSchema schema;
        try { schema = SchemaJson.ReadSchema(json); }
        catch (FormatException e) { throw new FormatException($"{file}: {e.Message}"); }
        if (!schema.Id.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
            throw new FormatException($"{file}: schema id must be a URN");
        var extends = new List<(string, bool)>();
        if (json["x-scimsync-extends"] is JsonArray arr)
            foreach (var item in arr.OfType<JsonObject>())
                extends.Add((item["resourceType"]?.GetValue<string>() ?? "User", item["required"]?.GetValue<bool>() ?? false));
        else
            extends.Add(("User", false));
        return (schema, extends);
    }

    private static ScimSchema LoadEmbedded(string name)
    {
        var asm = typeof(SchemaRegistry).Assembly;
        var resource = asm.GetManifestResourceNames().Single(n => n.EndsWith("." + name, StringComparison.Ordinal));
        using var stream = asm.GetManifestResourceStream(resource)!;
        return SchemaJson.ReadSchema((JsonObject)JsonNode.Parse(stream)!);
    }
}
