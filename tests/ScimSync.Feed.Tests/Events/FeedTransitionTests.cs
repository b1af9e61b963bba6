using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

/// <summary>A change that moves a resource into or out of a subscription's filter (RFC 9967 feed:add / feed:remove).</summary>
public sealed class FeedTransitionTests
{
    [Fact]
    public void Entered_full_is_feed_add_plus_put_full_with_the_whole_state()
    {
        // A patch moved the user into the filter: the consumer gets the resource, not the patch.
        var e = Build(Patch(PatchOp("""{"op":"replace","path":"active","value":true}"""), UserData, "active"), transition: FeedTransition.Entered);
        Assert.Equal(["feed:add", "prov:put:full"], Uris(e));
        AssertJson("{}", e.Events[EventUris.FeedAdd]);
        AssertJson($$"""{"data":{{UserFull}},"version":"W/\"3\""}""", e.Events[EventUris.PutFull]);
    }

    [Fact]
    public void Entered_notice_lists_every_attribute_the_resource_has()
    {
        var e = Build(Put(UserData, "active"), PayloadMode.Notice, FeedTransition.Entered);
        Assert.Equal(["feed:add", "prov:put:notice"], Uris(e));
        AssertJson("""
            {"attributes":["userName","externalId","name","active","emails",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"],
             "version":"W/\"3\""}
            """, e.Events[EventUris.PutNotice]);
    }

    [Fact]
    public void Entered_without_stored_data_can_only_say_what_changed()
    {
        var request = PatchOp("""{"op":"remove","path":"members[value eq \"u1\"]"}""");
        var e = Build(Entry(JournalOperation.Patch, null, ["members"], request, "Group", GroupId), PayloadMode.Full, FeedTransition.Entered);
        Assert.Equal(["feed:add", "prov:put:notice"], Uris(e));
        AssertJson("""{"attributes":["members"],"version":"W/\"3\""}""", e.Events[EventUris.PutNotice]);
    }

    [Fact]
    public void Entered_by_a_group_patch_is_a_notice_because_patch_data_has_no_member_list()
    {
        // docs/journal.md: only create and PUT entries include "members"; a put:full without them would tell the
        // consumer the group is empty.
        var data = JsonNode.Parse(GroupData)!.AsObject();
        data.Remove("members");
        var entry = Entry(JournalOperation.Patch, data.ToJsonString(), ["displayName"],
            PatchOp("""{"op":"replace","path":"displayName","value":"crmUsers"}"""), "Group", GroupId);
        var e = Build(entry, PayloadMode.Full, FeedTransition.Entered, "/Groups");
        Assert.Equal(["feed:add", "prov:put:notice"], Uris(e));
        AssertJson("""{"attributes":["displayName","externalId","members"],"version":"W/\"3\""}""", e.Events[EventUris.PutNotice]);
    }

    [Fact]
    public void Entered_by_a_group_put_carries_the_members()
    {
        var e = Build(Entry(JournalOperation.Put, GroupData, ["displayName"], type: "Group", id: GroupId), PayloadMode.Full, FeedTransition.Entered, "/Groups");
        Assert.Equal(["feed:add", "prov:put:full"], Uris(e));
        Assert.Single(e.Events[EventUris.PutFull]!["data"]!["members"]!.AsArray());
    }

    [Fact]
    public void Entered_by_a_create_keeps_the_create_event()
    {
        Assert.Equal(["feed:add", "prov:create:full"], Uris(Build(Create(), transition: FeedTransition.Entered)));
        Assert.Equal(["feed:add", "prov:create:notice"], Uris(Build(Create(), PayloadMode.Notice, FeedTransition.Entered)));
    }

    [Fact]
    public void Left_is_feed_remove_alone()
    {
        var deactivation = Patch(PatchOp("""{"op":"replace","path":"active","value":false}"""), WithActive(UserData, false), "active");
        foreach (var entry in new[] { Create(), Put(), deactivation })
            foreach (var mode in new[] { PayloadMode.Full, PayloadMode.Notice })
            {
                var e = Build(entry, mode, FeedTransition.Left);
                Assert.Equal(["feed:remove"], Uris(e));
                AssertJson("{}", e.Events[EventUris.FeedRemove]);
            }
    }
}
