using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

/// <summary>Requests as Entra ID and Okta send them (DESIGN.md §5), replayed verbatim where possible.</summary>
public sealed class PatchDialectTests
{
    private static PatchResult Replay(JsonObject resource, string body, bool group = false)
    {
        var request = PatchRequest.Read(JsonNode.Parse(body));
        return Engine.Apply(resource, group ? Registry.Group : Registry.User, request);
    }

    [Fact]
    public void Entra_capitalised_op_and_string_boolean()
    {
        var result = Replay(User(), """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}
            """);
        Assert.False(result.Resource["active"]!.GetValue<bool>());
        Assert.Equal(["active"], result.ChangedAttributes);
    }

    [Fact]
    public void Entra_path_less_replace_with_dotted_and_qualified_keys()
    {
        var result = Replay(User(), """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
              "active":false,"name.givenName":"Ann",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales"}}]}
            """);
        Assert.False(result.Resource["active"]!.GetValue<bool>());
        AssertJson("""{"givenName":"Ann","familyName":"Jensen"}""", result.Resource["name"]);
        AssertJson("""{"department":"Sales"}""", result.Resource[Enterprise]);
        Assert.Equal([UserSchema, Enterprise], SchemasOf(result.Resource));
        Assert.Equal(["name.givenName", "active", $"{Enterprise}:department"], result.ChangedAttributes);
    }

    [Fact]
    public void Entra_manager_as_plain_string()
    {
        var result = Replay(User(), """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
              {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"2819c223"}]}
            """);
        AssertJson("""{"manager":{"value":"2819c223"}}""", result.Resource[Enterprise]);
        Assert.Equal([UserSchema, Enterprise], SchemasOf(result.Resource));
    }

    [Fact]
    public void Entra_single_element_array_for_a_single_valued_complex_attribute_is_unwrapped()
    {
        var result = PatchUser(EnterpriseUser(), $$"""{"op":"Replace","path":"{{Enterprise}}:manager","value":[{"value":"m2"}]}""");
        AssertJson("""{"value":"m2"}""", result.Resource[Enterprise]!["manager"]);
        Fails(ScimErrorType.InvalidValue, () => PatchUser(EnterpriseUser(), """{"op":"replace","path":"name","value":[{"givenName":"a"},{"givenName":"b"}]}"""));
    }

