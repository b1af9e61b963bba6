using System.Text.Json.Nodes;
using ScimSync.Protocol.Patching;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

/// <summary>
/// The one reading of a Group PatchOp's membership changes, which the server applies to member rows and the
/// sync engine to its copy of a source group's member ids.
/// </summary>
public sealed class MemberPatchPlanTests
{
    private static MemberPatchPlan Plan(params string[] operations) =>
        MemberPatchPlan.For(PatchRequest.Read(JsonNode.Parse($$"""{"schemas":["{{PatchOp}}"],"Operations":[{{string.Join(",", operations)}}]}""")));

    /// <summary>The steps as text: "+a,b", "-a", "clear".</summary>
    private static string[] Steps(MemberPatchPlan plan) => plan.Steps.Select(s => s switch
    {
        AddMembers a => "+" + string.Join(",", a.Members.Select(m => m.Value)),
        RemoveMembers r => "-" + string.Join(",", r.Ids),
        ClearMembers => "clear",
        _ => throw new InvalidOperationException(s.GetType().Name),
    }).ToArray();

    [Fact]
    public void Paths_short_or_qualified_become_steps_and_the_rest_stays_for_the_patch_engine()
    {
        var plan = Plan(
            """{"op":"add","path":"members","value":[{"value":"a"},{"value":"b"}]}""",
            $$$"""{"op":"add","path":"{{{GroupSchema}}}:members","value":{"value":"c"}}""",
            """{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}""",
            """{"op":"Replace","path":"members","value":[{"value":"d"}]}""",
            """{"op":"remove","path":"members"}""",
            """{"op":"replace","path":"displayName","value":"Travel"}""");
        Assert.False(plan.RequiresFullMembers);
        Assert.Equal(["+a,b", "+c", "-a,b", "clear", "+d", "clear"], Steps(plan));
        Assert.Equal("displayName", Assert.Single(plan.Others).Path!.ToString());
    }

    [Fact]
    public void A_path_less_value_gives_its_members_by_either_name_and_keeps_the_rest()
    {
        var plan = Plan($$$"""{"op":"replace","value":{"displayName":"Travel","{{{GroupSchema}}}:members":[{"value":"a"}]}}""",
            """{"op":"add","value":{"members":[{"value":"b"}]}}""");
        Assert.Equal(["clear", "+a", "+b"], Steps(plan));
        var rest = Assert.Single(plan.Others);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"displayName":"Travel"}"""), rest.Value));
    }

    [Theory]
    [InlineData("""{"op":"remove","path":"members[value eq \"a\" and type eq \"User\"]"}""")]
    [InlineData("""{"op":"remove","path":"members[display eq \"Ann\"]"}""")]
    [InlineData("""{"op":"replace","path":"members[value eq \"a\"].display","value":"Ann"}""")]
    [InlineData("""{"op":"replace","path":"members.display","value":"Ann"}""")]
    [InlineData("""{"op":"add","value":{"members.display":"Ann"}}""")]
    public void What_steps_on_member_ids_cannot_express_needs_the_whole_member_list(string operation)
    {
        var plan = Plan(operation);
        Assert.True(plan.RequiresFullMembers);
        Assert.Empty(plan.Steps);
    }

    [Fact]
    public void Another_schemas_members_attribute_is_not_the_groups()
    {
        var plan = Plan("""{"op":"add","path":"urn:example:2.0:Team:members","value":"x"}""");
        Assert.Empty(plan.Steps);
        Assert.Single(plan.Others);
    }
}
