using ScimSync.Feed.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Store.Journal;
using static ScimSync.Server.Tests.Feed.FeedHarness;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// Fan-out looks ahead for urgent journal entries, so an urgent change written behind a backlog is queued
/// (with its resource's earlier changes, in order) long before the in-order scan reaches it, and every
/// entry is still queued exactly once.
/// </summary>
public sealed class FanoutLookAheadTests
{
    private const int Batch = 100;
    private const int Backlog = 2_000;

    private static SubscriptionConfig Config(string? filter = null) =>
        new() { Audience = "https://receiver.test", ResourceTypes = ["User"], Filter = filter };

    [Fact]
    public async Task An_urgent_deactivation_behind_a_backlog_is_claimable_after_one_round()
    {
        await using var h = await StartAsync(Batch);
        var sub = await h.SubscribeAsync(Config());
        await h.BacklogAsync(Backlog);
        var victim = await h.AppendAsync(
            Change("victim", JournalOperation.Create, 1, UserDoc("victim"), "userName", "active"));
        var deactivation = await h.AppendAsync(
            Change("victim", JournalOperation.Patch, 2, UserDoc("victim", active: false), "active"));

        Assert.True(await h.Worker.RunOnceAsync(await h.ReloadAsync(sub), default) > 0);

        var after = await h.ReloadAsync(sub);
        Assert.Equal(Batch, after.FanoutPosition);
        Assert.Equal(deactivation[0], after.AheadPosition);
        var first = await h.ReceiveAsync(sub, 2);
        Assert.Equal([victim[0], deactivation[0]], first.Select(d => d.Position));
        Assert.Contains("prov:deactivate", FeedHarness.Events(first[1]));
        // Most of the backlog is still in the journal only, not queued.
        Assert.True((await h.Store.Feed.StatsAsync(sub.Id, default)).Pending <= Batch);
    }

    [Fact]
    public async Task Routine_changes_of_the_urgent_resource_are_delivered_first_and_in_order_then_everything_exactly_once()
    {
        await using var h = await StartAsync(Batch);
        var sub = await h.SubscribeAsync(Config());
        var expected = new List<long>();
        var victim = new List<long>();
        victim.AddRange(await h.AppendAsync(Change("victim", JournalOperation.Create, 1, UserDoc("victim", title: "a"), "userName", "active", "title")));
        expected.AddRange(await h.BacklogAsync(Backlog / 2, "first"));
        victim.AddRange(await h.AppendAsync(Change("victim", JournalOperation.Patch, 2, UserDoc("victim", title: "b"), "title")));
        expected.AddRange(await h.BacklogAsync(Backlog / 2, "second"));
        victim.AddRange(await h.AppendAsync(Change("victim", JournalOperation.Put, 3, UserDoc("victim", title: "c"), "title")));
        victim.AddRange(await h.AppendAsync(Change("victim", JournalOperation.Patch, 4, UserDoc("victim", active: false, title: "c"), "active")));
        // A routine change after the urgent one stays behind the backlog: it is the in-order scan's.
        var later = await h.AppendAsync(Change("victim", JournalOperation.Patch, 5, UserDoc("victim", active: false, title: "d"), "title"));
        expected.AddRange(victim);
        expected.AddRange(later);

        await h.Worker.RunOnceAsync(await h.ReloadAsync(sub), default);
        var head = await h.ReceiveAsync(sub, victim.Count);
        Assert.Equal(victim, head.Select(d => d.Position));
        Assert.All(head, d => Assert.Equal("victim", d.ResourceId));
        Assert.Equal(["prov:create:notice"], FeedHarness.Events(head[0]));
        Assert.Contains("prov:deactivate", FeedHarness.Events(head[^1]));

        await h.FanOutAllAsync(sub);
        var rest = await h.ReceiveAsync(sub);
        var all = head.Concat(rest).Select(d => d.Position).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(expected.Order(), all.Order());
        Assert.Equal(later[0], rest.Where(d => d.ResourceId == "victim").Select(d => d.Position).Single());
        var s = await h.ReloadAsync(sub);
        Assert.Equal(later[0], s.FanoutPosition);
    }