    [Fact]
    public void Entra_member_removal_with_value_removes_only_listed_members()
    {
        // Decision (value-as-filter), pinned: strictly, RFC 7644 §3.5.2.2 would remove every member here.
        var result = Replay(Group(), $$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
              {"op":"Remove","path":"members","value":[{"value":"{{BabsId}}"}]}]}
            """, group: true);
        AssertJson($$"""[{"value":"{{MandyId}}","display":"Mandy Pepperidge","type":"User"}]""", result.Resource["members"]);
        Assert.Equal(["members"], result.ChangedAttributes);
    }

    [Fact]
    public void Member_removal_value_may_be_a_single_object_and_unknown_ids_are_ignored()
    {
        var result = PatchGroup(Group(), $$$"""{"op":"remove","path":"members","value":{"value":"{{{MandyId}}}"}}""",
            """{"op":"remove","path":"members","value":[{"value":"nobody"}]}""");
        Assert.Equal([BabsId], result.Resource["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));
        var nothing = PatchGroup(Group(), """{"op":"remove","path":"members","value":[]}""");
        Assert.False(nothing.Changed);
    }

    [Fact]
    public void Large_group_membership_changes_by_value()
    {
        var members = new JsonArray(Enumerable.Range(0, 20_000).Select(i => (JsonNode)new JsonObject { ["value"] = $"u{i}" }).ToArray());
        var group = Obj($$"""{"schemas":["{{GroupSchema}}"],"displayName":"Big"}""");
        group["members"] = members;
        var add = new JsonArray(Enumerable.Range(19_000, 2_000).Select(i => (JsonNode)new JsonObject { ["value"] = $"u{i}" }).ToArray());
        var remove = new JsonArray(Enumerable.Range(0, 1_000).Select(i => (JsonNode)new JsonObject { ["value"] = $"U{i}" }).ToArray());
        var result = PatchGroup(group, $$"""{"op":"add","path":"members","value":{{add.ToJsonString()}}}""",
            $$"""{"op":"remove","path":"members","value":{{remove.ToJsonString()}}}""");
        var ids = result.Resource["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()).ToList();
        Assert.Equal(20_000, ids.Count);
        Assert.Equal("u1000", ids[0]);
        Assert.Equal("u20999", ids[^1]);
    }

    [Fact]
    public void Entra_add_to_absent_value_path_creates_the_value()
    {
        // Entra sends this to a user without a work address; Microsoft's guidance is to create it.
        var result = Replay(User(), """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
              {"op":"Add","path":"addresses[type eq \"work\"].formatted","value":"Columbus"},
              {"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Columbus"}]}
            """);
        AssertJson("""[{"type":"work","formatted":"Columbus","locality":"Columbus"}]""", result.Resource["addresses"]);
    }

    [Fact]
    public void Entra_replace_of_absent_value_path_creates_the_value()
    {
        var result = PatchUser(User(), """{"op":"Replace","path":"emails[type eq \"Other\"].value","value":"o@example.org"}""",
            """{"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}""");
        AssertJson("""{"type":"other","value":"o@example.org"}""", result.Resource["emails"]![2]);
        AssertJson("""[{"type":"mobile","value":"+1 555 0100"}]""", result.Resource["phoneNumbers"]);
    }

    [Fact]
    public void Entra_replace_of_existing_value_path_updates_in_place()
    {
        var result = PatchUser(User(), """{"op":"Add","path":"emails[type eq \"work\"].value","value":"new@example.com"}""");
        AssertJson("""{"value":"new@example.com","type":"work","primary":true}""", result.Resource["emails"]![0]);
        Assert.Equal(2, result.Resource["emails"]!.AsArray().Count);
    }

    [Fact]
    public void Entra_create_needs_a_valid_canonical_value()
    {
        FailsAtomically(ScimErrorType.InvalidValue, User(), u => PatchUser(u, """{"op":"Add","path":"emails[type eq \"pigeon\"].value","value":"x"}"""));
    }

    [Fact]
    public void Okta_deactivation()
    {
        var result = Replay(User(), """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}
            """);
        Assert.False(result.Resource["active"]!.GetValue<bool>());
        Assert.True(result.Changed);
        var again = Replay(result.Resource, """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}
            """);
        Assert.False(again.Changed);
    }

    [Fact]
    public void Okta_group_rename_echoes_the_group_id()
    {
        const string body = """
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
              "id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2"}}]}
            """;
        var request = PatchRequest.Read(JsonNode.Parse(body));
        var result = Engine.Apply(Group(), Registry.Group, request, "abf4dd94-a4c0-4f67-89c9-76b03340cb9b");
        Assert.Equal("Test SCIMv2", result.Resource["displayName"]!.GetValue<string>());
        Assert.False(result.Resource.ContainsKey("id"));
        Assert.Equal(["displayName"], result.ChangedAttributes);

        // A different id, or one the engine cannot check, is an attempt to write a read-only attribute.
        FailsAtomically(ScimErrorType.Mutability, Group(), g => Engine.Apply(g, Registry.Group, request, "another-id"));
        FailsAtomically(ScimErrorType.Mutability, Group(), g => Engine.Apply(g, Registry.Group, request));
        FailsAtomically(ScimErrorType.Mutability, Group(), g => PatchGroup(g, """{"op":"replace","path":"id","value":"abf4dd94"}"""));
    }

    [Fact]
    public void Path_less_value_echoing_schemas_is_accepted()
    {
        var result = PatchUser(User(), $$$"""{"op":"replace","value":{"schemas":["{{{UserSchema}}}"],"title":"Guide"}}""");
        Assert.Equal("Guide", result.Resource["title"]!.GetValue<string>());
    }
}
