using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.QuirkTarget;

/// <summary>
/// RFC 7644 §3.5.2 PATCH, as much as provisioning clients send: add, replace and remove (op names without
/// case); paths <c>attr</c>, <c>attr.sub</c>, extension-URN-prefixed paths, <c>attr[sub eq "v"]</c> with an
/// optional <c>.sub</c>, and no path with an object whose keys are merged.
/// </summary>
public static class PatchApplier
{
    private const string PatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    private static readonly HashSet<string> MultiValued = new(StringComparer.OrdinalIgnoreCase)
    {
        "emails", "phoneNumbers", "ims", "photos", "addresses", "groups", "entitlements", "roles", "x509Certificates", "members", "schemas",
    };

    /// <summary>Validates the message and returns a function applying its operations to a resource.</summary>
    public static Action<JsonObject> Compile(JsonObject message, ResourceKind kind)
    {
        if (message["schemas"] is JsonArray schemas && !schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var id) && id == PatchOpSchema))
            throw ScimError.BadRequest("invalidSyntax", $"schemas must contain {PatchOpSchema}");
        var operations = Property(message, "Operations") as JsonArray ?? throw ScimError.BadRequest("invalidSyntax", "Operations is required");
        var ops = new List<(string Op, string? Path, JsonNode? Value)>();
        foreach (var node in operations)
        {
            if (node is not JsonObject o) throw ScimError.BadRequest("invalidSyntax", "each operation must be an object");
            var op = (Property(o, "op") as JsonValue)?.TryGetValue<string>(out var s) == true ? s.ToLowerInvariant() : null;
            if (op is not ("add" or "replace" or "remove")) throw ScimError.BadRequest("invalidSyntax", $"unknown op '{Property(o, "op")}'");
            string? path = null;
            if (Property(o, "path") is JsonValue p)
                path = p.TryGetValue<string>(out var ps) && ps.Trim().Length > 0 ? ps.Trim() : throw ScimError.BadRequest("invalidPath", "path must be a non-empty string");
            var value = Property(o, "value");
            if (op == "remove" && path is null) throw ScimError.BadRequest("noTarget", "remove needs a path");
            if (op != "remove" && value is null) throw ScimError.BadRequest("invalidValue", $"{op} needs a value");
            if (op != "remove" && path is null && value is not JsonObject) throw ScimError.BadRequest("invalidValue", $"{op} without a path needs an object value");
            ops.Add((op, path, value));
        }
        var coreSchema = kind.Schema;
        return resource =>
        {
            foreach (var (op, path, value) in ops)
            {
                if (path is null)
                {
                    foreach (var (key, v) in (JsonObject)value!) Apply(resource, op, ParsePath(key, coreSchema, resource), v, addAsMerge: true);
                }
                else Apply(resource, op, ParsePath(path, coreSchema, resource), value, addAsMerge: false);
            }
        };
    }

    /// <summary>A parsed path: optional extension URN, attribute, optional value filter, optional sub-attribute.</summary>
    private sealed record PatchPath(string? Extension, string Attribute, (string Attr, string Value)? Filter, string? Sub);

    private const string EnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    private static PatchPath ParsePath(string path, string coreSchema, JsonObject resource)
    {
        string? extension = null;
        var rest = path;
        if (path.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            // A path naming a whole extension: a schema the resource declares or holds, or the enterprise one.
            if (IsSchemaUrn(resource, path)) return new PatchPath(null, path, null, null);
            // Otherwise the attribute follows the last ':' before any '[' (a filter value may contain ':').
            var bracket = path.IndexOf('[', StringComparison.Ordinal);
            var colon = path.LastIndexOf(':', bracket < 0 ? path.Length - 1 : bracket);
            if (colon <= 0 || colon == path.Length - 1) throw ScimError.BadRequest("invalidPath", $"invalid path '{path}'");
            var urn = path[..colon];
            rest = path[(colon + 1)..];
            if (!string.Equals(urn, coreSchema, StringComparison.OrdinalIgnoreCase)) extension = urn;
        }
        (string, string)? filter = null;
        string? sub = null;
        var open = rest.IndexOf('[', StringComparison.Ordinal);
        string attribute;
        if (open >= 0)
        {
            var close = rest.IndexOf(']', open);
            if (close < 0) throw ScimError.BadRequest("invalidPath", $"invalid path '{path}'");
            attribute = rest[..open];
            filter = ParseValueFilter(rest[(open + 1)..close], path);
            var after = rest[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != '.' || after.Length == 1) throw ScimError.BadRequest("invalidPath", $"invalid path '{path}'");
                sub = after[1..];
            }
        }
        else
        {
            var dot = rest.IndexOf('.', StringComparison.Ordinal);
            attribute = dot < 0 ? rest : rest[..dot];
            sub = dot < 0 ? null : rest[(dot + 1)..];
        }
        if (attribute.Length == 0 || sub is { Length: 0 }) throw ScimError.BadRequest("invalidPath", $"invalid path '{path}'");
        return new PatchPath(extension, attribute, filter, sub);
    }

    private static bool IsSchemaUrn(JsonObject resource, string urn) =>
        string.Equals(urn, EnterpriseUser, StringComparison.OrdinalIgnoreCase)
        || Property(resource, urn) is JsonObject
        || resource["schemas"] is JsonArray schemas && schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var id) && string.Equals(id, urn, StringComparison.OrdinalIgnoreCase));

    private static (string, string) ParseValueFilter(string text, string path)
    {
        var parts = text.Trim().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !parts[1].Equals("eq", StringComparison.OrdinalIgnoreCase))
            throw ScimError.BadRequest("invalidFilter", $"only [attr eq \"value\"] is supported in path '{path}'");
        var literal = parts[2].Trim();
        try
        {
            var value = literal.StartsWith('"') ? JsonSerializer.Deserialize<string>(literal) : literal;
            return (parts[0], value ?? throw ScimError.BadRequest("invalidFilter", $"invalid filter in path '{path}'"));
        }
        catch (JsonException)
        {
            throw ScimError.BadRequest("invalidFilter", $"invalid filter in path '{path}'");
        }
    }

    private static void Apply(JsonObject resource, string op, PatchPath path, JsonNode? value, bool addAsMerge)
    {
        // The container: the resource itself, or the extension object (created on add/replace).
        JsonObject container = resource;
        if (path.Extension is not null)
        {
            var existing = Property(resource, path.Extension);
            if (existing is JsonObject ext) container = ext;
            else if (op == "remove") return;
            else
            {
                container = new JsonObject();
                resource[path.Extension] = container;
                AddSchema(resource, path.Extension);
            }
        }
        else if (path.Attribute.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            // The whole extension object.
            if (op == "remove") { RemoveProperty(resource, path.Attribute); return; }
            if (value is not JsonObject obj) throw ScimError.BadRequest("invalidValue", $"{path.Attribute} needs an object value");
            var target = Property(resource, path.Attribute) as JsonObject;
            if (target is null || op == "replace" && !addAsMerge)
            {
                target = new JsonObject();
                SetProperty(resource, path.Attribute, target);
            }
            foreach (var (k, v) in obj) SetProperty(target, k, Coerce(k, v?.DeepClone()));
            AddSchema(resource, path.Attribute);
            return;
        }

        var name = ActualName(container, path.Attribute);
        var current = Property(container, name);
        var multi = MultiValued.Contains(path.Attribute) || current is JsonArray;

        if (path.Filter is { } f)
        {
            if (current is not JsonArray array)
            {
                if (op == "remove") return;
                array = new JsonArray();
                SetProperty(container, name, array);
            }
            var matches = array.OfType<JsonObject>().Where(e => Property(e, f.Attr) is JsonValue v && v.TryGetValue<string>(out var s) && s == f.Value).ToList();
            switch (op)
            {
                case "remove" when path.Sub is null:
                    foreach (var m in matches) array.Remove(m);
                    break;
                case "remove":
                    foreach (var m in matches) RemoveProperty(m, path.Sub!);
                    break;
                case var _ when path.Sub is null:
                    // replace/add of whole matching elements: merge the given sub-attributes into them.
                    if (value is not JsonObject patch) throw ScimError.BadRequest("invalidValue", "a filtered path needs an object value");
                    if (matches.Count == 0 && op == "add") { array.Add(patch.DeepClone()); break; }
                    if (matches.Count == 0) throw ScimError.BadRequest("noTarget", $"no value matches [{f.Attr} eq \"{f.Value}\"]");
                    foreach (var m in matches)
                        foreach (var (k, v) in patch) SetProperty(m, k, v?.DeepClone());
                    break;
                default:
                    if (matches.Count == 0)
                    {
                        // Entra ID sends replace emails[type eq "work"].value for an address not yet there.
                        array.Add(new JsonObject { [f.Attr] = f.Value, [path.Sub!] = value?.DeepClone() });
                        break;
                    }
                    foreach (var m in matches) SetProperty(m, path.Sub!, value?.DeepClone());
                    break;
            }
            return;
        }

        if (path.Sub is not null)
        {
            // attr.sub on a complex attribute (name.givenName); on a multi-valued one, every element.
            if (current is JsonArray elements)
            {
                foreach (var e in elements.OfType<JsonObject>())
                    if (op == "remove") RemoveProperty(e, path.Sub); else SetProperty(e, path.Sub, value?.DeepClone());
                return;
            }
            if (current is not JsonObject complex)
            {
                if (op == "remove") return;
                complex = new JsonObject();
                SetProperty(container, name, complex);
            }
            if (op == "remove") RemoveProperty(complex, path.Sub);
            else SetProperty(complex, path.Sub, value?.DeepClone());
            return;
        }

        switch (op)
        {
            case "remove" when multi && value is not null && current is JsonArray have:
                // A value list (as Okta sends it, and the engine's memberRemoval: valueList): remove those values.
                var gone = (value is JsonArray toRemove ? toRemove.ToList() : [value]).Select(Key).ToHashSet(StringComparer.Ordinal);
                foreach (var e in have.Where(e => gone.Contains(Key(e))).ToList()) have.Remove(e);
                break;
            case "remove":
                RemoveProperty(container, name);
                break;
            case "add" when multi:
                var list = current as JsonArray;
                if (list is null)
                {
                    list = new JsonArray();
                    SetProperty(container, name, list);
                }
                var present = list.Select(Key).ToHashSet(StringComparer.Ordinal);
                foreach (var v in value is JsonArray many ? many.ToList() : [value])
                    if (present.Add(Key(v))) list.Add(v?.DeepClone());
                break;
            case "add" when current is JsonObject existing && value is JsonObject merge:
                foreach (var (k, v) in merge) SetProperty(existing, k, v?.DeepClone());
                break;
            case "replace" when addAsMerge && current is JsonObject existing && value is JsonObject merge:
                foreach (var (k, v) in merge) SetProperty(existing, k, v?.DeepClone());
                break;
            default:
                var next = value?.DeepClone();
                if (multi && next is not JsonArray) next = new JsonArray(next);
                SetProperty(container, name, Coerce(path.Attribute, next));
                break;
        }
    }

    /// <summary>Identity of a multi-valued element: its "value" when it has one, otherwise its JSON.</summary>
    private static string Key(JsonNode? element) =>
        element is JsonObject o && Property(o, "value") is JsonValue v ? "v:" + v.ToJsonString() : "j:" + (element?.ToJsonString() ?? "null");

    /// <summary>Entra ID sends booleans as "True"/"False" strings.</summary>
    private static JsonNode? Coerce(string attribute, JsonNode? value) =>
        attribute.Equals("active", StringComparison.OrdinalIgnoreCase) && value is JsonValue v && v.TryGetValue<string>(out var s) && bool.TryParse(s, out var b)
            ? JsonValue.Create(b)
            : value;

    private static void AddSchema(JsonObject resource, string urn)
    {
        if (resource["schemas"] is not JsonArray schemas) resource["schemas"] = schemas = new JsonArray();
        if (!schemas.Any(s => s is JsonValue v && v.TryGetValue<string>(out var id) && string.Equals(id, urn, StringComparison.OrdinalIgnoreCase))) schemas.Add(urn);
    }

    private static string ActualName(JsonObject o, string name)
    {
        if (o.ContainsKey(name)) return name;
        foreach (var (key, _) in o)
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase)) return key;
        return name;
    }

    private static JsonNode? Property(JsonObject o, string name) => o.TryGetPropertyValue(ActualName(o, name), out var v) ? v : null;

    private static void SetProperty(JsonObject o, string name, JsonNode? value) => o[ActualName(o, name)] = value;

    private static void RemoveProperty(JsonObject o, string name) => o.Remove(ActualName(o, name));
}
