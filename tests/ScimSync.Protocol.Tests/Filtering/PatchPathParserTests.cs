using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Schemas;
using static ScimSync.Protocol.Tests.Filtering.FilterTestData;

namespace ScimSync.Protocol.Tests.Filtering;

public class PatchPathParserTests
{
    private static ComparisonFilter Eq(string name, string value) =>
        new(new AttributePath(null, name, null), ComparisonOperator.Eq, FilterValue.Of(value));

    [Fact]
    public void A_plain_attribute()
    {
        Assert.Equal(new PatchPath(new AttributePath(null, "members", null), null, null), ScimFilterParser.ParsePatchPath("members"));
    }

    [Fact]
    public void A_sub_attribute()
    {
        Assert.Equal(new PatchPath(new AttributePath(null, "name", "familyName"), null, null), ScimFilterParser.ParsePatchPath("name.familyName"));
    }

    [Fact]
    public void A_value_filter()
    {
        Assert.Equal(
            new PatchPath(new AttributePath(null, "addresses", null), Eq("type", "work"), null),
            ScimFilterParser.ParsePatchPath("addresses[type eq \"work\"]"));
        Assert.Equal(
            new PatchPath(new AttributePath(null, "members", null), Eq("value", "2819c223-7f76-453a-919d-413861904646"), null),
            ScimFilterParser.ParsePatchPath("members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"));
    }

    [Fact]
    public void A_value_filter_followed_by_a_sub_attribute()
    {
        Assert.Equal(
            new PatchPath(new AttributePath(null, "emails", null), Eq("type", "work"), "value"),
            ScimFilterParser.ParsePatchPath("emails[type eq \"work\"].value"));
        Assert.Equal(
            new PatchPath(
                new AttributePath(null, "addresses", null),
                new AndFilter(Eq("type", "work"), new NotFilter(new PresentFilter(new AttributePath(null, "primary", null)))),
                "streetAddress"),
            ScimFilterParser.ParsePatchPath("addresses[type eq \"work\" and not (primary pr)].streetAddress"));
    }

    [Fact]
    public void Extension_attributes_by_urn()
    {
        Assert.Equal(
            new PatchPath(new AttributePath(Enterprise, "manager", null), null, null),
            ScimFilterParser.ParsePatchPath(Enterprise + ":manager"));
        Assert.Equal(
            new PatchPath(new AttributePath(Enterprise, "manager", "value"), null, null),
            ScimFilterParser.ParsePatchPath(Enterprise + ":manager.value"));
    }

    [Fact]
    public void A_bare_extension_urn_is_split_like_any_path_and_left_to_the_caller()
    {
        var path = ScimFilterParser.ParsePatchPath(Enterprise);
        Assert.Equal(new PatchPath(new AttributePath("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User", null), null, null), path);
        Assert.Equal(Enterprise, Registry.AsExtensionUrn(User, path.Attribute));
    }

    [Fact]
    public void A_urn_qualified_value_filter()
    {
        Assert.Equal(
            new PatchPath(new AttributePath("urn:ietf:params:scim:schemas:core:2.0:User", "emails", null), Eq("type", "work"), "display"),
            ScimFilterParser.ParsePatchPath("urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"].display"));
    }

    [Fact]
    public void A_closing_bracket_inside_a_string_does_not_end_the_filter()
    {
        Assert.Equal(
            new PatchPath(new AttributePath(null, "emails", null), Eq("value", "a]b\"]"), "type"),
            ScimFilterParser.ParsePatchPath("emails[value eq \"a]b\\\"]\"].type"));
    }

    [Fact]
    public void Filter_syntax_inside_the_brackets_is_as_lenient_as_in_filters()
    {
        var path = ScimFilterParser.ParsePatchPath("emails[  TYPE EQ \"work\" ]");
        Assert.Equal(new AttributePath(null, "emails", null), path.Attribute);
        Assert.Equal(
            new ComparisonFilter(new AttributePath(null, "TYPE", null), ComparisonOperator.Eq, FilterValue.Of("work")),
            path.ValueFilter);
        Assert.Null(path.SubAttribute);
    }

    [Fact]
    public void Surrounding_whitespace_is_ignored()
    {
        Assert.Equal(ScimFilterParser.ParsePatchPath("emails[type eq \"work\"].value"), ScimFilterParser.ParsePatchPath("  emails[type eq \"work\"].value \n"));
    }

    [Fact]
    public void Paths_round_trip_through_ToString()
    {
        foreach (var text in new[] { "members", "name.familyName", "emails[type eq \"work\"].value", Enterprise + ":manager.value", "members[value eq \"x\"]" })
        {
            var path = ScimFilterParser.ParsePatchPath(text);
            Assert.Equal(path, ScimFilterParser.ParsePatchPath(path.ToString()));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("1name")]
    [InlineData("name..givenName")]
    [InlineData("name.givenName.x")]
    [InlineData("name.")]
    [InlineData(".name")]
    [InlineData("emails type")]
    [InlineData("emails\"")]
    [InlineData("emails]")]
    [InlineData("emails[")]
    [InlineData("emails[type eq \"work\"")]
    [InlineData("emails[type eq \"work]\"")]
    [InlineData("emails [type eq \"work\"]")]
    [InlineData("emails[type eq \"work\"]x")]
    [InlineData("emails[type eq \"work\"].")]
    [InlineData("emails[type eq \"work\"].value.display")]
    [InlineData("emails[type eq \"work\"]value")]
    [InlineData("emails[type eq \"work\"][value pr]")]
    [InlineData("emails[type eq \"work\"] .value")]
    [InlineData("urn:bad urn:name")]
    [InlineData("urn:bad\"urn:name")]
    [InlineData("[type eq \"work\"]")]
    public void Malformed_paths_are_invalid_path(string text) => InvalidPath(() => ScimFilterParser.ParsePatchPath(text));

    [Theory]
    [InlineData("emails[type regex \"work\"]", "Unknown operator \"regex\" at position 12")]
    [InlineData("emails[type eq 'work']", "double quotes")]
    [InlineData("emails[type eq \"work\" foo]", "expected \"and\", \"or\" or ']'")]
    [InlineData("emails[]", "Unexpected ']'")]
    [InlineData("emails[type eq]", "Invalid value")]
    [InlineData("emails[(type pr]", "expected \"and\", \"or\" or ')'")]
    [InlineData("emails[type pr and ims[type pr]]", "Nested '['")]
    [InlineData("emails[type eq \"\\q\"]", "Invalid escape")]
    public void A_malformed_filter_inside_the_brackets_is_invalid_filter(string text, string detail) =>
        Assert.Contains(detail, InvalidFilter(() => ScimFilterParser.ParsePatchPath(text)).Detail);

    [Fact]
    public void Over_long_paths_are_invalid_path()
    {
        var text = "emails[value eq \"" + new string('x', ScimFilterParser.MaxLength) + "\"]";
        InvalidPath(() => ScimFilterParser.ParsePatchPath(text));
    }

    [Fact]
    public void Deep_nesting_inside_the_brackets_is_invalid_filter()
    {
        var depth = ScimFilterParser.MaxDepth;
        var text = "emails[" + new string('(', depth) + "type pr" + new string(')', depth) + "]";
        Assert.Contains("too deeply nested", InvalidFilter(() => ScimFilterParser.ParsePatchPath(text)).Detail);
    }
}
