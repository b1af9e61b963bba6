using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

public sealed class ScimEventBuilderTests
{
    [Fact]
    public void Sub_id_is_scim_format_with_relative_uri_id_and_externalId()
    {
        var e = Build(Put());
        AssertJson($$"""{"format":"scim","uri":"/Users/{{UserId}}","id":"{{UserId}}","externalId":"bjensen-ext"}""", e.SubId);
    }

    [Fact]
    public void Sub_id_has_no_externalId_when_the_data_has_none_or_there_is_no_data()
    {
        var data = JsonNode.Parse(UserData)!.AsObject();
        data.Remove("externalId");
        Assert.False(Build(Put(data.ToJsonString())).SubId.ContainsKey("externalId"));
        AssertJson($$"""{"format":"scim","uri":"/Users/{{UserId}}","id":"{{UserId}}"}""", Build(Delete()).SubId);
    }

    [Theory]
    [InlineData("/Groups", "/Groups/g1")]
    [InlineData("Groups", "/Groups/g1")]
    [InlineData("/Groups/", "/Groups/g1")]
    public void Sub_id_uri_joins_endpoint_and_id_with_one_slash(string endpoint, string uri)
    {
        var e = Build(Delete("Group", "g1"), endpoint: endpoint);
        Assert.Equal(uri, e.SubId["uri"]!.GetValue<string>());
    }

    [Fact]
    public void Sub_id_uri_escapes_the_id_as_a_path_segment()
    {
        var e = Build(Delete("User", "a b/c"));
        Assert.Equal("/Users/a%20b%2Fc", e.SubId["uri"]!.GetValue<string>());
        Assert.Equal("a b/c", e.SubId["id"]!.GetValue<string>());
    }

    [Fact]
    public void Txn_is_the_journal_entry_txn()
    {
        Assert.Equal(Txn, Build(Create()).Txn);
    }

    [Fact]
    public void Create_full_carries_the_resource_with_id_and_meta_and_the_version()
    {
        var e = Build(Create());
        Assert.Equal(["prov:create:full"], Uris(e));
        var expected = JsonNode.Parse(UserFull)!.AsObject();
        expected["meta"]!["version"] = "W/\"1\"";
        AssertJson($$"""{"data":{{expected.ToJsonString()}},"version":"W/\"1\""}""", e.Events[EventUris.CreateFull]);
    }

    [Fact]
    public void Create_notice_carries_the_changed_attributes_and_the_version()
    {
        var e = Build(Create(attributes: ["userName", "name.givenName"]), PayloadMode.Notice);
        Assert.Equal(["prov:create:notice"], Uris(e));
        AssertJson("""{"attributes":["userName","name.givenName"],"version":"W/\"1\""}""", e.Events[EventUris.CreateNotice]);
    }

    [Fact]
    public void Create_full_of_a_group_includes_its_members()
    {
        var e = Build(Entry(JournalOperation.Create, GroupData, ["displayName", "members"], type: "Group", id: GroupId, version: 1), endpoint: "/Groups");
        var data = Payload(e, EventUris.CreateFull)["data"]!;
        AssertJson($$"""[{"value":"{{UserId}}","type":"User","display":"bjensen"}]""", data["members"]);
        AssertJson("""{"resourceType":"Group","version":"W/\"1\""}""", data["meta"]);
    }

    [Fact]
    public void Put_full_carries_the_whole_resource_with_id()
    {
        var e = Build(Put());
        Assert.Equal(["prov:put:full"], Uris(e));
        AssertJson($$"""{"data":{{UserFull}},"version":"W/\"3\""}""", e.Events[EventUris.PutFull]);
    }

    [Fact]
    public void Put_notice_carries_the_changed_attributes()
    {
        var e = Build(Put(UserData, "name.givenName", "emails"), PayloadMode.Notice);
        Assert.Equal(["prov:put:notice"], Uris(e));
        AssertJson("""{"attributes":["name.givenName","emails"],"version":"W/\"3\""}""", e.Events[EventUris.PutNotice]);
    }

    [Fact]
    public void Patch_full_carries_the_journaled_PatchOp()
    {
        var request = PatchOp("""{"op":"replace","path":"name.givenName","value":"Babs"}""");
        var e = Build(Patch(request));
        Assert.Equal(["prov:patch:full"], Uris(e));
        AssertJson($$"""{"data":{{request}},"version":"W/\"3\""}""", e.Events[EventUris.PatchFull]);
    }

