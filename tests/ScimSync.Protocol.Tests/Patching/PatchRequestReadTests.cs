using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

public sealed class PatchRequestReadTests
{
    private static PatchRequest Read(string json) => PatchRequest.Read(JsonNode.Parse(json));

    [Fact]
    public void Reads_operations_in_order_with_parsed_paths()
    {
        var r = Request("""{"op":"add","path":"emails[type eq \"work\"].value","value":"x@example.com"}""",
            """{"op":"remove","path":"name.givenName"}""",
            """{"op":"replace","value":{"active":false}}""");
        Assert.Equal([PatchOperationType.Add, PatchOperationType.Remove, PatchOperationType.Replace], r.Operations.Select(o => o.Op));
        Assert.Equal("emails", r.Operations[0].Path!.Attribute.Name);
        Assert.NotNull(r.Operations[0].Path!.ValueFilter);
        Assert.Equal("value", r.Operations[0].Path!.SubAttribute);
        Assert.Equal("givenName", r.Operations[1].Path!.Attribute.SubAttribute);
        Assert.Null(r.Operations[2].Path);
    }

    [Theory]
    [InlineData("Add", PatchOperationType.Add)]
    [InlineData("Replace", PatchOperationType.Replace)]
    [InlineData("REMOVE", PatchOperationType.Remove)]
    public void Op_is_case_insensitive(string op, PatchOperationType expected)
    {
        var r = Request($$"""{"op":"{{op}}","path":"title","value":"x"}""");
        Assert.Equal(expected, r.Operations[0].Op);
    }

    [Fact]
    public void Member_names_are_case_insensitive()
    {
        var r = Read($$"""{"Schemas":["{{PatchOp}}"],"operations":[{"OP":"replace","Path":"title","Value":"x"}]}""");
        Assert.Equal("x", r.Operations[0].Value!.GetValue<string>());
        Assert.Equal("title", r.Operations[0].Path!.Attribute.Name);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"PatchOp\"")]
    [InlineData("""{"Operations":[{"op":"add","path":"title","value":"x"}]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"title","value":"x"}]}""")]
    [InlineData("""{"schemas":"urn:ietf:params:scim:api:messages:2.0:PatchOp","Operations":[{"op":"add","path":"title","value":"x"}]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{"op":"add"}}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":["add"]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"path":"title","value":"x"}]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"move","path":"title","value":"x"}]}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":1,"path":"title","value":"x"}]}""")]
    public void Structural_errors_are_invalidSyntax(string body) =>
        Fails(ScimErrorType.InvalidSyntax, () => Read(body));

    [Fact]
    public void Null_body_is_invalidSyntax() => Fails(ScimErrorType.InvalidSyntax, () => PatchRequest.Read(null));

    [Fact]
    public void Schema_urn_is_matched_case_insensitively()
    {
        var r = Read("""{"schemas":["URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:PATCHOP"],"Operations":[{"op":"add","path":"title","value":"x"}]}""");
        Assert.Single(r.Operations);
    }

    [Fact]
    public void Non_string_path_is_invalidPath()
    {
        Fails(ScimErrorType.InvalidPath, () => Request("""{"op":"add","path":5,"value":"x"}"""));
        Fails(ScimErrorType.InvalidPath, () => Request("""{"op":"remove","path":["members"]}"""));
    }

    [Fact]
    public void Malformed_path_is_invalidPath() =>
        Fails(ScimErrorType.InvalidPath, () => Request("""{"op":"replace","path":"emails[type eq \"work\"","value":"x"}"""));

    [Fact]
    public void Bad_filter_in_path_is_invalidFilter() =>
        Fails(ScimErrorType.InvalidFilter, () => Request("""{"op":"replace","path":"emails[type zz \"work\"]","value":{"value":"x"}}"""));

    [Fact]
    public void Null_path_means_no_path()
    {
        var r = Request("""{"op":"replace","path":null,"value":{"active":false}}""");
        Assert.Null(r.Operations[0].Path);
    }

    [Theory]
    [InlineData("""{"op":"add","path":"title"}""")]
    [InlineData("""{"op":"replace","path":"title"}""")]
    [InlineData("""{"op":"add","path":"title","value":null}""")]
    [InlineData("""{"op":"add","value":"x"}""")]
    [InlineData("""{"op":"replace","value":[{"active":false}]}""")]
    [InlineData("""{"op":"replace","value":null}""")]
    public void Missing_or_unusable_value_is_invalidValue(string op) =>
        Fails(ScimErrorType.InvalidValue, () => Request(op));

    [Fact]
    public void Replace_with_null_value_and_a_path_is_allowed()
    {
        var r = Request("""{"op":"replace","path":"title","value":null}""");
        Assert.Null(r.Operations[0].Value);
    }

    [Fact]
    public void Remove_keeps_its_value_for_the_member_removal_dialect()
    {
        var r = Request("""{"op":"remove","path":"members","value":[{"value":"id1"}]}""");
        AssertJson("""[{"value":"id1"}]""", r.Operations[0].Value);
    }

    [Fact]
    public void More_than_1000_operations_is_invalidValue_naming_the_limit()
    {
        var ok = Enumerable.Repeat("""{"op":"replace","path":"title","value":"x"}""", PatchRequest.MaxOperations).ToArray();
        Assert.Equal(1000, Request(ok).Operations.Count);
        var e = Fails(ScimErrorType.InvalidValue, () => Request([.. ok, """{"op":"remove","path":"title"}"""]));
        Assert.Contains("1000", e.Detail);
    }

    [Fact]
    public void Value_is_detached_from_the_body()
    {
        var body = JsonNode.Parse($$"""{"schemas":["{{PatchOp}}"],"Operations":[{"op":"add","path":"emails","value":[{"value":"a@b.c"}]}]}""")!;
        var r = PatchRequest.Read(body);
        Assert.Null(r.Operations[0].Value!.Parent);
        body["Operations"]![0]!["value"]![0]!["value"] = "changed";
        Assert.Equal("a@b.c", r.Operations[0].Value![0]!["value"]!.GetValue<string>());
    }
}
