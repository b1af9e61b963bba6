using ScimSync.Store.Resources;

namespace ScimSync.Server.Resources;

/// <summary>The resource after a write, and the canonical names the client sent (for returned=request).</summary>
public sealed record WriteResult(StoredResource Resource, bool Changed, IReadOnlySet<string>? Requested = null);