    [Fact]
    public void Patch_notice_carries_the_changed_attributes()
    {
        var e = Build(Patch(PatchOp("""{"op":"add","path":"emails","value":[{"value":"b@example.com"}]}"""), UserData, "emails"), PayloadMode.Notice);
        Assert.Equal(["prov:patch:notice"], Uris(e));
        AssertJson("""{"attributes":["emails"],"version":"W/\"3\""}""", e.Events[EventUris.PatchNotice]);
    }

    [Fact]
    public void Patch_full_without_a_journaled_request_replaces_with_the_stored_data()
    {
        var e = Build(Patch(null));
        var value = JsonNode.Parse(UserData)!.AsObject();
        value.Remove("schemas");
        AssertJson($$"""

            {"data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{{value.ToJsonString()}}}]},
             "version":"W/\"3\""}
            """, e.Events[EventUris.PatchFull]);
    }

    [Fact]
    public void Patch_full_with_neither_request_nor_data_falls_back_to_a_notice()
    {
        var e = Build(Patch(null, null, "members"));
        Assert.Equal(["prov:patch:notice"], Uris(e));
        AssertJson("""{"attributes":["members"],"version":"W/\"3\""}""", e.Events[EventUris.PatchNotice]);
    }

    [Fact]
    public void Membership_cascade_of_a_user_delete_is_a_group_patch_with_the_removal()
    {
        // What ResourceService journals for each group that lost a deleted user: no data, a remove request.
        var request = PatchOp($$"""{"op":"remove","path":"members[value eq \"{{UserId}}\"]"}""");
        var entry = Entry(JournalOperation.Patch, null, ["members"], request, "Group", GroupId, 7);
        var full = Build(entry, endpoint: "/Groups");
        Assert.Equal(["prov:patch:full"], Uris(full));
        AssertJson(request, full.Events[EventUris.PatchFull]!["data"]);
        Assert.Equal($"/Groups/{GroupId}", full.SubId["uri"]!.GetValue<string>());
        Assert.True(full.Urgent);
    }

    [Fact]
    public void Patch_full_never_carries_a_password()
    {
        var request = PatchOp(
            """{"op":"replace","path":"password","value":"s3cret"}""",
            """{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:password","value":"s3cret"}""",
            """{"op":"replace","value":{"password":"s3cret","displayName":"Babs"}}""",
            """{"op":"replace","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"password":"s3cret"},"title":"Guide"}}""",
            """{"op":"replace","path":"title","value":"Guide"}""");
        var e = Build(Patch(request, UserData, "password", "displayName", "title"));
        Assert.DoesNotContain("s3cret", e.Events.ToJsonString());
        AssertJson("""
            [{"op":"replace","value":{"displayName":"Babs"}},
             {"op":"replace","value":{"title":"Guide"}},
             {"op":"replace","path":"title","value":"Guide"}]
            """, e.Events[EventUris.PatchFull]!["data"]!["Operations"]);
    }

    [Fact]
    public void Password_only_patch_in_full_mode_becomes_a_notice()
    {
        var e = Build(Patch(PatchOp("""{"op":"replace","path":"password","value":"s3cret"}"""), UserData, "password"));
        Assert.Equal(["prov:patch:notice"], Uris(e));
        AssertJson("""{"attributes":["password"],"version":"W/\"3\""}""", e.Events[EventUris.PatchNotice]);
    }

    [Fact]
    public void Full_representations_never_carry_a_password_even_if_the_data_had_one()
    {
        var data = JsonNode.Parse(UserData)!.AsObject();
        data["password"] = "s3cret";
        Assert.DoesNotContain("s3cret", Build(Put(data.ToJsonString(), "password")).Events.ToJsonString());
        Assert.DoesNotContain("s3cret", Build(Create(data.ToJsonString())).Events.ToJsonString());
        Assert.DoesNotContain("password", Build(Put(data.ToJsonString()), PayloadMode.Notice, FeedTransition.Entered).Events.ToJsonString());
    }

