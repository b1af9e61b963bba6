using System.Text.Json.Nodes;

namespace ScimSync.Protocol.Patching;

/// <summary>
/// The outcome of applying a PatchOp: the new canonical resource, whether anything changed (a no-op
/// must not move lastModified or the ETag), and the canonical paths of the attributes that changed.
/// </summary>
public sealed record PatchResult(JsonObject Resource, bool Changed, IReadOnlyList<string> ChangedAttributes);
