using System.Text.Json.Nodes;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Planning;

/// <summary>
/// Plans one target's groups: which to create, link or retire, and the members to add and remove, nesting
/// included (docs/sync.md, "Nested groups"). A target that takes nested groups (<c>groups.nested: accept</c>)
/// receives each group with its users and its nested groups as members of type Group; any other receives each
/// group flattened, every user under it as a direct member. A group nested in a received group but not received
/// itself is flattened into it either way, so no one loses access through a group the target does not hold.
/// <para>
/// Incremental work looks only at the groups a change reaches: the groups above the focus users' own groups
/// (through nesting), and the changed groups with the groups above them, so a user added deep in a hierarchy
/// becomes a member add on each group that holds them, and nothing else is read or rewritten.
/// </para>
/// </summary>
internal sealed class GroupPlanner(TargetConfig target)
{
    private bool Accepts => target.Groups.Nested == NestedGroups.Accept;

    public void Plan(SourceSnapshot source, TargetState state, IReadOnlySet<string> inScope, IReadOnlyDictionary<string, TargetAccount> owned,
        IReadOnlySet<string>? focus, IReadOnlySet<string>? groupFocus, List<PlannedOperation> ops)
    {
        if (!target.Groups.All && target.Groups.Names.Count == 0) return;
        // Inverted by hand, first entry kept: state damaged by an older build or an interrupted write (two
        // links to one source) must make a finding-free plan, not an exception that stops every later plan.
        var sourceByTarget = Invert(state.Links); // source id → target id
        foreach (var (sid, account) in owned) sourceByTarget[sid] = account.Id;
        var targetToSource = Invert(sourceByTarget);
        var linkedGroups = Invert(state.GroupLinks); // source group → target group
        var targetGroups = new Dictionary<string, TargetGroup>(StringComparer.Ordinal);
        foreach (var g in state.Groups) targetGroups.TryAdd(g.Id, g);

        // Groups this target holds for source groups that no longer exist.
        foreach (var (targetGroupId, sourceGroupId) in state.GroupLinks)
        {
            if (source.Groups.ContainsKey(sourceGroupId)) continue;
            if (focus is not null && !(groupFocus?.Contains(sourceGroupId) ?? false)) continue;
            var name = targetGroups.GetValueOrDefault(targetGroupId)?.DisplayName ?? sourceGroupId;
            ops.Add(new RetireGroup(target.Name, targetGroupId, sourceGroupId, name, target.Groups.Deleted == GroupDeletedReaction.Delete));
        }

        bool Keep(string id) => Accepts && source.Groups.TryGetValue(id, out var g) && target.Groups.Includes(g.DisplayName);
        IReadOnlyList<string> UsersOf(string id) => source.Groups.TryGetValue(id, out var g) ? g.Members : [];
        Func<string, bool>? through = Accepts ? id => !Keep(id) : null;
        var hierarchy = source.Hierarchy;

        // Focused (incremental) work: each focus user's groups as this target sees them, and the changed groups
        // with those above them (whose nested groups may have changed).
        Dictionary<string, HashSet<string>>? reach = null;
        HashSet<string>? reached = null, structural = null, inShadow = null;
        if (focus is not null)
        {
            reach = focus.ToDictionary(u => u, u => hierarchy.Upward(source.DirectGroupIdsOf(u), through), StringComparer.Ordinal);
            reached = reach.Values.SelectMany(r => r).ToHashSet(StringComparer.Ordinal);
            structural = hierarchy.Upward(groupFocus ?? new HashSet<string>(), through);
            inShadow = GroupsHoldingFocus(state, focus);
        }

        // The target's group for a source group: linked, or one not linked yet that carries its id or its name (first wins).
        var unlinkedById = new Dictionary<string, TargetGroup>(StringComparer.Ordinal);
        var unlinkedByName = new Dictionary<string, TargetGroup>(StringComparer.OrdinalIgnoreCase);
        foreach (var g in state.Groups)
        {
            if (state.GroupLinks.ContainsKey(g.Id)) continue;
            if (g.ExternalId is not null) unlinkedById.TryAdd(g.ExternalId, g);
            unlinkedByName.TryAdd(g.DisplayName, g);
        }
        TargetGroup? Linked(string id) => linkedGroups.TryGetValue(id, out var tgid) ? targetGroups.GetValueOrDefault(tgid) : null;
        TargetGroup? OnTarget(SourceGroup g) => Linked(g.Id) ?? unlinkedById.GetValueOrDefault(g.Id) ?? unlinkedByName.GetValueOrDefault(g.DisplayName);
        // A nested group by its id on the target, when it is there (linked now, or linked earlier in this run).
        string? TargetIdOf(string id) => source.Groups.TryGetValue(id, out var g) ? OnTarget(g)?.Id : null;

        foreach (var group in source.Groups.Values.OrderBy(g => g.DisplayName, StringComparer.Ordinal))
        {
            if (!target.Groups.Includes(group.DisplayName)) continue;
            var full = focus is null;
            var existing = Linked(group.Id);
            if (!full && !structural!.Contains(group.Id) && !reached!.Contains(group.Id) && !(existing is not null && inShadow!.Contains(existing.Id))) continue;
            existing ??= OnTarget(group);

            // Users wanted: those under the group as this target sees it (all, or the focus users alone).
            var wantUsers = full
                ? hierarchy.Expand(group.Id, UsersOf, Keep).Users.Where(inScope.Contains).ToHashSet(StringComparer.Ordinal)
                : focus!.Where(u => inScope.Contains(u) && reach![u].Contains(group.Id)).ToHashSet(StringComparer.Ordinal);
            // Nested groups wanted, when this pass looks at them: every group in a full plan, a changed one in focused work.
            var structure = full || structural!.Contains(group.Id);
            var wantGroups = structure && Accepts ? hierarchy.Expand(group.Id, _ => [], Keep).Groups : new HashSet<string>();

            if (existing is null)
            {
                ops.Add(new CreateGroup(target.Name, group.Id, group.DisplayName, new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                    ["displayName"] = group.DisplayName,
                    ["externalId"] = group.Id,
                }));
                if (wantUsers.Count > 0 || wantGroups.Count > 0)
                    ops.Add(new ChangeMembers(target.Name, group.Id, null, group.DisplayName, wantUsers.Order(StringComparer.Ordinal).ToArray(), [])
                    {
                        AddGroups = Nested(wantGroups, TargetIdOf),
                    });
                continue;
            }
            if (!state.GroupLinks.ContainsKey(existing.Id)) ops.Add(new LinkGroup(target.Name, existing.Id, group.Id, group.DisplayName));
            // Members we do not manage (not linked to a source account or group) are someone else's: left alone.
            var haveUsers = existing.Members.Where(targetToSource.ContainsKey).Select(t => targetToSource[t])
                .Where(s => full || focus!.Contains(s)).ToHashSet(StringComparer.Ordinal);
            var addUsers = wantUsers.Where(s => !haveUsers.Contains(s)).Order(StringComparer.Ordinal).ToArray();
            var remove = haveUsers.Where(s => !wantUsers.Contains(s)).Select(s => sourceByTarget[s]).ToList();
            IReadOnlyList<NestedMember> addGroups = [];
            if (structure)
            {
                var haveGroups = new Dictionary<string, string>(StringComparer.Ordinal); // source group → its nested target group
                foreach (var member in existing.Members)
                    if (state.GroupLinks.TryGetValue(member, out var sourceGroup)) haveGroups.TryAdd(sourceGroup, member);
                addGroups = Nested(wantGroups.Where(g => !haveGroups.ContainsKey(g)), TargetIdOf);
                remove.AddRange(haveGroups.Where(kv => !wantGroups.Contains(kv.Key)).Select(kv => kv.Value));
            }
            if (addUsers.Length > 0 || addGroups.Count > 0 || remove.Count > 0)
                ops.Add(new ChangeMembers(target.Name, group.Id, existing.Id, group.DisplayName, addUsers, remove.Order(StringComparer.Ordinal).ToArray())
                {
                    AddGroups = addGroups,
                });
        }
    }

    /// <summary>Nested groups to add, with their ids on the target where the engine knows them already.</summary>
    private static NestedMember[] Nested(IEnumerable<string> sourceGroupIds, Func<string, string?> targetIdOf) =>
        sourceGroupIds.Order(StringComparer.Ordinal).Select(id => new NestedMember(id, targetIdOf(id))).ToArray();

    /// <summary>The target's groups that hold a focus account now (it may have left the source group since).</summary>
    private static HashSet<string> GroupsHoldingFocus(TargetState state, IReadOnlySet<string> focus)
    {
        var focusTargets = state.Links.Where(kv => focus.Contains(kv.Value)).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        return state.Groups.Where(g => g.Members.Any(focusTargets.Contains)).Select(g => g.Id).ToHashSet(StringComparer.Ordinal);
    }

    private static Dictionary<string, string> Invert(IEnumerable<KeyValuePair<string, string>> map)
    {
        var inverted = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in map) inverted.TryAdd(value, key);
        return inverted;
    }
}