    [Theory]
    [InlineData(PayloadMode.Full, FeedTransition.None)]
    [InlineData(PayloadMode.Notice, FeedTransition.None)]
    [InlineData(PayloadMode.Full, FeedTransition.Left)]
    [InlineData(PayloadMode.Notice, FeedTransition.Entered)]
    public void Delete_is_prov_delete_alone_with_an_empty_payload(PayloadMode mode, FeedTransition transition)
    {
        var e = Build(Delete(), mode, transition);
        Assert.Equal(["prov:delete"], Uris(e));
        AssertJson("{}", e.Events[EventUris.Delete]);
    }

    [Theory]
    [InlineData(JournalOperation.Patch, false, "prov:deactivate")]
    [InlineData(JournalOperation.Patch, true, "prov:activate")]
    [InlineData(JournalOperation.Put, false, "prov:deactivate")]
    [InlineData(JournalOperation.Put, true, "prov:activate")]
    public void Active_flip_adds_activate_or_deactivate_to_the_same_events_claim(JournalOperation op, bool active, string expected)
    {
        var entry = Entry(op, WithActive(UserData, active), ["active"], op == JournalOperation.Patch
            ? PatchOp($$"""{"op":"replace","path":"active","value":{{(active ? "true" : "false")}}}""") : null);
        foreach (var mode in new[] { PayloadMode.Full, PayloadMode.Notice })
        {
            var e = Build(entry, mode);
            Assert.Equal(2, e.Events.Count);
            Assert.Equal(expected, Uris(e)[1]);
            AssertJson("{}", e.Events[EventUris.Prefix + expected]);
        }
    }

    [Fact]
    public void Active_removed_counts_as_deactivation()
    {
        var e = Build(Patch(PatchOp("""{"op":"remove","path":"active"}"""), WithActive(UserData, null), "active"));
        Assert.Equal(["prov:patch:full", "prov:deactivate"], Uris(e));
    }

    [Fact]
    public void No_activation_event_without_an_active_change_or_on_create()
    {
        Assert.Equal(["prov:patch:full"], Uris(Build(Patch(PatchOp("""{"op":"replace","path":"title","value":"x"}"""), UserData, "title"))));
        Assert.Equal(["prov:create:full"], Uris(Build(Create(attributes: ["userName", "active"]))));
    }

    [Fact]
    public void Version_is_the_weak_etag_of_the_journaled_version()
    {
        var e = Build(Entry(JournalOperation.Put, UserData, ["title"], version: 1234567), PayloadMode.Notice);
        Assert.Equal("W/\"1234567\"", e.Events[EventUris.PutNotice]!["version"]!.GetValue<string>());
    }

    [Fact]
    public void Building_twice_gives_equal_events_and_never_shares_nodes()
    {
        var entry = Put();
        var a = Build(entry);
        var b = Build(entry);
        Assert.True(JsonNode.DeepEquals(a.Events, b.Events));
        a.Events[EventUris.PutFull]!["data"]!["userName"] = "changed";
        Assert.Equal("bjensen", b.Events[EventUris.PutFull]!["data"]!["userName"]!.GetValue<string>());
    }

    [Fact]
    public void Arguments_are_checked()
    {
        Assert.Throws<ArgumentNullException>(() => ScimEventBuilder.Build(null!, PayloadMode.Full, FeedTransition.None, "/Users"));
        Assert.Throws<ArgumentException>(() => ScimEventBuilder.Build(Put(), PayloadMode.Full, FeedTransition.None, " "));
        Assert.Throws<ArgumentException>(() => Build(Put("[1,2]")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_coalesced_event_carries_the_whole_latest_state_as_create_or_put(bool asCreate)
    {
        var entry = Patch(PatchOp("""{"op":"replace","path":"name.givenName","value":"Barbara"}"""));
        var e = ScimEventBuilder.BuildCoalesced(entry, asCreate, "/Users");
        var only = Assert.Single(e.Events);
        Assert.Equal(asCreate ? EventUris.CreateFull : EventUris.PutFull, only.Key);
        AssertJson($$"""{"data":{{UserFull}},"version":"W/\"3\""}""", only.Value);
        Assert.False(e.Urgent);
        Assert.Equal(Txn, e.Txn);
        Assert.Throws<ArgumentException>(() => ScimEventBuilder.BuildCoalesced(Delete(), false, "/Users"));
    }
}