    [Fact]
    public async Task A_round_redone_from_stale_positions_writes_nothing()
    {
        await using var h = await StartAsync(Batch);
        var sub = await h.SubscribeAsync(Config());
        await h.BacklogAsync(Batch * 3);
        await h.AppendAsync(Change("victim", JournalOperation.Delete, 1, null));
        var stale = await h.ReloadAsync(sub);

        Assert.True(await h.Worker.RunOnceAsync(stale, default) > 0);
        var pending = (await h.Store.Feed.StatsAsync(sub.Id, default)).Pending;
        // The same round again, as after a crash before the caller saw the commit, or a second worker: both
        // positions moved, so the compare-and-set fails and nothing is queued twice.
        Assert.Equal(0, await h.Worker.RunOnceAsync(stale, default));
        Assert.Equal(pending, (await h.Store.Feed.StatsAsync(sub.Id, default)).Pending);
        // Only the in-order position stale, the look-ahead one current: the in-order step's compare-and-set fails too.
        var current = await h.ReloadAsync(sub);
        Assert.Equal(0, await h.Worker.RunOnceAsync(current with { FanoutPosition = stale.FanoutPosition }, default));
        Assert.Equal(pending, (await h.Store.Feed.StatsAsync(sub.Id, default)).Pending);
        // Only the look-ahead position stale: the urgent entry would be taken ahead a second time.
        Assert.Equal(0, await h.Worker.RunOnceAsync(current with { AheadPosition = stale.AheadPosition }, default));
        Assert.Equal(pending, (await h.Store.Feed.StatsAsync(sub.Id, default)).Pending);

        await h.FanOutAllAsync(sub);
        var positions = (await h.ReceiveAsync(sub)).Select(d => d.Position).ToList();
        Assert.Equal(Batch * 3 + 1, positions.Count);
        Assert.Equal(positions.Count, positions.Distinct().Count());
    }

    [Fact]
    public async Task A_resource_with_more_history_than_one_round_is_looked_ahead_over_several_rounds()
    {
        await using var h = await StartAsync(10);
        var sub = await h.SubscribeAsync(Config());
        await h.BacklogAsync(50);
        var history = new List<long>();
        history.AddRange(await h.AppendAsync(Change("busy", JournalOperation.Create, 1, UserDoc("busy"), "userName")));
        for (var v = 2; v <= 25; v++)
            history.AddRange(await h.AppendAsync(Change("busy", JournalOperation.Patch, v, UserDoc("busy", title: "t" + v), "title")));
        history.AddRange(await h.AppendAsync(Change("busy", JournalOperation.Patch, 26, UserDoc("busy", active: false), "active")));

        for (var round = 0; round < 3; round++) await h.Worker.RunOnceAsync(await h.ReloadAsync(sub), default);
        var head = await h.ReceiveAsync(sub, history.Count);
        Assert.Equal(history, head.Select(d => d.Position));
        Assert.True((await h.ReloadAsync(sub)).FanoutPosition < 50);

        await h.FanOutAllAsync(sub);
        var rest = (await h.ReceiveAsync(sub)).Select(d => d.Position).ToList();
        Assert.Equal(50, rest.Count);
        Assert.Empty(rest.Intersect(history));
    }

