using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using static ScimSync.Sync.Tests.Planning.Fixtures;

namespace ScimSync.Sync.Tests.Planning;

/// <summary>
/// Nested source groups as a target receives them: scope by a group above, flattened or kept as structure, a
/// nested group the target does not receive, cycles, and the member PATCHes a deep change turns into.
/// </summary>
public sealed class NestedGroupPlanTests
{
    // s1 in C, s2 in B, s3 in A, s4 in none; C in B, B in A.
    private static readonly SourceAccount[] People =
        [User("s1", "carol@example.com", "employee"), User("s2", "bert@example.com", "employee"), User("s3", "anna@example.com", "employee"), User("s4", "nobody@example.com", "employee")];

    private static readonly SourceGroup A = new("ga", "A", ["s3"]) { Subgroups = ["gb"] };
    private static readonly SourceGroup B = new("gb", "B", ["s2"]) { Subgroups = ["gc"] };
    private static readonly SourceGroup C = new("gc", "C", ["s1"]);

    private static TargetConfig App(NestedGroups nested, params string[] groups) => Target(
        ScopeRule.Everyone with { Groups = new HashSet<string>(["A"]) },
        groups: new GroupSyncConfig(false, new HashSet<string>(groups.Length == 0 ? ["A", "B", "C"] : groups), 500) { Nested = nested });

    private static Dictionary<string, ChangeMembers> Members(SyncPlan plan) => plan.Operations.OfType<ChangeMembers>().ToDictionary(m => m.DisplayName);

