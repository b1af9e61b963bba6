using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using static ScimSync.Sync.Tests.Planning.Fixtures;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Tests.Planning;

public class TargetPlannerTests
{
    private static readonly SourceAccount Alice = User("s1", "alice@example.com", "employee", "Support");
    private static readonly SourceAccount Bob = User("s2", "bob@example.com", "contractor", endDate: Now.AddDays(10));
    private static readonly SourceAccount Agent = User("s3", "agent@example.com", "agent");
    private static readonly SourceAccount Svc = User("s4", "svc-queue", "service");
    private static readonly SourceAccount Root = User("s5", "admin", "builtin");

    [Fact]
    public void Initial_load_creates_only_accounts_in_scope_and_never_builtin_or_service()
    {
        var plan = Plan(Target(Kinds(AccountKind.Employee, AccountKind.Contractor)), Snapshot([Alice, Bob, Agent, Svc, Root]), Fixtures.State());
        var created = plan.Operations.OfType<CreateAccount>().Select(c => c.UserName).Order().ToArray();
        Assert.Equal(["alice@example.com", "bob@example.com"], created);
        Assert.All(plan.Operations, o => Assert.IsType<CreateAccount>(o));
        var bob = plan.Operations.OfType<CreateAccount>().Single(c => c.SourceId == "s2").Document;
        Assert.Equal("s2", bob["externalId"]!.GetValue<string>());
        Assert.True(bob["active"]!.GetValue<bool>());
    }

    [Fact]
    public void Everyone_scope_still_excludes_service_and_builtin_kinds()
    {
        var plan = Plan(Target(), Snapshot([Alice, Svc, Root]), Fixtures.State());
        Assert.Equal(["alice@example.com"], plan.Operations.OfType<CreateAccount>().Select(c => c.UserName));
    }

    [Fact]
    public void Contractor_past_end_date_is_created_inactive_and_deactivated_when_linked()
    {
        var expired = User("s9", "old@example.com", "contractor", endDate: Now.AddMinutes(-1));
        var create = Plan(Target(), Snapshot([expired]), Fixtures.State()).Operations.OfType<CreateAccount>().Single();
        Assert.False(create.Document["active"]!.GetValue<bool>());

        var doc = Account("t9", "old@example.com", "s9").Document;
        doc["name"] = new JsonObject { ["givenName"] = "old", ["familyName"] = "Doe" };
        doc["emails"] = new JsonArray(new JsonObject { ["value"] = "old@example.com", ["type"] = "work" });
        var existing = new TargetAccount("t9", doc);
        var update = Plan(Target(), Snapshot([expired]), Fixtures.State([existing], new() { ["t9"] = "s9" })).Operations.OfType<UpdateAccount>().Single();
        var op = Assert.Single(update.Operations);
        Assert.Equal("active", op["path"]!.GetValue<string>());
        Assert.False(op["value"]!.GetValue<bool>());
        Assert.True(update.Urgent);

        // One minute before the end date the same account is active: expiry is to the minute.
        var before = Plan(Target(), Snapshot([expired]), Fixtures.State([existing], new() { ["t9"] = "s9" }), Now.AddMinutes(-2));
        Assert.DoesNotContain(before.Operations.OfType<UpdateAccount>(), u => u.Operations.Any(o => o["path"]!.GetValue<string>() == "active"));
    }

    [Fact]
    public void Protected_and_unmatched_accounts_on_the_target_are_reported_never_touched()
    {
        var admin = Account("t1", "admin");
        var queue = Account("t2", "queue-listener", userType: "Service");
        var customer = Account("t3", "customer@shop.example");
        var plan = Plan(Target(protectedNames: new HashSet<string>(["admin"], StringComparer.OrdinalIgnoreCase)), Snapshot([Alice]), Fixtures.State([admin, queue, customer]));
        Assert.DoesNotContain(plan.Operations, o => o is UpdateAccount or DeleteAccount or DeactivateAccount or LinkAccount);
        Assert.Equal(2, plan.Findings.Count(f => f.Situation is null));
        Assert.Contains(plan.Findings, f => f.Situation == Situation.Unmatched && f.TargetId == "t3");
        Assert.Equal(1, plan.Situations[Situation.Unmatched]);
    }

