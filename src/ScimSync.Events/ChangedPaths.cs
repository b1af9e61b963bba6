using System.Text.Json.Nodes;
using ScimSync.Protocol.Patching;

namespace ScimSync.Events;

/// <summary>
/// Attribute paths (RFC 7644 §3.10) that describe a change: what a notice lists, and what a receiver reads out
/// of a <c>:full</c> payload to apply <see cref="EventUrgency"/> to it.
/// </summary>
public static class ChangedPaths
{
    /// <summary>
    /// Every attribute present in a resource, extension attributes as "urn:…:name"; never schemas, id, meta
    /// or a password (RFC 7643 §4.1.1: returned "never").
    /// </summary>
    public static IEnumerable<string> Of(JsonObject resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        foreach (var (name, value) in resource)
        {
            if (name is "schemas" or "id" or "meta" || IsPassword(name)) continue;
            if (name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && value is JsonObject extension)
                foreach (var (sub, _) in extension)
                    yield return name + ":" + sub;
            else
                yield return name;
        }
    }

    /// <summary>
    /// The attributes a PatchOp's operations target: each path's attribute ("members" for
    /// <c>members[value eq "x"]</c>), and for a path-less value each of its members, a schema URN's object by
    /// its attributes (<c>{"urn:…:core:2.0:Group":{"members":…}}</c> targets "urn:…:core:2.0:Group:members").
    /// </summary>
    public static IEnumerable<string> Of(PatchRequest patch)
    {
        ArgumentNullException.ThrowIfNull(patch);
        foreach (var op in patch.Operations)
        {
            if (op.Path is not null)
            {
                yield return op.Path.Attribute.ToString();
                continue;
            }
            foreach (var (key, value) in op.Value as JsonObject ?? [])
            {
                yield return key;
                if (key.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && value is JsonObject inner)
                    foreach (var (sub, _) in inner)
                        yield return key + ":" + sub;
            }
        }
    }

    /// <summary>"password" and its fully qualified form "urn:ietf:params:scim:schemas:core:2.0:User:password".</summary>
    public static bool IsPassword(string path) =>
        path.Equals("password", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(":password", StringComparison.OrdinalIgnoreCase);
}
