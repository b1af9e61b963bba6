using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Sources;
using static ScimSync.Sync.Tests.Planning.Fixtures;

namespace ScimSync.Sync.Tests.Planning;

/// <summary>
/// An out-of-band edit a person accepted: the plan leaves the target's value while the source wants what it wanted
/// then and the target holds what was accepted, and writes as usual once either changes.
/// </summary>
public class AcceptedDriftTests
{
    private static SourceAccount Person(string title, string displayName = "Alice")
    {
        var doc = User("s1", "alice@example.com", "employee").Document;
        doc["title"] = title;
        doc["displayName"] = displayName;
        return SourceAccount.From(doc, AccountKindRules.Default);
    }

    /// <summary>The account as the engine would write it for <paramref name="source"/>, with the target's title.</summary>
    private static TargetState Linked(SourceAccount source, string title, AcceptedDrift accepted)
    {
        var doc = new TargetPlanner(Target(), AccountKindRules.Default, Registry).Mapper.Map(source, Now);
        doc["id"] = "t1";
        doc["title"] = title;
        return Fixtures.State([new TargetAccount("t1", doc)], new() { ["t1"] = "s1" }) with { Accepted = accepted };
    }

    private static AcceptedDrift Accepted(string wanted, string kept) =>
        AcceptedDrift.None.With("t1", new Dictionary<string, AcceptedDrift.Entry> { ["title"] = new(JsonValue.Create(wanted), JsonValue.Create(kept)) });

    private static IReadOnlyList<UpdateAccount> Updates(SourceAccount source, TargetState state) =>
        Plan(Target(), Snapshot([source]), state).Operations.OfType<UpdateAccount>().ToArray();

    [Fact]
    public void Without_an_acceptance_the_target_s_edit_is_planned_away()
    {
        var update = Assert.Single(Updates(Person("Clerk"), Linked(Person("Clerk"), "Kept in the app", AcceptedDrift.None)));
        Assert.Equal("replace title", update.Detail);
    }

    [Fact]
    public void An_accepted_edit_stays_while_the_source_and_the_target_hold_what_they_held()
    {
        Assert.Empty(Updates(Person("Clerk"), Linked(Person("Clerk"), "Kept in the app", Accepted("Clerk", "Kept in the app"))));
    }

    [Fact]
    public void Another_attribute_is_still_updated_and_the_replacement_keeps_the_accepted_value()
    {
        var update = Assert.Single(Updates(Person("Clerk", "Alice A."), Linked(Person("Clerk"), "Kept in the app", Accepted("Clerk", "Kept in the app"))));
        Assert.Equal("replace displayName", update.Detail);
        Assert.Equal("Kept in the app", update.Replacement["title"]!.GetValue<string>());
    }

    [Fact]
    public void A_new_value_at_the_source_is_written_the_acceptance_lapses()
    {
        var update = Assert.Single(Updates(Person("Senior clerk"), Linked(Person("Clerk"), "Kept in the app", Accepted("Clerk", "Kept in the app"))));
        Assert.Equal("Senior clerk", update.Operations.Single()["value"]!.GetValue<string>());
    }

    [Fact]
    public void Another_edit_at_the_target_is_not_covered_by_the_acceptance()
    {
        var update = Assert.Single(Updates(Person("Clerk"), Linked(Person("Clerk"), "Edited again", Accepted("Clerk", "Kept in the app"))));
        Assert.Equal("Clerk", update.Operations.Single()["value"]!.GetValue<string>());
    }

    [Fact]
    public void Acceptances_survive_the_checkpoint_and_are_forgotten_per_account()
    {
        var accepted = AcceptedDrift.Parse(Accepted("Clerk", "Kept in the app").ToJson());
        Assert.Equal("Kept in the app", accepted.Of("t1")!["TITLE"].Kept!.GetValue<string>());
        Assert.Equal(0, accepted.With("t1", null).Count);
        Assert.Same(AcceptedDrift.None, AcceptedDrift.Parse(null));
    }
}