    [Fact]
    public void Unmatched_accounts_are_deleted_only_when_the_policy_says_so()
    {
        var policies = SyncPolicies.Default with { Unmatched = UnmatchedReaction.Delete };
        var plan = Plan(Target(policies: policies), Snapshot([Alice]), Fixtures.State([Account("t3", "stranger"), Account("t1", "admin", userType: "Builtin")]));
        var delete = Assert.Single(plan.Operations.OfType<DeleteAccount>());
        Assert.Equal("t3", delete.TargetId);
    }

    [Fact]
    public void Existing_account_matched_by_user_name_is_linked_and_updated_not_duplicated()
    {
        var existing = Account("t1", "ALICE@example.com");
        var plan = Plan(Target(), Snapshot([Alice]), Fixtures.State([existing]));
        var link = Assert.Single(plan.Operations.OfType<LinkAccount>());
        Assert.Equal(("t1", "s1", CorrelationKey.UserName), (link.TargetId, link.SourceId, link.Key));
        Assert.Empty(plan.Operations.OfType<CreateAccount>());
        var update = Assert.Single(plan.Operations.OfType<UpdateAccount>());
        Assert.Contains(update.Operations, o => o["path"]!.GetValue<string>() == "externalId");
        Assert.Equal(1, plan.Situations[Situation.Unlinked]);
    }

    [Fact]
    public void Two_target_accounts_claiming_one_source_account_are_disputed_and_left_alone()
    {
        var plan = Plan(Target(correlation: [CorrelationKey.UserName, CorrelationKey.Email]), Snapshot([Alice]),
            Fixtures.State([Account("t1", "alice@example.com"), Account("t2", "ALICE@EXAMPLE.COM")]));
        Assert.Equal(2, plan.Situations[Situation.Disputed]);
        Assert.DoesNotContain(plan.Operations, o => o is LinkAccount or UpdateAccount);
        // Nor a third account for the person they compete for; the report names the competitor.
        Assert.DoesNotContain(plan.Operations, o => o is CreateAccount);
        Assert.Contains(plan.Findings, f => f.TargetId == "t1" && f.Detail.Contains("t2", StringComparison.Ordinal));
    }

    [Fact]
    public void A_disputed_person_is_not_created_in_incremental_work_either()
    {
        var state = Fixtures.State([Account("t1", "alice@example.com"), Account("t2", "ALICE@EXAMPLE.COM")]);
        var plan = new TargetPlanner(Target(correlation: [CorrelationKey.UserName]), AccountKindRules.Default, Registry)
            .Plan(Snapshot([Alice, Bob]), state, Now, new HashSet<string> { "s1", "s2" });
        Assert.Equal(["bob@example.com"], plan.Operations.OfType<CreateAccount>().Select(c => c.UserName));
        Assert.Equal(2, plan.Situations[Situation.Disputed]);
    }

    [Fact]
    public void Source_accounts_competing_for_one_target_account_are_neither_linked_nor_created()
    {
        // Two people at the source share a mailbox; the application holds one account with that address.
        var a = User("s1", "ann@example.com", "employee", email: "team@example.com");
        var b = User("s2", "bea@example.com", "employee", email: "team@example.com");
        var shared = new TargetAccount("t1", new JsonObject { ["id"] = "t1", ["userName"] = "team", ["emails"] = new JsonArray(new JsonObject { ["value"] = "team@example.com" }) });
        var plan = Plan(Target(correlation: [CorrelationKey.Email]), Snapshot([a, b]), Fixtures.State([shared]));
        Assert.Empty(plan.Operations);
        var finding = Assert.Single(plan.Findings, f => f.Situation == Situation.Disputed);
        Assert.Contains("ann@example.com", finding.Detail);
        Assert.Contains("bea@example.com", finding.Detail);
    }

