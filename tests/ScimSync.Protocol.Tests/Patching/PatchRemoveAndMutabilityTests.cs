using ScimSync.Protocol.Errors;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

public sealed class PatchRemoveAndMutabilityTests
{
    [Fact]
    public void Remove_single_valued_attribute_unassigns_it()
    {
        var result = PatchUser(User(), """{"op":"remove","path":"displayName"}""");
        Assert.False(result.Resource.ContainsKey("displayName"));
        Assert.Equal(["displayName"], result.ChangedAttributes);
    }

    [Fact]
    public void Remove_of_an_absent_attribute_succeeds_without_change()
    {
        var result = PatchUser(User(), """{"op":"remove","path":"title"}""", """{"op":"remove","path":"phoneNumbers"}""");
        Assert.False(result.Changed);
    }

    [Fact]
    public void Remove_sub_attribute_drops_parent_when_empty()
    {
        var first = PatchUser(User(), """{"op":"remove","path":"name.givenName"}""");
        AssertJson("""{"familyName":"Jensen"}""", first.Resource["name"]);
        Assert.Equal(["name.givenName"], first.ChangedAttributes);
        var second = PatchUser(first.Resource, """{"op":"remove","path":"name.familyName"}""");
        Assert.False(second.Resource.ContainsKey("name"));
    }

    [Fact]
    public void Remove_with_filter_removes_matches_and_unassigns_when_empty()
    {
        var one = PatchUser(User(), """{"op":"remove","path":"emails[type eq \"work\"]"}""");
        AssertJson("""[{"value":"babs@jensen.org","type":"home"}]""", one.Resource["emails"]);
        var none = PatchUser(User(), """{"op":"remove","path":"emails[value co \"@\"]"}""");
        Assert.False(none.Resource.ContainsKey("emails"));
    }

    [Fact]
    public void Remove_with_filter_that_matches_nothing_succeeds_unchanged()
    {
        var result = PatchGroup(Group(), """{"op":"remove","path":"members[value eq \"not-a-member\"]"}""");
        Assert.False(result.Changed);
    }

    [Fact]
    public void Remove_value_path_sub_attribute()
    {
        var result = PatchUser(User(), """{"op":"remove","path":"emails[type eq \"work\"].primary"}""");
        AssertJson("""[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"}]""", result.Resource["emails"]);
    }

    [Fact]
    public void Remove_sub_attribute_of_every_value()
    {
        var result = PatchUser(User(), """{"op":"remove","path":"emails.type"}""");
        AssertJson("""[{"value":"bjensen@example.com","primary":true},{"value":"babs@jensen.org"}]""", result.Resource["emails"]);
    }

