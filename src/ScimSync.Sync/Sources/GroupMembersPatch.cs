using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Sync.Sources;

/// <summary>
/// Applies a group PATCH from a <c>prov:patch:full</c> event to the engine's copy of the group, so that a
/// membership change to a 50,000-member group costs the engine nothing but the change. The PatchOp is read by
/// the protocol's parser and split by the server's own member planner (<see cref="MemberPatchPlan"/>), whose
/// steps the server applies to member rows and the engine to member ids. Returns null for anything it cannot
/// apply with certainty (a PatchOp the protocol refuses, a member filter beyond <c>value eq</c>, a display name
/// that is not a string); the caller then reads the group instead.
/// </summary>
public static class GroupMembersPatch
{
    /// <param name="isGroup">
    /// For an added member that names no type: whether its id is a group's (RFC 7643 makes <c>type</c> optional).
    /// </param>
    public static SourceGroup? Apply(SourceGroup group, JsonObject patch, Func<string, bool>? isGroup = null)
    {
        MemberPatchPlan plan;
        try
        {
            plan = MemberPatchPlan.For(PatchRequest.Read(patch));
        }
        catch (ScimException)
        {
            return null;
        }
        if (plan.RequiresFullMembers) return null;
        var name = group.DisplayName;
        foreach (var op in plan.Others)
            if (!Rename(op, ref name)) return null;

        var members = new MemberList(group.Members);
        var subgroups = new MemberList(group.Subgroups);
        foreach (var step in plan.Steps)
        {
            switch (step)
            {
                case ClearMembers:
                    members.Clear();
                    subgroups.Clear();
                    break;
                case AddMembers add:
                    foreach (var m in add.Members)
                    {
                        var nested = m.Type is { } type ? type.Equals("Group", StringComparison.OrdinalIgnoreCase) : isGroup?.Invoke(m.Value) ?? false;
                        (nested ? subgroups : members).Add(m.Value);
                    }
                    break;
                case RemoveMembers remove:
                    members.Remove(remove.Ids);
                    subgroups.Remove(remove.Ids);
                    break;
            }
        }
        return group with { DisplayName = name, Members = members.Items, Subgroups = subgroups.Items };
    }

    /// <summary>Member ids in their order, each once.</summary>
    private sealed class MemberList(IEnumerable<string> initial)
    {
        private readonly HashSet<string> _set = new(initial, StringComparer.Ordinal);

        public List<string> Items { get; } = [.. initial];

        public void Clear()
        {
            Items.Clear();
            _set.Clear();
        }

        public void Add(string id)
        {
            if (_set.Add(id)) Items.Add(id);
        }

        public void Remove(IEnumerable<string> ids)
        {
            var removed = false;
            foreach (var id in ids) removed |= _set.Remove(id);
            if (removed) Items.RemoveAll(m => !_set.Contains(m));
        }
    }

    /// <summary>
    /// Applies an operation on the group's other attributes: the display name is all the engine's copy keeps
    /// besides the members, so the rest does not concern it. False when the display name cannot be read.
    /// </summary>
    private static bool Rename(PatchOperation op, ref string name)
    {
        if (op.Path is null)
        {
            foreach (var (key, value) in (JsonObject)op.Value!)
                if (AttributePath.TryParse(key) is { } p && IsDisplayName(p) && !Text(value, ref name)) return false;
            return true;
        }
        if (!IsDisplayName(op.Path.Attribute)) return true;
        return op.Path.ValueFilter is null && op.Op != PatchOperationType.Remove && Text(op.Value, ref name);
    }

    private static bool IsDisplayName(AttributePath p) =>
        p.Name.Equals("displayName", StringComparison.OrdinalIgnoreCase) && p.SubAttribute is null
        && (p.SchemaUrn is null || p.SchemaUrn.Equals(ScimSchemaUris.Group, StringComparison.OrdinalIgnoreCase));

    private static bool Text(JsonNode? value, ref string name)
    {
        if (value is not JsonValue v || !v.TryGetValue<string>(out var text)) return false;
        name = text;
        return true;
    }
}
