using ScimSync.Protocol.Errors;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

/// <summary>The examples of RFC 7644 §3.5.2.1–§3.5.2.3, applied to the RFC's own Group and User.</summary>
public sealed class PatchRfcExampleTests
{
    private const string JamesId = "08e1d05d-121c-4561-8b96-473d93df9210";

    [Fact]
    public void Add_members_appends_to_the_list()
    {
        var result = PatchGroup(Group(), $$"""
            {"op":"add","path":"members","value":[{"display":"James Smith",
              "$ref":"https://example.com/v2/Users/{{JamesId}}","value":"{{JamesId}}"}]}
            """);
        var members = result.Resource["members"]!.AsArray();
        Assert.Equal(3, members.Count);
        AssertJson($$"""{"display":"James Smith","$ref":"https://example.com/v2/Users/{{JamesId}}","value":"{{JamesId}}"}""", members[2]);
        Assert.True(result.Changed);
        Assert.Equal(["members"], result.ChangedAttributes);
    }

    [Fact]
    public void Add_without_path_adds_each_attribute_of_the_value()
    {
        var result = PatchUser(User(), """
            {"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"},{"value":"b@example.net","type":"other"}],
             "nickname":"Babs"}}
            """);
        // "nickname" is stored under the schema's spelling; the home email already exists and is not duplicated.
        Assert.Equal("Babs", result.Resource["nickName"]!.GetValue<string>());
        Assert.Null(result.Resource["nickname"]);
        Assert.Equal(3, result.Resource["emails"]!.AsArray().Count);
        Assert.Equal(["nickName", "emails"], result.ChangedAttributes);
    }

    [Fact]
    public void Remove_member_by_value_filter()
    {
        var result = PatchGroup(Group(), $$"""{"op":"remove","path":"members[value eq \"{{BabsId}}\"]"}""");
        AssertJson($$"""[{"value":"{{MandyId}}","display":"Mandy Pepperidge","type":"User"}]""", result.Resource["members"]);
    }

    [Fact]
    public void Remove_all_members_unassigns_the_attribute()
    {
        var result = PatchGroup(Group(), """{"op":"remove","path":"members"}""");
        Assert.False(result.Resource.ContainsKey("members"));
        Assert.Equal(["members"], result.ChangedAttributes);
    }

    [Fact]
    public void Remove_then_add_replaces_one_member()
    {
        var result = PatchGroup(Group(),
            $$"""{"op":"remove","path":"members[value eq \"{{BabsId}}\"]"}""",
            $$"""{"op":"add","path":"members","value":[{"display":"James Smith","value":"{{JamesId}}"}]}""");
        var ids = result.Resource["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>());
        Assert.Equal([MandyId, JamesId], ids);
    }

    [Fact]
    public void Replace_members_replaces_all_values()
    {
        var result = PatchGroup(Group(), $$"""
            {"op":"replace","path":"members","value":[
              {"display":"Babs Jensen","value":"{{BabsId}}"},{"display":"James Smith","value":"{{JamesId}}"}]}
            """);
        AssertJson($$"""[{"display":"Babs Jensen","value":"{{BabsId}}"},{"display":"James Smith","value":"{{JamesId}}"}]""",
            result.Resource["members"]);
    }

    [Fact]
    public void Replace_work_email_by_filter_merges_into_the_match()
    {
        var result = PatchUser(User(), """
            {"op":"replace","path":"emails[type eq \"work\"]","value":{"type":"work","value":"barbara@example.com","display":"Work"}}
            """);
        AssertJson("""
            [{"value":"barbara@example.com","type":"work","primary":true,"display":"Work"},{"value":"babs@jensen.org","type":"home"}]
            """, result.Resource["emails"]);
    }

    [Fact]
    public void Replace_whole_work_address_by_filter()
    {
        var user = User();
        user["addresses"] = JsonNodeArray("""[{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood"},{"type":"home","locality":"Reno"}]""");
        var result = PatchUser(user, """
            {"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza",
             "locality":"Hollywood","region":"CA","postalCode":"91608","country":"US","primary":true}}
            """);
        AssertJson("""
            [{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"US","primary":true},
             {"type":"home","locality":"Reno"}]
            """, result.Resource["addresses"]);
    }

    [Fact]
    public void Replace_street_address_of_work_address()
    {
        var user = User();
        user["addresses"] = JsonNodeArray("""[{"type":"work","streetAddress":"100 Universal City Plaza"},{"type":"home","streetAddress":"1 Main St"}]""");
        var result = PatchUser(user, """{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}""");
        AssertJson("""[{"type":"work","streetAddress":"1010 Broadway Ave"},{"type":"home","streetAddress":"1 Main St"}]""", result.Resource["addresses"]);
        Assert.Equal(["addresses"], result.ChangedAttributes);
    }

    [Fact]
    public void Replace_without_path_replaces_listed_attributes()
    {
        var result = PatchUser(User(), """
            {"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work"}],"nickname":"Babs"}}
            """);
        AssertJson("""[{"value":"bjensen@example.com","type":"work"}]""", result.Resource["emails"]);
        Assert.Equal("Babs", result.Resource["nickName"]!.GetValue<string>());
    }

    [Fact]
    public void Replace_enterprise_manager()
    {
        var result = PatchUser(EnterpriseUser(), $$$"""
            {"op":"replace","path":"{{{Enterprise}}}:manager","value":{"value":"{{{JamesId}}}","$ref":"../Users/{{{JamesId}}}"}}
            """);
        AssertJson($$"""{"value":"{{JamesId}}","$ref":"../Users/{{JamesId}}"}""", result.Resource[Enterprise]!["manager"]);
        Assert.Equal([$"{Enterprise}:manager.value", $"{Enterprise}:manager.$ref"], result.ChangedAttributes);
    }

    [Fact]
    public void Replace_of_missing_attribute_is_an_add()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"phoneNumbers","value":[{"value":"555-555-8377","type":"work"}]}""",
            """{"op":"replace","path":"title","value":"Tour Guide"}""");
        AssertJson("""[{"value":"555-555-8377","type":"work"}]""", result.Resource["phoneNumbers"]);
        Assert.Equal("Tour Guide", result.Resource["title"]!.GetValue<string>());
    }

    [Fact]
    public void Replace_value_path_without_match_is_noTarget()
    {
        var user = User();
        var e = FailsAtomically(ScimErrorType.NoTarget, user, u => PatchUser(u, """{"op":"replace","path":"emails[type eq \"other\"]","value":{"display":"x"}}"""));
        Assert.Contains("emails", e.Detail);
    }

    [Fact]
    public void Remove_without_path_is_noTarget()
    {
        Fails(ScimErrorType.NoTarget, () => Request("""{"op":"remove"}"""));
        Fails(ScimErrorType.NoTarget, () => Request("""{"op":"remove","value":{"members":[]}}"""));
    }

    private static System.Text.Json.Nodes.JsonNode JsonNodeArray(string json) => System.Text.Json.Nodes.JsonNode.Parse(json)!;
}
