using System.Text.Json.Nodes;
using ScimSync.Protocol.Resources;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Tests.Sources;

/// <summary>The one place the engine follows nested source groups: reach, expansion, cycles, and the depth bound.</summary>
public sealed class GroupHierarchyTests
{
    /// <summary>A snapshot of groups from (id, users, nested groups).</summary>
    private static SourceSnapshot Groups(params (string Id, string[] Users, string[] Nested)[] groups) =>
        new([], groups.Select(g => new SourceGroup(g.Id, g.Id.ToUpperInvariant(), g.Users) { Subgroups = g.Nested }), null);

    private static readonly SourceSnapshot ThreeLevels = Groups(("a", ["ua"], ["b"]), ("b", ["ub"], ["c"]), ("c", ["uc"], []), ("d", ["ud"], []));

    private static IReadOnlyList<string> UsersOf(SourceSnapshot s, string id) => s.Groups.TryGetValue(id, out var g) ? g.Members : [];

    [Fact]
    public void A_user_deep_in_a_hierarchy_is_in_every_group_above_it_and_in_no_other()
    {
        Assert.Equal(["a", "b", "c"], ThreeLevels.GroupIdsOf("uc").Order());
        Assert.Equal(["a", "b"], ThreeLevels.GroupIdsOf("ub").Order());
        Assert.Equal(["A", "B", "C"], ThreeLevels.GroupNamesOf("uc").Order());
        Assert.Equal(["d"], ThreeLevels.GroupIdsOf("ud"));
        Assert.Empty(ThreeLevels.GroupIdsOf("nobody"));
    }

    [Fact]
    public void Flattening_gives_every_user_under_a_group_and_keeping_stops_at_a_kept_group()
    {
        var h = ThreeLevels.Hierarchy;
        var flat = h.Expand("a", id => UsersOf(ThreeLevels, id), _ => false);
        Assert.Equal(["ua", "ub", "uc"], flat.Users.Order());
        Assert.Empty(flat.Groups);

        // B is kept as a group: A holds ua and the group B, nothing from beneath B.
        var kept = h.Expand("a", id => UsersOf(ThreeLevels, id), id => id == "b");
        Assert.Equal(["ua"], kept.Users);
        Assert.Equal(["b"], kept.Groups);

        // C is kept but B is not: B is flattened into A, C stays a member.
        var throughB = h.Expand("a", id => UsersOf(ThreeLevels, id), id => id == "c");
        Assert.Equal(["ua", "ub"], throughB.Users.Order());
        Assert.Equal(["c"], throughB.Groups);
    }

    [Fact]
    public void Upward_through_only_passes_groups_it_is_allowed_to()
    {
        var h = ThreeLevels.Hierarchy;
        Assert.Equal(["a", "b", "c"], h.Upward(["c"]).Order());
        Assert.Equal(["c"], h.Upward(["c"], through: id => id != "c"));
        Assert.Equal(["b", "c"], h.Upward(["c"], through: id => id == "c").Order());
    }

    [Fact]
    public void A_cycle_is_found_ends_every_walk_and_gives_each_of_its_groups_the_union_of_their_users()
    {
        // x in y, y in z, z in x; w holds x and is not in the cycle; s lists itself.
        var s = Groups(("x", ["ux"], ["y"]), ("y", ["uy"], ["z"]), ("z", ["uz"], ["x"]), ("w", ["uw"], ["x"]), ("s", ["us"], ["s"]), ("t", ["ut"], []));
        var cycles = s.Hierarchy.Cycles(s.Groups.Keys);
        Assert.Equal(2, cycles.Count);
        Assert.Equal(["s"], cycles[0]);
        Assert.Equal(["x", "y", "z"], cycles[1]);

        foreach (var id in new[] { "x", "y", "z" })
            Assert.Equal(["ux", "uy", "uz"], s.UsersUnder(id).Order());
        Assert.Equal(["us"], s.UsersUnder("s"));
        Assert.Equal(["uw", "ux", "uy", "uz"], s.UsersUnder("w").Order());
        Assert.Equal(["w", "x", "y", "z"], s.GroupIdsOf("uy").Order());
        // Kept as groups, no group of the cycle is ever its own member.
        Assert.Equal(["y"], s.Hierarchy.Expand("x", _ => [], _ => true).Groups);
        Assert.Equal(["z"], s.Hierarchy.Expand("x", _ => [], id => id == "z").Groups);
        Assert.DoesNotContain("x", s.Hierarchy.Expand("x", _ => [], id => id == "x").Groups);
    }

