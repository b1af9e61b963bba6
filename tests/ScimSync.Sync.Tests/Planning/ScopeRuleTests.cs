using ScimSync.Sync.Accounts;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using static ScimSync.Sync.Tests.Planning.Fixtures;

namespace ScimSync.Sync.Tests.Planning;

/// <summary>
/// Scope settings read as they act: `only` restricts, `also` adds, `exclude` wins; and every decision names
/// the setting that made it, the same decision the planner acts on.
/// </summary>
public class ScopeRuleTests
{
    private static readonly SourceAccount Alice = User("s1", "alice@example.com", "employee", "Support");
    private static readonly SourceAccount Bob = User("s2", "bob@example.com", "employee", "Sales");
    private static readonly SourceAccount Carol = User("s3", "carol@example.com", "contractor", "Sales");
    private static readonly SourceAccount Svc = User("s4", "svc-queue", "service", "Support");
    private static readonly SourceSnapshot Source = Snapshot([Alice, Bob, Carol, Svc], [new SourceGroup("g1", "Expenses", ["s2"])]);

    private static ScopeDecision Decide(ScopeRule rule, SourceAccount account) => rule.Compile(Registry).Decide(account, null, Source);

    private static string[] Created(ScopeRule rule) =>
        Plan(Target(rule), Source, Fixtures.State()).Operations.OfType<CreateAccount>().Select(c => c.UserName).Order().ToArray();

    [Fact]
    public void Only_restricts_the_scope_to_the_named_accounts()
    {
        var rule = ScopeRule.Everyone with { Only = ScopeRule.Names("ALICE@example.com") };
        Assert.Equal(["alice@example.com"], Created(rule));
        var bob = Decide(rule, Bob);
        Assert.False(bob.InScope);
        Assert.Equal("scope.only", bob.Rule);
        Assert.Contains("not named in scope.only [ALICE@example.com]", bob.Reason);

        // The other restrictions still apply to the people `only` names.
        var withKinds = rule with { Only = ScopeRule.Names("alice@example.com", "carol@example.com"), Kinds = new HashSet<AccountKind> { AccountKind.Employee } };
        Assert.Equal(["alice@example.com"], Created(withKinds));
        Assert.Equal("scope.kinds", Decide(withKinds, Carol).Rule);
        Assert.Equal("scope.only + scope.kinds", Decide(withKinds, Alice).Rule);
    }

    [Fact]
    public void Also_adds_named_accounts_to_whatever_else_is_in_scope()
    {
        var rule = ScopeRule.Everyone with { Filter = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Support\"", Also = ScopeRule.Names("carol@example.com") };
        Assert.Equal(["alice@example.com", "carol@example.com"], Created(rule));
        var carol = Decide(rule, Carol);
        Assert.True(carol.InScope);
        Assert.Equal(ScopeBasis.Also, carol.Basis);
        Assert.Equal("scope.also", carol.Rule);
        var alice = Decide(rule, Alice);
        Assert.Equal("scope.filter", alice.Rule);
        Assert.Contains("matches scope.filter", alice.Reason);
        var bob = Decide(rule, Bob);
        Assert.False(bob.InScope);
        Assert.Equal("scope.filter", bob.Rule);
        Assert.Contains("does not match scope.filter", bob.Reason);

        // `also` never brings in what is never provisioned.
        Assert.Equal("builtin/service", Decide(rule with { Also = ScopeRule.Names("svc-queue") }, Svc).Rule);
    }

    [Fact]
    public void Exclude_wins_over_also_and_every_decision_names_its_rule()
    {
        var rule = ScopeRule.Everyone with { Groups = new HashSet<string> { "Expenses" }, Also = ScopeRule.Names("alice@example.com"), Exclude = ScopeRule.Names("alice@example.com") };
        Assert.Equal(["bob@example.com"], Created(rule));
        Assert.Equal("scope.exclude", Decide(rule, Alice).Rule);
        Assert.Equal("member of [Expenses] (scope.groups)", Decide(rule, Bob).Reason);
        Assert.Equal("member of no group; scope.groups is [Expenses]", Decide(rule, Carol).Reason);
        Assert.Equal(ScopeBasis.Everyone, Decide(ScopeRule.Everyone, Bob).Basis);
        Assert.Equal("everyone", Decide(ScopeRule.Everyone, Bob).Rule);
    }
}
