using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Events;

/// <summary>
/// The urgent lane's one definition (DESIGN.md, invariant 4): a removal, a deactivation ("active" changed and
/// is no longer true), a password change, or a group membership change. The journal writer records it on each
/// entry (fan-out finds urgent entries ahead of its position through an index), the event builder marks each
/// SET with it, and the sync engine asks it of each SET it polls; all three must give the same answer, so the
/// rule is written once, here, over what all three can tell about a change.
/// </summary>
public static class EventUrgency
{
    /// <param name="resourceType">The resource type's name ("User", "Group").</param>
    /// <param name="removed">The resource is gone: deleted (or, to a receiver, gone from its feed).</param>
    /// <param name="deactivated">"active" changed and is no longer true.</param>
    /// <param name="changed">
    /// The changed attributes in path syntax (RFC 7644 §3.10: "password", "members", "urn:…:Group:members");
    /// null when they are not known (a whole replacement read from a <c>:full</c> PUT event): a group's members
    /// may then have changed, so the change counts as one.
    /// </param>
    public static bool IsUrgent(string resourceType, bool removed, bool deactivated, IEnumerable<string>? changed)
    {
        ArgumentNullException.ThrowIfNull(resourceType);
        if (removed || deactivated) return true;
        var group = IsGroup(resourceType);
        if (changed is null) return group;
        foreach (var path in changed)
        {
            if (AttributePath.TryParse(path) is not { } p) continue;
            if (Names(p, "password", ScimSchemaUris.User) || (group && Names(p, "members", ScimSchemaUris.Group))) return true;
        }
        return false;
    }

    /// <summary>"members" on anything but a Group is some extension's attribute, not access control.</summary>
    public static bool IsGroup(string resourceType) => resourceType.Equals("Group", StringComparison.OrdinalIgnoreCase);

    /// <summary>The core attribute <paramref name="name"/>, short or fully qualified (RFC 7644 §3.10), or one of its sub-attributes.</summary>
    private static bool Names(AttributePath p, string name, string coreSchema) =>
        p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)
        && (p.SchemaUrn is null || p.SchemaUrn.Equals(coreSchema, StringComparison.OrdinalIgnoreCase));
}