    [Fact]
    public void A_batch_is_guarded_against_the_whole_target_not_against_itself()
    {
        // Watch mode plans a batch of 15 leavers from a shadow holding 2,680 managed accounts.
        var users = Enumerable.Range(0, 15).Select(i => User("s" + i, $"u{i}@example.com", "employee", active: false)).ToArray();
        var accounts = users.Select(u => Account("t" + u.Id, u.UserName, u.Id)).ToArray();
        var links = accounts.ToDictionary(a => a.Id, a => a.Document["externalId"]!.GetValue<string>());
        var state = Fixtures.State(accounts, links) with { ManagedAccounts = 2680 };
        var plan = new TargetPlanner(Target(), AccountKindRules.Default, Registry).Plan(Snapshot(users), state, Now, users.Select(u => u.Id).ToHashSet());
        Assert.Equal(15, plan.Operations.Count(o => o.TakesAccessAway));
        Assert.False(plan.NeedsConfirmation, plan.GuardMessage);

        // 300 of 2,680 is past 10%, batch or not.
        var many = Enumerable.Range(0, 300).Select(i => User("s" + i, $"u{i}@example.com", "employee", active: false)).ToArray();
        var manyAccounts = many.Select(u => Account("t" + u.Id, u.UserName, u.Id)).ToArray();
        var manyState = Fixtures.State(manyAccounts, manyAccounts.ToDictionary(a => a.Id, a => a.Document["externalId"]!.GetValue<string>())) with { ManagedAccounts = 2680 };
        var held = new TargetPlanner(Target(), AccountKindRules.Default, Registry).Plan(Snapshot(many), manyState, Now, many.Select(u => u.Id).ToHashSet());
        Assert.Contains("of 2,680 managed accounts", held.GuardMessage);
    }

    [Fact]
    public void The_guard_counts_removals_applied_recently_and_queued()
    {
        var guard = MassChangeGuard.Default;
        var ops = Enumerable.Range(0, 15).Select(i => (PlannedOperation)new DeactivateAccount("app", "t" + i, "s" + i, "u" + i, "left")).ToArray().Removals();
        Assert.Equal(new RemovalCount(0, 15, 0), ops);
        Assert.Null(guard.Check(ops, new GuardBaseline(2680, 0)));
        Assert.Null(guard.Check(ops, new GuardBaseline(2680, 0, PriorDeactivations: 253)));
        Assert.Contains("with 254 applied recently or queued", guard.Check(ops, new GuardBaseline(2680, 0, PriorDeactivations: 254)));
        Assert.Null(guard.Check(default, new GuardBaseline(2680, 0, PriorDeactivations: 1000))); // nothing to hold in this batch
    }

