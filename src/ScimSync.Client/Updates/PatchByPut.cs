using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Client.Updates;

/// <summary>
/// Applies a PatchOp locally, for service providers that must not (or cannot) receive PATCH: the resource
/// as read is patched with the same engine our server uses, and the result is what the client PUTs.
/// Attributes the built-in schemas do not define (a provider's own extensions) are carried through
/// untouched, so the PUT does not erase them; operations that target them fail with invalidPath.
/// </summary>
public sealed class PatchByPut
{
    private readonly SchemaRegistry _registry = SchemaRegistry.CreateDefault();
    private readonly ResourceShaper _shaper;
    private readonly PatchEngine _engine;

    public PatchByPut()
    {
        _shaper = new ResourceShaper(_registry);
        _engine = new PatchEngine(_shaper);
    }

    /// <summary>The PatchOp message the client sends (or applies): schemas plus copies of the operations.</summary>
    public static JsonObject Message(IReadOnlyList<JsonObject> operations) => new()
    {
        ["schemas"] = new JsonArray(Protocol.Messages.ScimSchemaUris.PatchOp),
        // Copies: the caller's objects may already belong to another JSON tree (or be reused by it).
        ["Operations"] = new JsonArray(operations.Select(o => (JsonNode)o.DeepClone()).ToArray()),
    };

    /// <summary>
    /// The body to PUT, or null when the operations change nothing (then no request is needed).
    /// Throws <see cref="ScimClientException"/> with the status the service provider would have sent.
    /// </summary>
    public JsonObject? Apply(string endpoint, string id, JsonObject current, IReadOnlyList<JsonObject> operations)
    {
        var rt = _registry.FindByEndpoint(endpoint)
            ?? throw new ScimClientException(501, null, $"PATCH cannot be emulated with PUT on /{endpoint}: the client knows the schemas of /Users and /Groups only");
        try
        {
            var request = PatchRequest.Read(Message(operations));
            var (known, unknown) = Split(current, rt);
            var result = _engine.Apply(_shaper.ReadResource(known, rt), rt, request, id);
            if (!result.Changed) return null;
            return Merge(result.Resource, unknown);
        }
        catch (ScimException e)
        {
            throw new ScimClientException(e.Status, e.ScimType, "PATCH emulated with PUT: " + e.Detail, e);
        }
    }

    /// <summary>Separates what the built-in schemas define from what only the service provider knows.</summary>
    private (JsonObject Known, JsonObject Unknown) Split(JsonObject resource, ResourceTypeDefinition rt)
    {
        var known = new JsonObject();
        var unknown = new JsonObject();
        foreach (var (key, value) in resource)
        {
            if (key.Equals("schemas", StringComparison.OrdinalIgnoreCase))
            {
                known[key] = value?.DeepClone();
                continue;
            }
            var extension = rt.SchemaExtensions.FirstOrDefault(e => e.Schema.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (extension is not null && value is JsonObject ext)
            {
                var schema = _registry.FindSchema(extension.Schema)!;
                var inside = new JsonObject();
                var outside = new JsonObject();
                foreach (var (name, v) in ext)
                    (schema.FindAttribute(name) is null ? outside : inside)[name] = v?.DeepClone();
                if (inside.Count > 0) known[key] = inside;
                if (outside.Count > 0) unknown[key] = outside;
                continue;
            }
            (Defines(rt, key) ? known : unknown)[key] = value?.DeepClone();
        }
        return (known, unknown);
    }

    private bool Defines(ResourceTypeDefinition rt, string key)
    {
        if (rt.IsExtension(key)) return true;
        var path = AttributePath.TryParse(key);
        if (path is null) return false;
        try
        {
            return _registry.Resolve(rt, path) is not null;
        }
        catch (ScimException)
        {
            return false;
        }
    }

    private static JsonObject Merge(JsonObject patched, JsonObject unknown)
    {
        if (patched["schemas"] is not JsonArray schemas)
        {
            schemas = [];
            patched["schemas"] = schemas;
        }
        foreach (var (key, value) in unknown)
        {
            if (patched[key] is JsonObject target && value is JsonObject extra)
            {
                foreach (var (name, v) in extra) target[name] = v?.DeepClone();
            }
            else
            {
                patched[key] = value?.DeepClone();
            }
            // An extension's data needs its URN in "schemas" (RFC 7643 §3).
            if (key.Contains(':', StringComparison.Ordinal) && value is JsonObject
                && !schemas.Any(s => s?.GetValue<string>().Equals(key, StringComparison.OrdinalIgnoreCase) == true))
                schemas.Add(key);
        }
        return patched;
    }
}
