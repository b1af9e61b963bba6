using System.Text.Json.Nodes;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>Applies a PatchOp to a canonical resource, atomically (RFC 7644 §3.5.2).</summary>
public sealed class PatchEngine(ResourceShaper shaper)
{
    public ResourceShaper Shaper => shaper;

    /// <summary>The input is never modified; on any error nothing is applied.</summary>
    public PatchResult Apply(JsonObject resource, ResourceTypeDefinition rt, PatchRequest request) =>
        throw new NotImplementedException();
}
