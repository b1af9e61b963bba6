using ScimSync.Feed.Events;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

public sealed class UrgencyTests
{
    [Fact]
    public void Delete_is_urgent()
    {
        Assert.True(ScimEventBuilder.IsUrgent(Delete()));
        Assert.True(ScimEventBuilder.IsUrgent(Delete("Group", GroupId)));
    }

    [Theory]
    [InlineData(JournalOperation.Patch)]
    [InlineData(JournalOperation.Put)]
    public void Deactivation_is_urgent_and_activation_is_not(JournalOperation op)
    {
        Assert.True(ScimEventBuilder.IsUrgent(Entry(op, WithActive(UserData, false), ["active"])));
        Assert.True(ScimEventBuilder.IsUrgent(Entry(op, WithActive(UserData, null), ["active"])));
        Assert.False(ScimEventBuilder.IsUrgent(Entry(op, WithActive(UserData, true), ["active"])));
    }

    [Fact]
    public void An_inactive_user_edited_elsewhere_is_not_a_deactivation()
    {
        Assert.False(ScimEventBuilder.IsUrgent(Entry(JournalOperation.Patch, WithActive(UserData, false), ["title"])));
    }

    [Theory]
    [InlineData(JournalOperation.Patch)]
    [InlineData(JournalOperation.Put)]
    [InlineData(JournalOperation.Create)]
    public void Password_change_is_urgent(JournalOperation op)
    {
        Assert.True(ScimEventBuilder.IsUrgent(Entry(op, UserData, ["name.givenName", "password"])));
    }

    [Theory]
    [InlineData(JournalOperation.Patch)]
    [InlineData(JournalOperation.Put)]
    public void Group_membership_change_is_urgent(JournalOperation op)
    {
        Assert.True(ScimEventBuilder.IsUrgent(Entry(op, GroupData, ["members"], type: "Group", id: GroupId)));
        Assert.False(ScimEventBuilder.IsUrgent(Entry(op, GroupData, ["displayName"], type: "Group", id: GroupId)));
    }

    [Fact]
    public void Routine_edits_are_not_urgent()
    {
        Assert.False(ScimEventBuilder.IsUrgent(Put(UserData, "name.givenName", "emails")));
        Assert.False(ScimEventBuilder.IsUrgent(Patch(PatchOp("""{"op":"replace","path":"title","value":"x"}"""), UserData, "title")));
        Assert.False(ScimEventBuilder.IsUrgent(Create()));
        // "members" on anything but a Group is some extension's attribute, not access control.
        Assert.False(ScimEventBuilder.IsUrgent(Entry(JournalOperation.Patch, UserData, ["members"])));
    }

    [Fact]
    public void Built_events_carry_the_urgency_of_their_entry()
    {
        var deactivation = Patch(PatchOp("""{"op":"replace","path":"active","value":false}"""), WithActive(UserData, false), "active");
        Assert.True(Build(deactivation).Urgent);
        Assert.True(Build(deactivation, PayloadMode.Notice, FeedTransition.Left).Urgent);
        Assert.True(Build(Delete()).Urgent);
        Assert.False(Build(Put()).Urgent);
        Assert.False(Build(Put(), PayloadMode.Notice, FeedTransition.Entered).Urgent);
    }
}