    [Fact]
    public async Task Filter_transitions_stay_right_when_an_urgent_change_is_taken_ahead()
    {
        await using var h = await StartAsync(Batch);
        var sub = await h.SubscribeAsync(Config("title eq \"in\""));
        // "enters": created outside the filter, moved in, then deactivated behind the backlog.
        await h.AppendAsync(
            Change("enters", JournalOperation.Create, 1, UserDoc("enters", title: "out"), "userName", "title"),
            Change("enters", JournalOperation.Patch, 2, UserDoc("enters", title: "in"), "title"));
        // "leaves": created inside, then deactivated and moved out by one PUT, then moved back in.
        await h.AppendAsync(Change("leaves", JournalOperation.Create, 1, UserDoc("leaves", title: "in"), "userName", "title"));
        await h.BacklogAsync(Backlog);
        await h.AppendAsync(
            Change("enters", JournalOperation.Patch, 3, UserDoc("enters", active: false, title: "in"), "active"),
            Change("leaves", JournalOperation.Put, 2, UserDoc("leaves", active: false, title: "out"), "active", "title"));
        await h.BacklogAsync(Batch, "more");
        await h.AppendAsync(Change("leaves", JournalOperation.Patch, 3, UserDoc("leaves", active: true, title: "in"), "active", "title"));

        await h.Worker.RunOnceAsync(await h.ReloadAsync(sub), default);
        Assert.True((await h.ReloadAsync(sub)).FanoutPosition < Backlog);
        await h.FanOutAllAsync(sub);
        var got = await h.ReceiveAsync(sub);

        // The backlog users are outside the filter (no title): only the two resources' events arrive.
        Assert.Equal(["enters", "enters", "leaves", "leaves", "leaves"], got.Select(d => d.ResourceId).Order());
        string[][] Of(string id) => got.Where(d => d.ResourceId == id).Select(FeedHarness.Events).ToArray();
        Assert.Equal([["feed:add", "prov:put:notice"], ["prov:patch:notice", "prov:deactivate"]], Of("enters"));
        Assert.Equal([["prov:create:notice"], ["feed:remove"], ["feed:add", "prov:put:notice"]], Of("leaves"));
        Assert.Equal(["enters", "leaves"], (await h.Store.Feed.MembersAsync(sub.Id, ["enters", "leaves", "routine-000001"], default)).Order());
    }

    [Fact]
    public async Task Urgent_changes_of_unsubscribed_types_move_the_look_ahead_on_without_queueing()
    {
        await using var h = await StartAsync(Batch);
        var sub = await h.SubscribeAsync(Config());
        await h.BacklogAsync(Batch * 2);
        var group = await h.AppendAsync(new JournalAppend("g", "Group", "group-1", JournalOperation.Patch, 2, ["members"],
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}""", null, "test", DateTimeOffset.UnixEpoch));
        await h.Worker.RunOnceAsync(await h.ReloadAsync(sub), default);
        var s = await h.ReloadAsync(sub);
        Assert.Equal(group[0], s.AheadPosition);
        Assert.Equal(Batch, s.FanoutPosition);
        Assert.Equal(Batch, (await h.Store.Feed.StatsAsync(sub.Id, default)).Pending);
    }

    [Fact]
    public async Task The_journal_records_urgency_when_appended()
    {
        await using var h = await StartAsync(Batch);
        var positions = await h.AppendAsync(
            Change("u1", JournalOperation.Create, 1, UserDoc("u1"), "userName", "active"),
            Change("u1", JournalOperation.Patch, 2, UserDoc("u1", title: "x"), "title"),
            Change("u1", JournalOperation.Patch, 3, UserDoc("u1", active: false), "active"),
            Change("u1", JournalOperation.Patch, 4, UserDoc("u1", active: true), "active"),
            Change("u1", JournalOperation.Patch, 5, UserDoc("u1", active: true), "password"),
            Change("u1", JournalOperation.Delete, 6, null));
        var urgent = await h.Store.ReadUrgentJournalAsync(0, 100, default);
        Assert.Equal([positions[2], positions[4], positions[5]], urgent.Select(u => u.Position));
        var all = await h.Store.ReadJournalAsync(0, 100, default);
        Assert.Equal(urgent.Select(u => u.Position), all.Where(ScimEventBuilder.IsUrgent).Select(e => e.Position));
        Assert.Equal(positions[1..3], (await h.Store.ReadResourceJournalAsync("u1", positions[0], positions[2], 100, default)).Select(e => e.Position));
    }
}