    [Fact]
    public void No_cycle_in_a_tree_or_a_diamond()
    {
        var diamond = Groups(("top", [], ["l", "r"]), ("l", ["u"], ["bottom"]), ("r", [], ["bottom"]), ("bottom", ["v"], []));
        Assert.Empty(diamond.Hierarchy.Cycles(diamond.Groups.Keys));
        Assert.Empty(ThreeLevels.Hierarchy.Cycles(ThreeLevels.Groups.Keys));
        Assert.Equal(["u", "v"], diamond.UsersUnder("top").Order());
    }

    [Fact]
    public void The_walks_stop_at_the_servers_depth_bound_and_a_long_chain_does_not_overflow_the_stack()
    {
        // g0 holds g1 holds ... g(n-1); the user is in the deepest group.
        var n = GroupNesting.MaxDepth + 2;
        var chain = Groups(Enumerable.Range(0, n).Select(i => ($"g{i}", i == n - 1 ? new[] { "deep" } : [], i < n - 1 ? new[] { $"g{i + 1}" } : [])).ToArray());
        var reached = chain.GroupIdsOf("deep");
        // The direct group and MaxDepth links above it, as the server's User.groups lists them.
        Assert.Equal(GroupNesting.MaxDepth + 1, reached.Count);
        Assert.DoesNotContain("g0", reached);
        Assert.Contains("g1", reached);
        Assert.DoesNotContain("deep", chain.UsersUnder("g0"));
        Assert.Contains("deep", chain.UsersUnder("g1"));

        var longCycle = Groups(Enumerable.Range(0, 100_000).Select(i => ($"c{i}", Array.Empty<string>(), new[] { $"c{(i + 1) % 100_000}" })).ToArray());
        Assert.Equal(100_000, Assert.Single(longCycle.Hierarchy.Cycles(longCycle.Groups.Keys)).Count);
    }

    [Fact]
    public void Members_of_type_Group_are_read_as_nested_groups()
    {
        var doc = JsonNode.Parse("""
            {"id":"a","displayName":"A","members":[
              {"value":"u1","type":"User"},{"value":"b","type":"Group"},{"value":"u2"},
              {"value":"c","$ref":"https://hr.example.com/scim/v2/Groups/c"}]}
            """)!.AsObject();
        var group = ScimSourceReader.ToGroup(doc)!;
        Assert.Equal(["u1", "u2"], group.Members);
        Assert.Equal(["b", "c"], group.Subgroups);
        Assert.Equal(["u1", "u2", "group:b", "group:c"], group.Baseline);
    }

    [Fact]
    public void A_group_patch_adds_and_removes_nested_groups_apart_from_users()
    {
        var group = new SourceGroup("a", "A", ["u1"]) { Subgroups = ["b"] };
        var patch = JsonNode.Parse("""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
              {"op":"add","path":"members","value":[{"value":"c","type":"Group"},{"value":"d"},{"value":"u2"}]},
              {"op":"remove","path":"members[value eq \"b\"]"}]}
            """)!.AsObject();
        var applied = GroupMembersPatch.Apply(group, patch, id => id == "d")!;
        Assert.Equal(["u1", "u2"], applied.Members);
        Assert.Equal(["c", "d"], applied.Subgroups);
    }

    [Fact]
    public void A_subgroup_put_in_or_taken_out_moves_every_user_under_it()
    {
        var before = ThreeLevels;
        // C leaves B for D: uc moved (out of A and B, into D); ub and ua did not.
        var after = before.With([], [], [before.Groups["b"] with { Subgroups = [] }, before.Groups["d"] with { Subgroups = ["c"] }], [], null);
        Assert.Equal(["uc"], NestedGroupChanges.MembersMoved(before, after, "b").Order());
        Assert.Equal(["uc"], NestedGroupChanges.MembersMoved(before, after, "d").Order());
        Assert.Equal(["c", "d"], after.GroupIdsOf("uc").Order());
        // From the state's baseline (a resumed engine): the same users.
        var baseline = before.Groups["b"].Baseline.ToHashSet();
        Assert.Equal(["uc"], NestedGroupChanges.MembersMoved(baseline, after.Groups["b"], after));
    }
}
