using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Resources;

/// <summary>
/// Turns a client's resource body into the canonical form the rest of the server works with, and checks
/// the rules that hold for a whole resource. The canonical form has schema spellings for every name,
/// extension attributes inside an object keyed by the extension URN, no read-only attributes, and a
/// <c>schemas</c> list recomputed from the data (core first, then each extension that holds a value).
/// </summary>
public sealed class ResourceShaper(SchemaRegistry registry)
{
    public SchemaRegistry Registry => registry;

    /// <summary>Reads a POST or PUT body. Read-only input (id, meta, groups) is ignored (RFC 7644 §3.3, §3.5.1).</summary>
    public JsonObject ReadResource(JsonObject body, ResourceTypeDefinition rt)
    {
        CheckSchemasMember(body, rt);
        var result = new JsonObject();
        foreach (var (key, value) in body)
        {
            if (key.Equals("schemas", StringComparison.OrdinalIgnoreCase)) continue;
            var ext = rt.SchemaExtensions.FirstOrDefault(e => e.Schema.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (ext is not null)
            {
                if (value is null) continue;
                if (value is not JsonObject extObj)
                    throw ScimException.InvalidSyntax($"Extension \"{ext.Schema}\" must be a JSON object");
                var schema = registry.FindSchema(ext.Schema)!;
                foreach (var (name, v) in extObj)
                {
                    var attr = schema.FindAttribute(name)
                        ?? throw ScimException.InvalidSyntax($"Unknown attribute \"{name}\" in extension \"{ext.Schema}\"");
                    SetAttribute(result, new ResolvedAttribute(schema, ext.Schema, attr, null), v);
                }
                continue;
            }
            var path = AttributePath.TryParse(key)
                ?? throw ScimException.InvalidSyntax($"\"{key}\" is not a valid attribute name");
            ResolvedAttribute? resolved;
            try { resolved = registry.Resolve(rt, path); }
            catch (ScimException) { resolved = null; }
            if (resolved is null)
                throw ScimException.InvalidSyntax($"Unknown attribute \"{key}\" for resource type {rt.Name}");
            if (resolved.SubAttribute is not null)
            {
                // "name.givenName": a dotted key is accepted as that sub-attribute (Entra ID does this in PATCH
                // without a path; accepting it in POST/PUT too keeps one reader).
                if (resolved.Attribute.MultiValued)
                    throw ScimException.InvalidSyntax($"\"{key}\" names a sub-attribute of a multi-valued attribute");
                if (resolved.Attribute.Mutability == Mutability.ReadOnly || resolved.SubAttribute.Mutability == Mutability.ReadOnly) continue;
                var parent = Container(result, resolved.ContainerUrn, create: true)!;
                var complex = parent[resolved.Attribute.Name] as JsonObject ?? new JsonObject();
                var sv = ValueCoercer.Coerce(resolved.SubAttribute, value?.DeepClone(), resolved.CanonicalPath);
                if (sv is null) complex.Remove(resolved.SubAttribute.Name); else complex[resolved.SubAttribute.Name] = sv;
                parent[resolved.Attribute.Name] = complex.Count == 0 ? null : complex;
                if (complex.Count == 0) parent.Remove(resolved.Attribute.Name);
                continue;
            }
            SetAttribute(result, resolved, value);
        }
        result.Remove("id");
        return Normalize(result, rt);
    }

    private static void SetAttribute(JsonObject result, ResolvedAttribute resolved, JsonNode? value)
    {
        var attr = resolved.Attribute;
        if (attr.Mutability == Mutability.ReadOnly) return;
        var container = Container(result, resolved.ContainerUrn, create: true)!;
        if (container.ContainsKey(attr.Name))
            throw ScimException.InvalidSyntax($"Attribute \"{resolved.CanonicalPath}\" appears more than once");
        var coerced = ValueCoercer.Coerce(attr, value?.DeepClone(), resolved.CanonicalPath);
        if (coerced is not null) container[attr.Name] = StripReadOnlySubAttributes(attr, coerced);
    }

    /// <summary>Read-only sub-attributes (manager.displayName) are server-computed; client input is dropped.</summary>
    private static JsonNode StripReadOnlySubAttributes(SchemaAttribute attr, JsonNode value)
    {
        if (!attr.IsComplex || attr.SubAttributes.All(s => s.Mutability != Mutability.ReadOnly)) return value;
        foreach (var obj in value is JsonArray a ? a.OfType<JsonObject>() : [(JsonObject)value])
            foreach (var sub in attr.SubAttributes.Where(s => s.Mutability == Mutability.ReadOnly))
                obj.Remove(sub.Name);
        return value;
    }

    private void CheckSchemasMember(JsonObject body, ResourceTypeDefinition rt)
    {
        var schemasNode = body.FirstOrDefault(kv => kv.Key.Equals("schemas", StringComparison.OrdinalIgnoreCase)).Value;
        if (schemasNode is not JsonArray schemas || schemas.Count == 0)
            throw ScimException.InvalidSyntax("The \"schemas\" attribute is required and must be a non-empty array of schema URIs");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var hasCore = false;
        foreach (var s in schemas)
        {
            if (s is not JsonValue v || !v.TryGetValue<string>(out var urn))
                throw ScimException.InvalidSyntax("\"schemas\" must contain only strings");
            if (!seen.Add(urn))
                throw ScimException.InvalidValue($"\"schemas\" lists \"{urn}\" twice");
            if (urn.Equals(rt.Schema, StringComparison.OrdinalIgnoreCase)) hasCore = true;
            else if (!rt.IsExtension(urn) && body.Any(kv => kv.Key.Equals(urn, StringComparison.OrdinalIgnoreCase)))
                throw ScimException.InvalidValue($"\"{urn}\" is not a schema of resource type {rt.Name}");
            // An unknown URN with no data under it is ignored: Entra ID lists
            // "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group" on every group it
            // creates. "schemas" is recomputed from the data anyway, so nothing is lost.
            else if (!rt.IsExtension(urn) && !urn.Contains(':', StringComparison.Ordinal))
                throw ScimException.InvalidValue($"\"{urn}\" is not a schema URI");
        }
        if (!hasCore) throw ScimException.InvalidValue($"\"schemas\" must include \"{rt.Schema}\"");
    }

    /// <summary>
    /// Drops empty extension containers and recomputes <c>schemas</c> from the data, so that a PATCH that
    /// adds the first extension attribute also adds the URN (RFC 7644 §3.5.2) and removing the last drops it.
    /// </summary>
    public JsonObject Normalize(JsonObject resource, ResourceTypeDefinition rt)
    {
        var schemas = new JsonArray(rt.Schema);
        foreach (var ext in rt.SchemaExtensions)
        {
            if (resource[ext.Schema] is JsonObject c && c.Count > 0) schemas.Add(ext.Schema);
            else resource.Remove(ext.Schema);
        }
        resource.Remove("schemas");
        // schemas first, for readers of the stored JSON; JsonObject keeps insertion order.
        var ordered = new JsonObject { ["schemas"] = schemas };
        foreach (var (k, v) in resource.ToArray())
        {
            resource.Remove(k);
            ordered[k] = v;
        }
        return ordered;
    }

    /// <summary>
    /// Rules that hold for every stored state: required attributes present (RFC 7643 §2.2), required
    /// extensions present, at most one <c>primary:true</c> per multi-valued attribute (RFC 7643 §2.4).
    /// </summary>
    public void CheckInvariants(JsonObject resource, ResourceTypeDefinition rt, string scimTypeForRequired = ScimErrorType.InvalidValue)
    {
        CheckSchemaRules(resource, registry.CoreSchemaOf(rt), null, scimTypeForRequired);
        foreach (var ext in rt.SchemaExtensions)
        {
            var container = resource[ext.Schema] as JsonObject;
            if (container is null)
            {
                if (ext.Required) throw new ScimException(400, scimTypeForRequired, $"Extension \"{ext.Schema}\" is required for {rt.Name}");
                continue;
            }
            CheckSchemaRules(container, registry.FindSchema(ext.Schema)!, ext.Schema, scimTypeForRequired);
        }
    }

    /// <summary>
    /// A User's userName must be an identifier RFC 8265 accepts (<see cref="ScimText.UserNameProblem"/>)
    /// whenever it is set or changed; one stored by an earlier build is left as it is.
    /// </summary>
    public static void CheckUserName(JsonObject resource, ResourceTypeDefinition rt, JsonObject? before)
    {
        if (rt.Name != "User" || resource["userName"] is not JsonValue v || !v.TryGetValue<string>(out var name)) return;
        if (before?["userName"] is JsonValue b && b.TryGetValue<string>(out var old) && old == name) return;
        if (ScimText.UserNameProblem(name) is { } problem)
            // Serialized, so that an invisible character shows as its escape.
            throw ScimException.InvalidValue($"userName {System.Text.Json.JsonSerializer.Serialize(name)} {problem} (RFC 8265)");
    }

    private static void CheckSchemaRules(JsonObject container, ScimSchema schema, string? urn, string scimTypeForRequired)
    {
        foreach (var attr in schema.Attributes)
        {
            var value = container[attr.Name];
            var path = urn is null ? attr.Name : urn + ":" + attr.Name;
            if (value is null)
            {
                if (attr.Required && attr.Mutability != Mutability.ReadOnly)
                    throw new ScimException(400, scimTypeForRequired, $"Required attribute \"{path}\" is missing");
                continue;
            }
            if (!attr.IsComplex) continue;
            var values = value is JsonArray arr ? arr.OfType<JsonObject>().ToArray() : value is JsonObject o ? [o] : [];
            foreach (var sub in attr.SubAttributes.Where(s => s.Required && s.Mutability != Mutability.ReadOnly))
                if (values.Any(v => v[sub.Name] is null))
                    throw new ScimException(400, scimTypeForRequired, $"Required sub-attribute \"{path}.{sub.Name}\" is missing");
            if (attr.MultiValued && values.Count(v => v["primary"] is JsonValue p && p.TryGetValue<bool>(out var b) && b) > 1)
                throw ScimException.InvalidValue($"At most one value of \"{path}\" may have \"primary\": true");
        }
    }

    /// <summary>
    /// PUT rules for immutable attributes (RFC 7644 §3.5.1): a value that already exists must be repeated
    /// unchanged or omitted (omitted keeps it); a value that does not exist yet may be set. writeOnly and
    /// readOnly attributes the client cannot see are carried over by the caller.
    /// </summary>
    public void MergeImmutable(JsonObject replacement, JsonObject existing, ResourceTypeDefinition rt)
    {
        foreach (var (schema, urn) in SchemasOf(rt))
        {
            var oldC = urn is null ? existing : existing[urn] as JsonObject;
            if (oldC is null) continue;
            foreach (var attr in schema.Attributes.Where(a => a.Mutability == Mutability.Immutable))
            {
                var old = oldC[attr.Name];
                if (old is null) continue;
                var newC = Container(replacement, urn, create: true)!;
                var incoming = newC[attr.Name];
                if (incoming is null) newC[attr.Name] = old.DeepClone();
                else if (!JsonNode.DeepEquals(incoming, old))
                    throw ScimException.Mutability($"Attribute \"{(urn is null ? attr.Name : urn + ":" + attr.Name)}\" is immutable and cannot be changed");
            }
        }
    }

    public IEnumerable<(ScimSchema Schema, string? Urn)> SchemasOf(ResourceTypeDefinition rt)
    {
        yield return (registry.CoreSchemaOf(rt), null);
        foreach (var e in rt.SchemaExtensions) yield return (registry.FindSchema(e.Schema)!, e.Schema);
    }

    /// <summary>The object that holds the attribute: the resource itself, or its extension container.</summary>
    public static JsonObject? Container(JsonObject resource, string? urn, bool create)
    {
        if (urn is null) return resource;
        if (resource[urn] is JsonObject c) return c;
        if (!create) return null;
        c = new JsonObject();
        resource[urn] = c;
        return c;
    }
}