    [Fact]
    public void Atomicity_later_failure_discards_earlier_operations()
    {
        // Test named in the checklist (scim-standards.md 2.G.4): displayName stays unchanged.
        var user = User();
        FailsAtomically(ScimErrorType.Mutability, user, u => PatchUser(u,
            """{"op":"replace","path":"displayName","value":"Changed"}""",
            """{"op":"remove","path":"userName"}"""));
        Assert.Equal("Babs Jensen", user["displayName"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"op":"remove","path":"userName"}""")]
    [InlineData("""{"op":"replace","path":"userName","value":null}""")]
    [InlineData("""{"op":"replace","value":{"userName":null}}""")]
    [InlineData("""{"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:User:userName"}""")]
    public void Removing_a_required_attribute_is_mutability(string op) =>
        FailsAtomically(ScimErrorType.Mutability, User(), u => PatchUser(u, op));

    [Fact]
    public void Removing_group_displayName_is_mutability() =>
        FailsAtomically(ScimErrorType.Mutability, Group(), g => PatchGroup(g, """{"op":"remove","path":"displayName"}"""));

    [Theory]
    [InlineData("""{"op":"replace","path":"id","value":"x"}""")]
    [InlineData("""{"op":"add","path":"meta.created","value":"2020-01-01T00:00:00Z"}""")]
    [InlineData("""{"op":"remove","path":"meta"}""")]
    [InlineData("""{"op":"add","path":"groups","value":[{"value":"g1"}]}""")]
    [InlineData("""{"op":"remove","path":"groups[value eq \"g1\"]"}""")]
    [InlineData("""{"op":"replace","path":"schemas","value":["urn:ietf:params:scim:schemas:core:2.0:User"]}""")]
    [InlineData("""{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"x"}""")]
    [InlineData("""{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m","displayName":"x"}}""")]
    [InlineData("""{"op":"replace","value":{"id":{"value":"x"}}}""")]
    [InlineData("""{"op":"add","value":{"meta":{"version":"W/\"1\""}}}""")]
    public void Read_only_targets_are_mutability(string op) =>
        FailsAtomically(ScimErrorType.Mutability, EnterpriseUser(), u => PatchUser(u, op));

    [Fact]
    public void Members_can_be_added_and_removed_despite_immutable_sub_attributes()
    {
        var result = PatchGroup(Group(),
            """{"op":"add","path":"members","value":[{"value":"m3","display":"Third","type":"User"}]}""",
            $$"""{"op":"remove","path":"members[value eq \"{{BabsId}}\"]"}""",
            """{"op":"replace","path":"members[value eq \"m3\"]","value":{"value":"m3","type":"User"}}""");
        Assert.Equal([MandyId, "m3"], result.Resource["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));
    }

    [Fact]
    public void Editing_an_existing_member_sub_attribute_in_place_is_mutability()
    {
        var group = Group();
        FailsAtomically(ScimErrorType.Mutability, group, g => PatchGroup(g, $$"""{"op":"replace","path":"members[value eq \"{{BabsId}}\"].display","value":"B"}"""));
        FailsAtomically(ScimErrorType.Mutability, group, g => PatchGroup(g, $$"""{"op":"remove","path":"members[value eq \"{{BabsId}}\"].type"}"""));
        FailsAtomically(ScimErrorType.Mutability, group, g => PatchGroup(g, """{"op":"replace","path":"members[type eq \"User\"]","value":{"display":"Anyone"}}"""));
    }

    [Fact]
    public void An_immutable_member_sub_attribute_without_a_value_may_be_set()
    {
        var group = Obj($$"""{"schemas":["{{GroupSchema}}"],"displayName":"G","members":[{"value":"m1"}]}""");
        var result = PatchGroup(group, """{"op":"add","path":"members[value eq \"m1\"].display","value":"One"}""");
        AssertJson("""[{"value":"m1","display":"One"}]""", result.Resource["members"]);
    }

    [Fact]
    public void Immutable_attribute_may_be_set_once_but_not_changed_or_removed()
    {
        var user = Obj($$$"""{"schemas":["{{{UserSchema}}}","{{{Badge}}}"],"userName":"u","{{{Badge}}}":{"site":"HQ"}}""");
        var set = PatchBadgeUser(user, $$"""{"op":"add","path":"{{Badge}}:badgeId","value":"B-1"}""");
        Assert.Equal("B-1", set.Resource[Badge]!["badgeId"]!.GetValue<string>());
        Assert.Equal([$"{Badge}:badgeId"], set.ChangedAttributes);

        var same = PatchBadgeUser(set.Resource, """{"op":"replace","path":"badgeId","value":"B-1"}""");
        Assert.False(same.Changed);
        FailsAtomically(ScimErrorType.Mutability, set.Resource, u => PatchBadgeUser(u, """{"op":"replace","path":"badgeId","value":"B-2"}"""));
        FailsAtomically(ScimErrorType.Mutability, set.Resource, u => PatchBadgeUser(u, $$"""{"op":"remove","path":"{{Badge}}:badgeId"}"""));
        FailsAtomically(ScimErrorType.Mutability, set.Resource, u => PatchBadgeUser(u, $$$$"""{"op":"replace","value":{"{{{{Badge}}}}":{"badgeId":"B-3"}}}"""));
    }

    [Fact]
    public void Extension_with_required_attribute_cannot_be_cleared()
    {
        var user = Obj($$$"""{"schemas":["{{{UserSchema}}}","{{{Badge}}}"],"userName":"u","{{{Badge}}}":{"site":"HQ","floor":3}}""");
        FailsAtomically(ScimErrorType.Mutability, user, u => PatchBadgeUser(u, $$"""{"op":"remove","path":"{{Badge}}"}"""));
        FailsAtomically(ScimErrorType.Mutability, user, u => PatchBadgeUser(u, $$"""{"op":"remove","path":"{{Badge}}:site"}"""));
        var floorGone = PatchBadgeUser(user, $$"""{"op":"remove","path":"{{Badge}}:floor"}""");
        AssertJson("""{"site":"HQ"}""", floorGone.Resource[Badge]);
    }

    [Fact]
    public void Multi_valued_simple_attribute_add_is_set_like_and_remove_takes_listed_values()
    {
        var user = Obj($$$"""{"schemas":["{{{UserSchema}}}","{{{Badge}}}"],"userName":"u","{{{Badge}}}":{"site":"HQ","tags":["a"]}}""");
        var added = PatchBadgeUser(user, """{"op":"add","path":"tags","value":["A","b","b"]}""");
        AssertJson("""["a","b"]""", added.Resource[Badge]!["tags"]);
        var removed = PatchBadgeUser(added.Resource, """{"op":"remove","path":"tags","value":["B"]}""");
        AssertJson("""["a"]""", removed.Resource[Badge]!["tags"]);
        Assert.Equal([$"{Badge}:tags"], removed.ChangedAttributes);
    }
}
