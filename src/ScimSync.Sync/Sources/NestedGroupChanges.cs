using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Sources;

/// <summary>
/// What a change to one source group means for the engine's per-target queues, nesting included: the users who
/// joined or left it directly, and every user under a nested group that was put in or taken out (their scope by
/// group and their flattened memberships change with it). The feed's batches, a resumed engine and a file
/// import all queue from here, so none of them misses a user deep in a hierarchy.
/// </summary>
public static class NestedGroupChanges
{
    /// <summary>The queue keys of the users whose membership of <paramref name="groupId"/> (direct or through nesting) changed.</summary>
    public static IEnumerable<string> MembersMoved(SourceSnapshot before, SourceSnapshot after, string groupId)
    {
        var was = before.Groups.GetValueOrDefault(groupId);
        var now = after.Groups.GetValueOrDefault(groupId);
        return Moved(was?.Members ?? [], now?.Members ?? [], was?.Subgroups ?? [], now?.Subgroups ?? [], before, after);
    }

    /// <summary>
    /// The same from the membership baseline the state keeps (<see cref="SourceGroup.Baseline"/>: nested groups as
    /// <c>group:ID</c>), for an engine that resumes after a stop: the users under a nested group are those of now.
    /// </summary>
    public static IEnumerable<string> MembersMoved(IReadOnlySet<string> baseline, SourceGroup? now, SourceSnapshot snapshot)
    {
        var (users, groups) = Split(baseline);
        return Moved(users, now?.Members ?? [], groups, now?.Subgroups ?? [], snapshot, snapshot);
    }

    private static IEnumerable<string> Moved(IReadOnlyCollection<string> usersBefore, IReadOnlyCollection<string> usersAfter,
        IReadOnlyCollection<string> groupsBefore, IReadOnlyCollection<string> groupsAfter, SourceSnapshot before, SourceSnapshot after)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        keys.UnionWith(usersBefore.Except(usersAfter, StringComparer.Ordinal));
        keys.UnionWith(usersAfter.Except(usersBefore, StringComparer.Ordinal));
        foreach (var g in groupsBefore.Except(groupsAfter, StringComparer.Ordinal).Concat(groupsAfter.Except(groupsBefore, StringComparer.Ordinal)))
        {
            keys.UnionWith(before.UsersUnder(g));
            keys.UnionWith(after.UsersUnder(g));
        }
        return keys;
    }

    private static (IReadOnlyCollection<string> Users, IReadOnlyCollection<string> Groups) Split(IReadOnlySet<string> baseline)
    {
        var users = new List<string>();
        var groups = new List<string>();
        foreach (var m in baseline)
        {
            if (m.StartsWith("group:", StringComparison.Ordinal)) groups.Add(m["group:".Length..]);
            else users.Add(m);
        }
        return (users, groups);
    }

    /// <summary>
    /// Logs each cycle of nested groups that can be reached from <paramref name="groups"/> (every group when null)
    /// and returns them as sentences: a cycle is reported, never looped on.
    /// </summary>
    public static IReadOnlyList<string> ReportCycles(SourceSnapshot snapshot, IEnumerable<string>? groups, ILogger log)
    {
        var start = (groups ?? snapshot.Groups.Keys).Where(id => snapshot.Groups.TryGetValue(id, out var g) && g.Subgroups.Count > 0).ToArray();
        if (start.Length == 0) return [];
        var sentences = new List<string>();
        foreach (var cycle in snapshot.Hierarchy.Cycles(start))
        {
            var names = string.Join(", ", cycle.Select(id => snapshot.Groups.GetValueOrDefault(id)?.DisplayName ?? id).Order(StringComparer.Ordinal));
            SyncLog.GroupCycle(log, names);
            sentences.Add($"groups {names} contain one another (a cycle of nested groups): each is taken to hold the members of all of them");
        }
        return sentences;
    }
}
