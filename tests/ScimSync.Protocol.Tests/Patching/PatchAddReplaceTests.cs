using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

public sealed class PatchAddReplaceTests
{
    [Fact]
    public void Add_sets_a_single_valued_attribute()
    {
        var result = PatchUser(User(), """{"op":"add","path":"title","value":"Tour Guide"}""",
            """{"op":"add","path":"title","value":"Senior Guide"}""");
        Assert.Equal("Senior Guide", result.Resource["title"]!.GetValue<string>());
        Assert.Equal(["title"], result.ChangedAttributes);
    }

    [Fact]
    public void Add_to_complex_merges_sub_attributes()
    {
        var result = PatchUser(User(), """{"op":"add","path":"name","value":{"middleName":"Jane","givenName":"Babs"}}""");
        AssertJson("""{"givenName":"Babs","familyName":"Jensen","middleName":"Jane"}""", result.Resource["name"]);
        Assert.Equal(["name.givenName", "name.middleName"], result.ChangedAttributes);
    }

    [Fact]
    public void Replace_complex_keeps_unlisted_sub_attributes_and_null_unassigns()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"name","value":{"givenName":"Babs","familyName":null}}""");
        AssertJson("""{"givenName":"Babs"}""", result.Resource["name"]);
    }

    [Fact]
    public void Sub_attribute_paths_create_and_update_the_parent()
    {
        var user = User();
        user.Remove("name");
        var result = PatchUser(user, """{"op":"add","path":"name.givenName","value":"Ann"}""",
            """{"op":"replace","path":"name.familyName","value":"Lee"}""");
        AssertJson("""{"givenName":"Ann","familyName":"Lee"}""", result.Resource["name"]);
        Assert.Equal(["name"], result.ChangedAttributes);
    }

    [Fact]
    public void Replace_with_null_unassigns()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"displayName","value":null}""",
            """{"op":"replace","path":"emails","value":[]}""");
        Assert.False(result.Resource.ContainsKey("displayName"));
        Assert.False(result.Resource.ContainsKey("emails"));
    }

    [Fact]
    public void Add_of_a_present_value_is_a_no_op()
    {
        var user = User();
        var result = PatchUser(user, """{"op":"add","path":"emails","value":[{"value":"BJENSEN@example.com","type":"work"}]}""",
            """{"op":"add","path":"name","value":{"givenName":"Barbara"}}""",
            """{"op":"add","path":"active","value":true}""");
        Assert.False(result.Changed);
        Assert.Empty(result.ChangedAttributes);
        AssertJson(user, result.Resource);
    }

    [Fact]
    public void Re_adding_an_existing_member_is_a_no_op()
    {
        var result = PatchGroup(Group(), $$"""{"op":"add","path":"members","value":[{"value":"{{BabsId}}"}]}""",
            $$$"""{"op":"add","path":"members","value":{"value":"{{{MandyId}}}","display":"Someone Else","type":"User"}}""");
        Assert.False(result.Changed);
    }

    [Fact]
    public void Unnormalised_input_is_not_reported_as_changed_by_a_no_op()
    {
        // Stale schemas order and member order must not move the ETag of an unchanged resource.
        var user = Obj($$$"""{"userName":"bjensen","schemas":["{{{Enterprise}}}","{{{UserSchema}}}"],"{{{Enterprise}}}":{"department":"X"}}""");
        var result = PatchUser(user, """{"op":"add","path":"userName","value":"bjensen"}""");
        Assert.False(result.Changed);
        Assert.Equal([UserSchema, Enterprise], SchemasOf(result.Resource));
    }

    [Fact]
    public void Removing_and_restoring_a_value_is_not_a_change()
    {
        // The restored member lands at the end of the object; member order must not count as a change.
        var result = PatchUser(User(), """{"op":"remove","path":"displayName"}""",
            """{"op":"add","path":"displayName","value":"Babs Jensen"}""");
        Assert.False(result.Changed);
        Assert.Empty(result.ChangedAttributes);
    }

    [Fact]
    public void Add_duplicates_within_one_value_are_added_once()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails","value":[{"value":"n@x.org","type":"other"},{"value":"N@x.org","type":"other"}]}""");
        Assert.Equal(3, result.Resource["emails"]!.AsArray().Count);
    }

    [Fact]
    public void Same_value_with_a_different_type_is_a_new_value()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails","value":[{"value":"babs@jensen.org","type":"other"}]}""");
        Assert.Equal(3, result.Resource["emails"]!.AsArray().Count);
    }

    [Fact]
    public void Adding_a_primary_value_clears_primary_on_the_others()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"other","primary":true}]}""");
        AssertJson("""
            [{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"},
             {"value":"new@example.com","type":"other","primary":true}]
            """, result.Resource["emails"]);
    }

    [Fact]
    public void Re_adding_an_existing_value_as_primary_moves_primary()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails","value":[{"value":"babs@jensen.org","type":"home","primary":true}]}""");
        AssertJson("""[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home","primary":true}]""",
            result.Resource["emails"]);
    }

    [Fact]
    public void Setting_primary_by_value_path_clears_the_others()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}""");
        AssertJson("""[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home","primary":true}]""",
            result.Resource["emails"]);
    }

    [Fact]
    public void Replacing_a_list_with_two_primaries_is_invalidValue()
    {
        FailsAtomically(ScimErrorType.InvalidValue, User(), u => PatchUser(u, """
            {"op":"replace","path":"emails","value":[{"value":"a@x.org","primary":true},{"value":"b@x.org","primary":true}]}
            """));
    }

    [Fact]
    public void Add_with_value_path_and_sub_attribute_sets_it_on_matches()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails[type eq \"work\"].display","value":"Office"}""");
        Assert.Equal("Office", result.Resource["emails"]![0]!["display"]!.GetValue<string>());
        Assert.Null(result.Resource["emails"]![1]!["display"]);
    }

    [Fact]
    public void Add_with_value_path_merges_into_every_match()
    {
        var result = PatchUser(User(), """{"op":"add","path":"emails[value ew \".org\" or value ew \".com\"]","value":{"display":"Mail"}}""");
        Assert.All(result.Resource["emails"]!.AsArray(), e => Assert.Equal("Mail", e!["display"]!.GetValue<string>()));
    }

    [Fact]
    public void Value_path_that_matches_nothing_is_noTarget_unless_one_eq()
    {
        var user = User();
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"add","path":"emails[value sw \"zz\"].display","value":"x"}"""));
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"replace","path":"emails[type eq \"other\" and value pr].value","value":"x"}"""));
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"add","path":"emails[type eq \"other\"]","value":{"value":"x"}}"""));
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"replace","path":"phoneNumbers.display","value":"x"}"""));
    }

    [Fact]
    public void Replace_whose_filter_names_anything_but_type_and_matches_nothing_is_noTarget()
    {
        // RFC 7644 §3.5.2.3; only Entra's "type eq" form creates the value it names.
        var user = User();
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"replace","path":"emails[value eq \"nobody@example.com\"].type","value":"home"}"""));
        FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"replace","path":"emails[display eq \"nope\"].value","value":"x@example.com"}"""));
        var created = PatchUser(User(), """{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@example.org"}""");
        Assert.Contains(created.Resource["emails"]!.AsArray(), e => e!["type"]!.GetValue<string>() == "other");
        var added = PatchUser(User(), """{"op":"add","path":"emails[value eq \"new@example.org\"].type","value":"home"}""");
        Assert.Contains(added.Resource["emails"]!.AsArray(), e => e!["value"]!.GetValue<string>() == "new@example.org");
    }

    [Fact]
    public void Replace_value_path_with_null_removes_the_matches()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"emails[type eq \"home\"]","value":null}""");
        AssertJson("""[{"value":"bjensen@example.com","type":"work","primary":true}]""", result.Resource["emails"]);
    }

    [Fact]
    public void Sub_attribute_of_a_multi_valued_attribute_without_filter_applies_to_every_value()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"emails.display","value":"Mail"}""");
        Assert.All(result.Resource["emails"]!.AsArray(), e => Assert.Equal("Mail", e!["display"]!.GetValue<string>()));
    }

    [Fact]
    public void Operations_apply_in_order_and_see_earlier_results()
    {
        var result = PatchUser(User(),
            """{"op":"add","path":"phoneNumbers","value":[{"value":"555-1234","type":"work"}]}""",
            """{"op":"replace","path":"phoneNumbers[type eq \"work\"].display","value":"Desk"}""",
            """{"op":"remove","path":"emails[type eq \"home\"]"}""");
        AssertJson("""[{"value":"555-1234","type":"work","display":"Desk"}]""", result.Resource["phoneNumbers"]);
        Assert.Single(result.Resource["emails"]!.AsArray());
        // Reported in schema order, not operation order.
        Assert.Equal(["emails", "phoneNumbers"], result.ChangedAttributes);
    }

    [Fact]
    public void Attribute_names_and_filters_in_paths_are_case_insensitive()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"NAME.GIVENNAME","value":"Ann"}""",
            """{"op":"replace","path":"EMAILS[TYPE eq \"WORK\"].VALUE","value":"ann@example.com"}""",
            """{"op":"add","path":"Emails","value":[{"VALUE":"x@y.org","Type":"Other"}]}""");
        Assert.Equal("Ann", result.Resource["name"]!["givenName"]!.GetValue<string>());
        Assert.Equal("ann@example.com", result.Resource["emails"]![0]!["value"]!.GetValue<string>());
        AssertJson("""{"value":"x@y.org","type":"other"}""", result.Resource["emails"]![2]);
        Assert.Equal(["name.givenName", "emails"], result.ChangedAttributes);
    }

    [Fact]
    public void Values_are_type_checked()
    {
        var user = User();
        FailsAtomically(ScimErrorType.InvalidValue, user, u => PatchUser(u, """{"op":"replace","path":"active","value":5}"""));
        FailsAtomically(ScimErrorType.InvalidValue, user, u => PatchUser(u, """{"op":"replace","path":"title","value":["a","b"]}"""));
        FailsAtomically(ScimErrorType.InvalidValue, user, u => PatchUser(u, """{"op":"add","path":"emails","value":[{"value":"a@b.c","type":"pager"}]}"""));
        FailsAtomically(ScimErrorType.InvalidValue, user, u => PatchUser(u, """{"op":"replace","path":"emails[type eq \"work\"]","value":"x"}"""));
    }

    [Fact]
    public void Unknown_attributes_in_paths_are_invalidPath()
    {
        var user = User();
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","path":"shoeSize","value":"9"}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","path":"name.nickname","value":"x"}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","path":"title.x","value":"x"}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","path":"emails[type eq \"work\"].nope","value":"x"}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","path":"name[givenName eq \"x\"]","value":{}}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"replace","value":{"shoeSize":"9"}}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, """{"op":"remove","path":"urn:example:nope:Thing:attr"}"""));
    }

    [Fact]
    public void Unknown_sub_attribute_in_a_path_filter_is_invalidFilter() =>
        FailsAtomically(ScimErrorType.InvalidFilter, User(), u => PatchUser(u, """{"op":"replace","path":"emails[colour eq \"red\"].value","value":"x"}"""));

    [Fact]
    public void Success_does_not_mutate_the_input_or_the_request()
    {
        var user = User();
        var snapshot = user.DeepClone();
        var request = Request("""{"op":"add","path":"emails","value":[{"value":"n@x.org","primary":true}]}""",
            """{"op":"replace","path":"name","value":{"givenName":"Ann"}}""");
        var requestSnapshot = request.Operations.Select(o => o.Value?.DeepClone()).ToArray();
        var first = Engine.Apply(user, Registry.User, request);
        var second = Engine.Apply(user, Registry.User, request);
        AssertJson(snapshot, user);
        AssertJson(first.Resource, second.Resource);
        for (var i = 0; i < requestSnapshot.Length; i++) AssertJson(requestSnapshot[i], request.Operations[i].Value);
        Assert.NotSame(user, first.Resource);
        Assert.Null(first.Resource.Parent);
    }

    [Fact]
    public void Result_lists_schemas_first()
    {
        var result = PatchUser(User(), """{"op":"add","path":"title","value":"x"}""");
        Assert.Equal("schemas", result.Resource.First().Key);
        Assert.IsType<JsonArray>(result.Resource["schemas"]);
    }
}
