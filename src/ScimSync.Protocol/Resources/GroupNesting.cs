namespace ScimSync.Protocol.Resources;

/// <summary>
/// How far the stores follow nested groups when they compute <c>User.groups</c> (RFC 7643 §4.1.2: "direct" and
/// "indirect" membership) and filter on it. Both stores walk the membership graph with a recursive query over
/// (group, depth) rows, each row once (UNION). A cycle of groups (A in B, B in A) would revisit the same groups at
/// ever greater depths, so it is <see cref="MaxDepth"/> that ends the walk: at most MaxDepth + 1 rows per group
/// reached, whatever the shape of the graph. The cycle itself is allowed (RFC 7643 does not forbid it); a group
/// that is a member of itself is refused when written. The sync engine follows nesting at a source no further
/// (its GroupHierarchy), so that scoping by group membership and <c>User.groups</c> agree on who is in a group.
/// </summary>
public static class GroupNesting
{
    /// <summary>
    /// Nesting links followed above a user's direct groups (depth 0). A group only reachable through more links
    /// than this is not in the user's groups; 32 is far beyond any real hierarchy and keeps a cycle's cost at 33
    /// rows per group in it.
    /// </summary>
    public const int MaxDepth = 32;
}
