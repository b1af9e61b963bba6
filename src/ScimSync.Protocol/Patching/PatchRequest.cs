using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Messages;

namespace ScimSync.Protocol.Patching;

/// <summary>A PatchOp message (RFC 7644 §3.5.2), validated for structure.</summary>
public sealed record PatchRequest(IReadOnlyList<PatchOperation> Operations)
{
    /// <summary>
    /// Bounds the work one request can cause; each operation may scan a multi-valued attribute, so an
    /// unbounded list is a cheap way to burn CPU.
    /// </summary>
    public const int MaxOperations = 1000;

    /// <summary>
    /// Reads a PatchOp body. Throws 400 invalidSyntax for a wrong structure (missing PatchOp schema,
    /// missing or empty Operations, unknown op), invalidPath/invalidFilter for a bad path, invalidValue for
    /// a missing value on add/replace, noTarget for remove without a path.
    /// </summary>
    public static PatchRequest Read(JsonNode? body)
    {
        if (body is not JsonObject obj)
            throw ScimException.InvalidSyntax("A PATCH body must be a JSON object with \"schemas\" and \"Operations\"");
        CheckSchemas(Member(obj, "schemas", out _));

        if (Member(obj, "Operations", out _) is not JsonArray ops || ops.Count == 0)
            throw ScimException.InvalidSyntax("\"Operations\" must be a non-empty array of operations");
        if (ops.Count > MaxOperations)
            throw ScimException.InvalidValue($"A PATCH request may contain at most {MaxOperations} operations; this one has {ops.Count}");

        var result = new List<PatchOperation>(ops.Count);
        for (var i = 0; i < ops.Count; i++) result.Add(ReadOperation(ops[i], i));
        return new PatchRequest(result);
    }

    private static void CheckSchemas(JsonNode? schemas)
    {
        var ok = schemas is JsonArray arr && arr.Any(s =>
            s is JsonValue v && v.TryGetValue<string>(out var urn) &&
            string.Equals(urn, ScimSchemaUris.PatchOp, StringComparison.OrdinalIgnoreCase));
        if (!ok) throw ScimException.InvalidSyntax($"\"schemas\" must contain \"{ScimSchemaUris.PatchOp}\"");
    }

    private static PatchOperation ReadOperation(JsonNode? node, int index)
    {
        var where = $"Operations[{index}]";
        if (node is not JsonObject op)
            throw ScimException.InvalidSyntax($"{where} must be a JSON object");

        var opText = Member(op, "op", out _) is JsonValue ov && ov.TryGetValue<string>(out var s) ? s : null;
        // Entra ID sends "Replace"/"Add"; RFC 7644 only shows lower case but nothing is gained by refusing.
        PatchOperationType type = opText?.ToLowerInvariant() switch
        {
            "add" => PatchOperationType.Add,
            "remove" => PatchOperationType.Remove,
            "replace" => PatchOperationType.Replace,
            _ => throw ScimException.InvalidSyntax($"{where}: \"op\" must be \"add\", \"remove\" or \"replace\""),
        };

        PatchPath? path = null;
        // A JSON null path is read as "no path": it carries no target and some clients serialize unset fields.
        var pathNode = Member(op, "path", out _);
        if (pathNode is not null)
        {
            if (pathNode is not JsonValue pv || !pv.TryGetValue<string>(out var pathText))
                throw ScimException.InvalidPath($"{where}: \"path\" must be a string");
            path = ScimFilterParser.ParsePatchPath(pathText);
        }

        var value = Member(op, "value", out var hasValue)?.DeepClone();
        switch (type)
        {
            case PatchOperationType.Remove when path is null:
                throw ScimException.NoTarget($"{where}: \"remove\" requires a \"path\"");
            case PatchOperationType.Add or PatchOperationType.Replace when !hasValue:
                throw ScimException.InvalidValue($"{where}: \"{opText}\" requires a \"value\"");
            case PatchOperationType.Add when value is null:
                throw ScimException.InvalidValue($"{where}: \"add\" needs a non-null \"value\"");
            case PatchOperationType.Add or PatchOperationType.Replace when path is null && value is not JsonObject:
                throw ScimException.InvalidValue($"{where}: without a \"path\", \"value\" must be an object of attributes");
        }
        return new PatchOperation(type, path, value);
    }

    /// <summary>Member names of the message are matched case-insensitively: clients vary "Operations"/"operations".</summary>
    private static JsonNode? Member(JsonObject obj, string name, out bool present)
    {
        foreach (var (k, v) in obj)
        {
            if (!string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) continue;
            present = true;
            return v;
        }
        present = false;
        return null;
    }
}
