using System.Text.Json.Nodes;

namespace ScimSync.Protocol.Patching;

public enum PatchOperationType { Add, Remove, Replace }

/// <summary>One element of a PatchOp's <c>Operations</c> (RFC 7644 §3.5.2).</summary>
public sealed record PatchOperation(PatchOperationType Op, PatchPath? Path, JsonNode? Value);
