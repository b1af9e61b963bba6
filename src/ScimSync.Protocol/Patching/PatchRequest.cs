using System.Text.Json.Nodes;

namespace ScimSync.Protocol.Patching;

/// <summary>A PatchOp message (RFC 7644 §3.5.2), validated for structure.</summary>
public sealed record PatchRequest(IReadOnlyList<PatchOperation> Operations)
{
    /// <summary>
    /// Reads a PatchOp body. Throws 400 invalidSyntax for a wrong structure (missing PatchOp schema,
    /// missing or empty Operations, unknown op), invalidPath/invalidFilter for a bad path, invalidValue for
    /// a missing value on add/replace, noTarget for remove without a path.
    /// </summary>
    public static PatchRequest Read(JsonNode? body) => throw new NotImplementedException();
}