    [Fact]
    public void Scope_by_the_top_group_holds_users_at_every_level_and_nobody_else()
    {
        var plan = Plan(App(NestedGroups.Flatten), Snapshot(People, [A, B, C]), Fixtures.State());
        Assert.Equal(["s1", "s2", "s3"], plan.Operations.OfType<CreateAccount>().Select(c => c.SourceId).Order());
        var decision = new TargetPlanner(App(NestedGroups.Flatten), AccountKindRules.Default, Registry).Scope.Decide(People[0], null, Snapshot(People, [A, B, C]));
        Assert.True(decision.InScope);
        Assert.Contains("[A]", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flattening_target_gets_each_group_with_every_user_under_it()
    {
        var members = Members(Plan(App(NestedGroups.Flatten), Snapshot(People, [A, B, C]), Fixtures.State()));
        Assert.Equal(["s1", "s2", "s3"], members["A"].AddSourceIds);
        Assert.Equal(["s1", "s2"], members["B"].AddSourceIds);
        Assert.Equal(["s1"], members["C"].AddSourceIds);
        Assert.All(members.Values, m => Assert.Empty(m.AddGroups));
    }

    [Fact]
    public void An_accepting_target_gets_the_structure()
    {
        var members = Members(Plan(App(NestedGroups.Accept), Snapshot(People, [A, B, C]), Fixtures.State()));
        Assert.Equal(["s3"], members["A"].AddSourceIds);
        Assert.Equal([new NestedMember("gb", null)], members["A"].AddGroups);
        Assert.Equal(["s2"], members["B"].AddSourceIds);
        Assert.Equal([new NestedMember("gc", null)], members["B"].AddGroups);
        Assert.Equal(["s1"], members["C"].AddSourceIds);
        Assert.Empty(members["C"].AddGroups);
    }

    [Fact]
    public void A_nested_group_the_target_does_not_receive_is_flattened_into_the_group_above()
    {
        var members = Members(Plan(App(NestedGroups.Accept, "A", "C"), Snapshot(People, [A, B, C]), Fixtures.State()));
        Assert.Equal(["A", "C"], members.Keys.Order());
        Assert.Equal(["s2", "s3"], members["A"].AddSourceIds);
        Assert.Equal([new NestedMember("gc", null)], members["A"].AddGroups);
    }

    [Fact]
    public void Existing_nested_groups_are_added_by_their_target_id_and_a_nested_group_taken_out_is_removed()
    {
        // On the target: A holds anna and group B; B holds bert and (no longer at the source) group C.
        var state = Fixtures.State(
            [Account("t1", "carol@example.com", "s1"), Account("t2", "bert@example.com", "s2"), Account("t3", "anna@example.com", "s3")],
            new() { ["t1"] = "s1", ["t2"] = "s2", ["t3"] = "s3" },
            [new TargetGroup("tA", "A", "ga", ["t3"]), new TargetGroup("tB", "B", "gb", ["t2", "tC"]), new TargetGroup("tC", "C", "gc", ["t1"])],
            new() { ["tA"] = "ga", ["tB"] = "gb", ["tC"] = "gc" });
        var cOut = B with { Subgroups = [] };
        var aHoldsC = A with { Subgroups = ["gb", "gc"] };
        var members = Members(Plan(App(NestedGroups.Accept), Snapshot(People, [aHoldsC, cOut, C]), state));
        Assert.Equal(["A", "B"], members.Keys.Order());
        Assert.Equal([new NestedMember("gb", "tB"), new NestedMember("gc", "tC")], members["A"].AddGroups);
        Assert.Empty(members["A"].AddSourceIds);
        Assert.Equal(["tC"], members["B"].RemoveTargetIds);
        Assert.Empty(members["B"].AddGroups);
    }

    [Fact]
    public void A_cycle_gives_each_of_its_groups_the_union_of_their_users_for_a_flattening_target()
    {
        var x = new SourceGroup("gx", "X", ["s1"]) { Subgroups = ["gy"] };
        var y = new SourceGroup("gy", "Y", ["s2"]) { Subgroups = ["gx"] };
        var app = Target(ScopeRule.Everyone with { Groups = new HashSet<string>(["Y"]) }, groups: new GroupSyncConfig(true, new HashSet<string>(), 500));
        var plan = Plan(app, Snapshot(People, [x, y]), Fixtures.State());
        Assert.Equal(["s1", "s2"], plan.Operations.OfType<CreateAccount>().Select(c => c.SourceId).Order());
        var members = Members(plan);
        Assert.Equal(["s1", "s2"], members["X"].AddSourceIds);
        Assert.Equal(["s1", "s2"], members["Y"].AddSourceIds);

        // Accepted as structure: each holds its own user and the other group, never itself.
        var accepted = Members(Plan(app with { Groups = app.Groups with { Nested = NestedGroups.Accept } }, Snapshot(People, [x, y]), Fixtures.State()));
        Assert.Equal([new NestedMember("gy", null)], accepted["X"].AddGroups);
        Assert.Equal([new NestedMember("gx", null)], accepted["Y"].AddGroups);
    }

    /// <summary>The target as a run left it: everyone linked, each group flattened, or with its nested group as a member.</summary>
    private static TargetState Settled(bool nested) => Fixtures.State(
        [Account("t1", "carol@example.com", "s1"), Account("t2", "bert@example.com", "s2"), Account("t3", "anna@example.com", "s3")],
        new() { ["t1"] = "s1", ["t2"] = "s2", ["t3"] = "s3" },
        nested
            ? [new TargetGroup("tA", "A", "ga", ["t3", "tB"]), new TargetGroup("tB", "B", "gb", ["t2", "tC"]), new TargetGroup("tC", "C", "gc", ["t1"])]
            : [new TargetGroup("tA", "A", "ga", ["t1", "t2", "t3"]), new TargetGroup("tB", "B", "gb", ["t1", "t2"]), new TargetGroup("tC", "C", "gc", ["t1"])],
        new() { ["tA"] = "ga", ["tB"] = "gb", ["tC"] = "gc" });

    [Theory]
    [InlineData(NestedGroups.Flatten, new[] { "A", "B", "C" })]
    [InlineData(NestedGroups.Accept, new[] { "C" })]
    public void A_user_added_deep_becomes_one_member_add_on_each_group_that_holds_them_and_nothing_else(NestedGroups nested, string[] groups)
    {
        var dora = User("s5", "dora@example.com", "employee");
        var source = Snapshot([.. People, dora], [A, B, C with { Members = ["s1", "s5"] }]);
        // What the feed queues for a PATCH adding dora to C: dora, and the group C.
        var plan = new TargetPlanner(App(nested), AccountKindRules.Default, Registry)
            .Plan(source, Settled(nested == NestedGroups.Accept), Now, new HashSet<string>(["s5"]), new HashSet<string>(["gc"]));
        Assert.Equal("s5", Assert.Single(plan.Operations.OfType<CreateAccount>()).SourceId);
        var members = Members(plan);
        Assert.Equal(groups, members.Keys.Order());
        Assert.All(members.Values, m =>
        {
            Assert.Equal(["s5"], m.AddSourceIds);
            Assert.Empty(m.RemoveTargetIds);
            Assert.Empty(m.AddGroups);
        });
        Assert.Equal(1 + groups.Length, plan.Operations.Count);
    }

    [Fact]
    public void A_nested_group_taken_out_removes_its_users_from_the_groups_above_on_a_flattening_target()
    {
        // C leaves B: the feed queues B and every user under C (carol). Everyone is in scope here.
        var source = Snapshot(People, [A, B with { Subgroups = [] }, C]);
        var flat = App(NestedGroups.Flatten) with { Scope = ScopeRule.Everyone };
        var plan = new TargetPlanner(flat, AccountKindRules.Default, Registry).Plan(source, Settled(nested: false), Now, new HashSet<string>(["s1"]), new HashSet<string>(["gb"]));
        var members = Members(plan);
        Assert.Equal(["A", "B"], members.Keys.Order());
        Assert.All(members.Values, m => Assert.Equal(["t1"], m.RemoveTargetIds));
        Assert.All(members.Values, m => Assert.Empty(m.AddSourceIds));

        // Accepting: one removal of the group C from B; A and C are not touched.
        var accepting = flat with { Groups = flat.Groups with { Nested = NestedGroups.Accept } };
        var accepted = Members(new TargetPlanner(accepting, AccountKindRules.Default, Registry)
            .Plan(source, Settled(nested: true), Now, new HashSet<string>(["s1"]), new HashSet<string>(["gb"])));
        Assert.Equal("B", Assert.Single(accepted).Key);
        Assert.Equal(["tC"], accepted["B"].RemoveTargetIds);
        Assert.Empty(accepted["B"].AddSourceIds);
    }

    [Fact]
    public void Scoped_by_the_top_group_a_user_whose_group_leaves_the_hierarchy_leaves_the_scope()
    {
        var source = Snapshot(People, [A, B with { Subgroups = [] }, C]);
        var plan = new TargetPlanner(App(NestedGroups.Flatten), AccountKindRules.Default, Registry)
            .Plan(source, Settled(nested: false), Now, new HashSet<string>(["s1"]), new HashSet<string>(["gb"]));
        Assert.Equal("t1", Assert.Single(plan.Operations.OfType<DeactivateAccount>()).TargetId);
        // Out of scope, carol leaves every group the target holds, C included.
        Assert.Equal(["A", "B", "C"], Members(plan).Keys.Order());
    }
}
