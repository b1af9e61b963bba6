using ScimSync.Protocol.Resources;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The groups members reach, directly and through nested groups: one query that both the reads (User.groups) and
/// the filter compiler (filters on groups) use, so that a filter matches exactly what the resource shows. The same
/// walk as SqliteGroupReach.
/// </summary>
internal static class PostgresGroupReach
{
    /// <summary>
    /// Rows (member_id, id, display, display_fold, indirect): every group reached from the members that
    /// <paramref name="start"/> selects (a condition on <c>group_members m0</c>), once per member and group.
    /// <para>
    /// Invariant: reach holds (member, group, depth) with depth the number of nesting links above a group the
    /// member is directly in (depth 0), and depth &lt;= <see cref="GroupNesting.MaxDepth"/>. UNION keeps each row
    /// once, so each level holds a group at most once (no blow-up through diamonds); since depth is part of the
    /// row, a cycle (A in B, B in A) does not end by itself: the depth bound ends it, after at most
    /// MaxDepth + 1 rows per group in the cycle. A group is indirect when its least depth is above 0: direct wins.
    /// </para>
    /// </summary>
    public static string Groups(string start) => $"""
        WITH RECURSIVE reach(member_id, seq, depth) AS (
            SELECT m0.member_id, m0.group_seq, 0 FROM group_members m0 WHERE {start}
            UNION
            SELECT reach.member_id, up.group_seq, reach.depth + 1
            FROM reach JOIN resources child ON child.seq = reach.seq JOIN group_members up ON up.member_id = child.id
            WHERE reach.depth < {GroupNesting.MaxDepth})
        SELECT reach.member_id AS member_id, g.id AS id, scimsync_text({PostgresSchema.Exact("g")} -> 'displayName') AS display,
               g.display_name_fold AS display_fold, min(reach.depth) > 0 AS indirect
        FROM reach JOIN resources g ON g.seq = reach.seq
        GROUP BY reach.member_id, g.seq
        """;

    /// <summary>
    /// Rows (member_id, id, display, display_fold, indirect, nested): the groups the members that
    /// <paramref name="start"/> selects are directly in, as <see cref="Groups"/> returns them, and <c>nested</c>:
    /// whether that group is itself a member of a group.
    /// <para>
    /// Invariant: when no row is nested, these rows are exactly <see cref="Groups"/>'s for the same members (every
    /// reach stops at depth 0, so every group is direct). Reads ask this first and walk only for the members that
    /// reach a nested group: the walk's plan alone (a recursive union, a sort and an aggregate to set up on every
    /// execution) costs PostgreSQL more than the primary-key read it accompanies, and most groups are flat.
    /// </para>
    /// </summary>
    public static string Direct(string start) => $"""
        SELECT m0.member_id AS member_id, g.id AS id, scimsync_text({PostgresSchema.Exact("g")} -> 'displayName') AS display,
               g.display_name_fold AS display_fold, false AS indirect,
               EXISTS (SELECT 1 FROM group_members up WHERE up.member_id = g.id) AS nested
        FROM group_members m0 JOIN resources g ON g.seq = m0.group_seq
        WHERE {start}
        """;

    /// <summary>
    /// The users in group <paramref name="groupId"/> directly or through nested groups, as <see cref="Groups"/>
    /// reaches it, walked down from the group so that the member index answers it (filter groups.value eq X).
    /// <para>
    /// Invariant: down holds (group, depth) for the group itself (depth 0) and every group nested in it through
    /// depth links, depth &lt;= MaxDepth; a user directly in a group at depth d reaches the top group at depth d
    /// in <see cref="Groups"/>, so both walks agree. Cycles end by the depth bound, as there.
    /// </para>
    /// </summary>
    public static string UsersIn(string groupId) => $"""
        WITH RECURSIVE down(seq, depth) AS (
            SELECT top_group.seq, 0 FROM resources top_group WHERE top_group.id = {groupId} AND top_group.type = 'Group'
            UNION
            SELECT inner_group.seq, down.depth + 1
            FROM down JOIN group_members dm ON dm.group_seq = down.seq JOIN resources inner_group ON inner_group.id = dm.member_id
            WHERE inner_group.type = 'Group' AND down.depth < {GroupNesting.MaxDepth})
        SELECT um.member_id FROM down JOIN group_members um ON um.group_seq = down.seq
        """;
}