    [Fact]
    public void The_guard_counts_what_takes_access_away_and_nothing_else()
    {
        var off = new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false };
        var title = new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "Admiral" };
        PlannedOperation[] ops =
        [
            new DeleteAccount("app", "t1", "s1", "u1", "left"), new DeactivateAccount("app", "t2", "s2", "u2", "left"),
            new UpdateAccount("app", "t3", "s3", "u3", [off], new JsonObject()), new UpdateAccount("app", "t4", "s4", "u4", [title], new JsonObject()),
            new RetireGroup("app", "g1", "sg1", "Old", Delete: true), new RetireGroup("app", "g2", "sg2", "Kept", Delete: false),
            new CreateAccount("app", "s5", "u5", new JsonObject()),
        ];
        Assert.Equal(new RemovalCount(Deletes: 1, Deactivations: 2, GroupDeletes: 1), ops.Removals());
        Assert.Equal(["delete", "deactivate", "update", "delete"], ops.Where(o => o.TakesAccessAway).Select(o => o.Verb));
    }

    [Fact]
    public void A_read_far_smaller_than_the_last_complete_one_is_not_believed()
    {
        var guard = MassChangeGuard.Default;
        Assert.Null(guard.CheckShrink(2680, 2680));
        Assert.Null(guard.CheckShrink(2600, 2680));
        Assert.Contains("read 50 accounts where the shadow holds 2,680", guard.CheckShrink(50, 2680));
        Assert.Null(guard.CheckShrink(2, 12)); // within the floor
        Assert.NotNull((guard with { MaxShrink = new Threshold(1, true), Floor = 0 }).CheckShrink(2600, 2680));
    }

    [Fact]
    public void Linked_account_deleted_out_of_band_is_recreated_or_unlinked_per_policy()
    {
        var state = Fixtures.State([], new() { ["gone"] = "s1" });
        var plan = Plan(Target(), Snapshot([Alice]), state);
        Assert.Equal(1, plan.Situations[Situation.Deleted]);
        Assert.Single(plan.Operations.OfType<UnlinkAccount>());
        Assert.Single(plan.Operations.OfType<CreateAccount>());

        var unlinkOnly = Plan(Target(policies: SyncPolicies.Default with { Deleted = DeletedReaction.Unlink }), Snapshot([Alice]), state);
        Assert.Empty(unlinkOnly.Operations.OfType<CreateAccount>());
        Assert.Contains(unlinkOnly.Findings, f => f.Situation == Situation.Deleted);
    }

    [Fact]
    public void Accounts_leaving_scope_are_deactivated_by_default_and_deleted_when_configured()
    {
        var linked = Account("t2", "bob@example.com", "s2");
        var scope = Kinds(AccountKind.Employee);
        var plan = Plan(Target(scope), Snapshot([Alice, Bob]), Fixtures.State([linked], new() { ["t2"] = "s2" }));
        Assert.Equal("t2", Assert.Single(plan.Operations.OfType<DeactivateAccount>()).TargetId);

        var gone = Plan(Target(scope, SyncPolicies.Default with { OutOfScope = OutOfScopeReaction.Delete }), Snapshot([Alice]), Fixtures.State([linked], new() { ["t2"] = "s2" }));
        Assert.Equal("deleted at the source", Assert.Single(gone.Operations.OfType<DeleteAccount>()).Reason);

        // Already inactive: nothing to do.
        var inactive = Account("t2", "bob@example.com", "s2", active: false);
        Assert.Empty(Plan(Target(scope), Snapshot([Alice, Bob]), Fixtures.State([inactive], new() { ["t2"] = "s2" })).Operations.OfType<DeactivateAccount>());
    }

    [Fact]
    public void Mass_deactivation_trips_the_guard()
    {
        var users = Enumerable.Range(0, 40).Select(i => User("s" + i, $"u{i}@example.com", "employee")).ToArray();
        var accounts = users.Select(u => Account("t" + u.Id, u.UserName, u.Id)).ToArray();
        var links = accounts.ToDictionary(a => a.Id, a => a.Document["externalId"]!.GetValue<string>());
        var guard = new MassChangeGuard(new Threshold(10, true), new Threshold(10, true), Floor: 2);
        var plan = Plan(Target(Kinds(AccountKind.Contractor), guard: guard), Snapshot(users), Fixtures.State(accounts, links));
        Assert.Equal(40, plan.Operations.OfType<DeactivateAccount>().Count());
        Assert.True(plan.NeedsConfirmation);
        Assert.Contains("40 deactivations", plan.GuardMessage);

        var few = Plan(Target(Kinds(AccountKind.Employee), guard: guard), Snapshot(users.Skip(2)), Fixtures.State(accounts, links));
        Assert.Equal(2, few.Operations.OfType<DeactivateAccount>().Count());
        Assert.False(few.NeedsConfirmation);
    }

    [Fact]
    public void Unchanged_linked_account_plans_nothing()
    {
        var create = Plan(Target(), Snapshot([Alice]), Fixtures.State()).Operations.OfType<CreateAccount>().Single();
        var doc = create.Document.DeepClone().AsObject();
        doc["id"] = "t1";
        doc["meta"] = new JsonObject { ["version"] = "W/\"3\"" };
        ((JsonArray)doc["emails"]!)[0]!["primary"] = false; // servers add their own sub-attributes
        doc["active"] = "True";                                 // and some send booleans as strings
        var plan = Plan(Target(), Snapshot([Alice]), Fixtures.State([new TargetAccount("t1", doc)], new() { ["t1"] = "s1" }));
        Assert.Empty(plan.Operations);
    }

    [Fact]
    public void Groups_are_created_and_membership_changes_are_incremental()
    {
        var carol = User("s6", "carol@example.com", "employee");
        var expenses = new SourceGroup("g1", "Expenses", ["s1", "s6", "s4"]);
        var other = new SourceGroup("g2", "Other", ["s1"]);
        var target = Target(ScopeRule.Everyone with { Groups = new HashSet<string>(["Expenses"]) }, groups: new GroupSyncConfig(false, new HashSet<string>(["Expenses"]), 500));
        var plan = Plan(target, Snapshot([Alice, carol, Svc], [expenses, other]), Fixtures.State());
        Assert.Single(plan.Operations.OfType<CreateGroup>());
        var members = Assert.Single(plan.Operations.OfType<ChangeMembers>());
        Assert.Equal(["s1", "s6"], members.AddSourceIds); // the service account is never provisioned

        // The group exists with alice and an unmanaged member; carol joins, alice leaves the source group.
        var existing = new TargetGroup("tg", "Expenses", "g1", ["t1", "foreign"]);
        var state = Fixtures.State([Account("t1", "alice@example.com", "s1"), Account("t6", "carol@example.com", "s6"), Account("foreign", "someone")],
            new() { ["t1"] = "s1", ["t6"] = "s6" }, [existing], new() { ["tg"] = "g1" });
        var after = Plan(target, Snapshot([Alice, carol], [expenses with { Members = ["s6"] }]), state);
        var change = Assert.Single(after.Operations.OfType<ChangeMembers>());
        Assert.Equal(["s6"], change.AddSourceIds);
        Assert.Equal(["t1"], change.RemoveTargetIds); // "foreign" is not ours: untouched
    }

    [Fact]
    public void A_group_deleted_at_the_source_is_deleted_on_the_target_or_unlinked_per_policy()
    {
        var expenses = new GroupSyncConfig(false, new HashSet<string>(["Expenses", "Travel"]), 500);
        var state = Fixtures.State([Account("t1", "alice@example.com", "s1")], new() { ["t1"] = "s1" },
            [new TargetGroup("tg1", "Expenses", "g1", ["t1"]), new TargetGroup("tg2", "Travel", "g2", ["t1"])], new() { ["tg1"] = "g1", ["tg2"] = "g2" });
        var source = Snapshot([Alice], [new SourceGroup("g1", "Expenses", ["s1"])]); // Travel is gone

        var retire = Assert.Single(Plan(Target(groups: expenses), source, state).Operations.OfType<RetireGroup>());
        Assert.Equal(("tg2", "g2", "Travel", true), (retire.TargetGroupId, retire.SourceGroupId, retire.DisplayName, retire.Delete));
        Assert.True(retire.Urgent);
        Assert.False(Assert.Single(Plan(Target(groups: expenses with { Deleted = GroupDeletedReaction.Unlink }), source, state).Operations.OfType<RetireGroup>()).Delete);

        // An emptied group list at the source must not delete a target's groups wholesale: the guard holds it.
        var many = Enumerable.Range(0, 20).Select(i => new TargetGroup("tg" + i, "G" + i, "g" + i, [])).ToArray();
        var held = Plan(Target(groups: new GroupSyncConfig(true, new HashSet<string>(), 500)), Snapshot([Alice]),
            Fixtures.State([], [], many, many.ToDictionary(g => g.Id, g => g.ExternalId!)));
        Assert.Equal(20, held.Operations.OfType<RetireGroup>().Count());
        Assert.Contains("group deletions", held.GuardMessage);

        // Incremental work retires it only when that group is what was queued.
        var planner = new TargetPlanner(Target(groups: expenses), AccountKindRules.Default, Registry);
        Assert.Empty(planner.Plan(source, state, Now, focus: new HashSet<string>(["s1"]), groupFocus: new HashSet<string>()).Operations.OfType<RetireGroup>());
        Assert.Single(planner.Plan(source, state, Now, focus: new HashSet<string>(), groupFocus: new HashSet<string>(["g2"])).Operations.OfType<RetireGroup>());
    }

    [Fact]
    public void Focused_plan_touches_only_the_named_accounts()
    {
        var state = Fixtures.State([Account("t1", "alice@example.com", "s1"), Account("x", "stranger")], new() { ["t1"] = "s1" });
        var planner = new TargetPlanner(Target(), AccountKindRules.Default, Registry);
        var plan = planner.Plan(Snapshot([Alice, Bob]), state, Now, focus: new HashSet<string>(["s2"]));
        Assert.Equal("s2", Assert.Single(plan.Operations.OfType<CreateAccount>()).SourceId);
        Assert.Empty(plan.Findings);
    }
}
