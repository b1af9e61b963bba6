using ScimSync.Protocol.Resources;

namespace ScimSync.Sync.Sources;

/// <summary>
/// The nesting of source groups (RFC 7643 §4.2: a group's <c>members</c> may be groups) and the one place the
/// engine follows it: who is in a group through nesting (scope), what a target receives as a group's members
/// (flattened, or with the nested groups kept as members), which groups a membership change reaches, and which
/// groups contain one another (cycles). Pure: it reads the nesting through two lookups and keeps nothing.
/// <para>
/// Every walk keeps a visited set, so a cycle (A in B, B in A) ends it with each group met once, and follows at
/// most <see cref="GroupNesting.MaxDepth"/> links, the bound the server's <c>User.groups</c> uses: a group only
/// reachable through more links than that is not followed here either, so scope and the source's own
/// <c>User.groups</c> agree on who is in a group.
/// </para>
/// </summary>
/// <param name="subgroupsOf">The groups that are members of a group (its <c>members</c> of type Group).</param>
/// <param name="parentsOf">The groups a group is a member of.</param>
public sealed class GroupHierarchy(Func<string, IReadOnlyList<string>> subgroupsOf, Func<string, IReadOnlyList<string>> parentsOf)
{
    /// <summary>The groups <paramref name="start"/> and every group that contains one of them through nesting.</summary>
    /// <param name="through">
    /// When set, the walk goes above a group only when this says so: a target that keeps nested groups as groups
    /// sees a user as a member of the groups above its group only through groups it does not receive.
    /// </param>
    public HashSet<string> Upward(IEnumerable<string> start, Func<string, bool>? through = null)
    {
        var seen = new HashSet<string>(start, StringComparer.Ordinal);
        var frontier = seen.ToList();
        for (var depth = 0; depth < GroupNesting.MaxDepth && frontier.Count > 0; depth++)
        {
            var next = new List<string>();
            foreach (var group in frontier)
            {
                if (through is not null && !through(group)) continue;
                foreach (var parent in parentsOf(group))
                    if (seen.Add(parent)) next.Add(parent);
            }
            frontier = next;
        }
        return seen;
    }

    /// <summary>
    /// What a target receives as the members of <paramref name="group"/>: its users and those of every group
    /// nested in it, except that a nested group the target keeps as a group (<paramref name="keep"/>) is a member
    /// itself and is not looked into. With <paramref name="keep"/> always false: the group flattened. A group
    /// reached again through a cycle adds nothing, and is never its own member.
    /// </summary>
    public GroupExpansion Expand(string group, Func<string, IReadOnlyList<string>> usersOf, Func<string, bool> keep)
    {
        var users = new HashSet<string>(usersOf(group), StringComparer.Ordinal);
        var groups = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal) { group };
        var frontier = new List<string> { group };
        for (var depth = 0; depth < GroupNesting.MaxDepth && frontier.Count > 0; depth++)
        {
            var next = new List<string>();
            foreach (var g in frontier)
                foreach (var child in subgroupsOf(g))
                {
                    if (!seen.Add(child)) continue;
                    if (keep(child))
                    {
                        groups.Add(child);
                        continue;
                    }
                    users.UnionWith(usersOf(child));
                    next.Add(child);
                }
            frontier = next;
        }
        return new GroupExpansion(users, groups);
    }

    /// <summary>
    /// Each set of groups that contain one another through nesting (A in B and B in A; or a group listed among its
    /// own members), its ids in ordinal order, the sets ordered by their first id. Tarjan's strongly connected
    /// components, walked with an explicit stack: a deep hierarchy cannot overflow the call stack.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> Cycles(IEnumerable<string> groups)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var cycles = new List<IReadOnlyList<string>>();
        var counter = 0;
        void Visit(string node)
        {
            index[node] = low[node] = counter++;
            stack.Push(node);
            onStack.Add(node);
        }
        foreach (var root in groups.Order(StringComparer.Ordinal))
        {
            if (index.ContainsKey(root)) continue;
            var work = new Stack<(string Node, int Child)>();
            Visit(root);
            work.Push((root, 0));
            while (work.Count > 0)
            {
                var (node, i) = work.Pop();
                var children = subgroupsOf(node);
                if (i < children.Count)
                {
                    work.Push((node, i + 1));
                    var child = children[i];
                    if (!index.ContainsKey(child))
                    {
                        Visit(child);
                        work.Push((child, 0));
                    }
                    else if (onStack.Contains(child)) low[node] = Math.Min(low[node], index[child]);
                    continue;
                }
                if (work.Count > 0)
                {
                    var parent = work.Peek().Node;
                    low[parent] = Math.Min(low[parent], low[node]);
                }
                if (low[node] != index[node]) continue;
                var component = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);
                if (component.Count > 1 || children.Contains(node, StringComparer.Ordinal))
                    cycles.Add(component.Order(StringComparer.Ordinal).ToArray());
            }
        }
        return cycles.OrderBy(c => c[0], StringComparer.Ordinal).ToArray();
    }
}

/// <summary>The members a target receives for one group: users, and the nested groups it keeps as members.</summary>
public sealed record GroupExpansion(IReadOnlySet<string> Users, IReadOnlySet<string> Groups);
