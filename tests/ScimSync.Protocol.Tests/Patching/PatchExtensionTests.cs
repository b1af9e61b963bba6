using ScimSync.Protocol.Errors;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

public sealed class PatchExtensionTests
{
    [Fact]
    public void Adding_an_extension_attribute_adds_the_urn_to_schemas()
    {
        var user = User();
        var result = PatchUser(user, $$"""{"op":"add","path":"{{Enterprise}}:employeeNumber","value":"701984"}""");
        Assert.Equal([UserSchema, Enterprise], SchemasOf(result.Resource));
        AssertJson("""{"employeeNumber":"701984"}""", result.Resource[Enterprise]);
        Assert.Equal([$"{Enterprise}:employeeNumber"], result.ChangedAttributes);
        Assert.Equal([UserSchema], SchemasOf(user));
    }

    [Fact]
    public void Removing_the_last_extension_attribute_drops_the_urn()
    {
        var user = User();
        user["schemas"] = new System.Text.Json.Nodes.JsonArray(UserSchema, Enterprise);
        user[Enterprise] = Obj("""{"department":"Sales"}""");
        var result = PatchUser(user, $$"""{"op":"remove","path":"{{Enterprise}}:department"}""");
        Assert.Equal([UserSchema], SchemasOf(result.Resource));
        Assert.False(result.Resource.ContainsKey(Enterprise));
    }

    [Fact]
    public void Unqualified_extension_attribute_names_resolve_when_unambiguous()
    {
        var result = PatchUser(User(), """{"op":"replace","path":"department","value":"Sales"}""");
        AssertJson("""{"department":"Sales"}""", result.Resource[Enterprise]);
    }

    [Fact]
    public void Urn_paths_are_case_insensitive()
    {
        var result = PatchUser(User(), """{"op":"add","path":"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department","value":"Sales"}""",
            """{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:displayName","value":"B"}""");
        AssertJson("""{"department":"Sales"}""", result.Resource[Enterprise]);
        Assert.Equal("B", result.Resource["displayName"]!.GetValue<string>());
    }

    [Fact]
    public void Extension_urn_as_path_merges_into_the_extension()
    {
        var result = PatchUser(EnterpriseUser(), $$$"""{"op":"replace","path":"{{{Enterprise}}}","value":{"department":"Sales","costCenter":"4130"}}""");
        AssertJson("""{"employeeNumber":"701984","department":"Sales","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"},"costCenter":"4130"}""",
            result.Resource[Enterprise]);
        Assert.Equal([$"{Enterprise}:costCenter", $"{Enterprise}:department"], result.ChangedAttributes);
    }

    [Fact]
    public void Extension_urn_key_in_a_path_less_value_merges_into_the_extension()
    {
        var result = PatchUser(User(), $$$"""{"op":"add","value":{"{{{Enterprise}}}":{"department":"Sales","manager":"m1"},"title":"Guide"}}""");
        AssertJson("""{"department":"Sales","manager":{"value":"m1"}}""", result.Resource[Enterprise]);
        Assert.Equal([UserSchema, Enterprise], SchemasOf(result.Resource));
    }

    [Fact]
    public void Removing_the_extension_urn_clears_it()
    {
        var result = PatchUser(EnterpriseUser(), $$"""{"op":"remove","path":"{{Enterprise}}"}""");
        Assert.False(result.Resource.ContainsKey(Enterprise));
        Assert.Equal([UserSchema], SchemasOf(result.Resource));
        Assert.Equal([$"{Enterprise}:employeeNumber", $"{Enterprise}:department", $"{Enterprise}:manager"], result.ChangedAttributes);
    }

    [Fact]
    public void Replacing_the_extension_with_null_clears_it()
    {
        var result = PatchUser(EnterpriseUser(), $$$"""{"op":"replace","value":{"{{{Enterprise}}}":null}}""");
        Assert.False(result.Resource.ContainsKey(Enterprise));
    }

    [Fact]
    public void Extension_values_must_be_objects_of_its_attributes()
    {
        var user = EnterpriseUser();
        FailsAtomically(ScimErrorType.InvalidValue, user, u => PatchUser(u, $$"""{"op":"add","path":"{{Enterprise}}","value":"x"}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, $$$"""{"op":"add","path":"{{{Enterprise}}}","value":{"shoeSize":"9"}}"""));
        FailsAtomically(ScimErrorType.InvalidPath, user, u => PatchUser(u, $$$"""{"op":"add","path":"{{{Enterprise}}}","value":{"{{{UserSchema}}}:title":"x"}}"""));
    }

    [Fact]
    public void Manager_sub_attribute_paths()
    {
        var result = PatchUser(EnterpriseUser(), $$"""{"op":"replace","path":"{{Enterprise}}:manager.value","value":"m9"}""");
        AssertJson("""{"value":"m9"}""", result.Resource[Enterprise]!["manager"]);
        Assert.Equal([$"{Enterprise}:manager.value"], result.ChangedAttributes);
        var removed = PatchUser(result.Resource, $$"""{"op":"remove","path":"{{Enterprise}}:manager.value"}""");
        Assert.False(removed.Resource[Enterprise]!.AsObject().ContainsKey("manager"));
    }

    [Fact]
    public void Extension_attributes_added_by_one_operation_are_seen_by_the_next()
    {
        var result = PatchUser(User(), $$$"""{"op":"add","path":"{{{Enterprise}}}:manager","value":{"value":"m1"}}""",
            $$"""{"op":"replace","path":"{{Enterprise}}:manager.$ref","value":"../Users/m1"}""");
        AssertJson("""{"manager":{"value":"m1","$ref":"../Users/m1"}}""", result.Resource[Enterprise]);
    }
}
