using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using static ScimSync.Protocol.Tests.Filtering.FilterTestData;

namespace ScimSync.Protocol.Tests.Filtering;

public class FilterBinderTests
{
    private static BoundValue Text(string text, bool caseExact, AttributeType type = AttributeType.String) =>
        new(type, text, 0, false, default) { CaseExact = caseExact };

    [Fact]
    public void Strings_that_are_not_case_exact_are_folded_once_at_bind_time()
    {
        Assert.Equal(
            new BoundComparison(Resolve("title"), ComparisonOperator.Eq, Text("vice president", caseExact: false)),
            Bind("title eq \"Vice President\""));
    }

    [Fact]
    public void A_userName_is_compared_by_its_uniqueness_key()
    {
        // Fullwidth "ＢＪｅｎｓｅｎ" is the same account as bjensen (RFC 8265 width and case mapping).
        Assert.Equal(
            new BoundComparison(Resolve("userName"), ComparisonOperator.Eq, Text("bjensen", caseExact: false) with { Identifier = true }),
            Bind("userName eq \"\uff22\uff2a\uff45\uff4e\uff53\uff45\uff4e\""));
    }

    [Theory]
    [InlineData("id")]
    [InlineData("externalId")]
    [InlineData("meta.version")]
    public void Case_exact_strings_keep_their_case(string path) =>
        Assert.Equal(new BoundComparison(Resolve(path), ComparisonOperator.Eq, Text("AbC", caseExact: true)), Bind(path + " eq \"AbC\""));

    [Fact]
    public void Names_resolve_case_insensitively_to_the_canonical_definition()
    {
        var bound = Assert.IsType<BoundComparison>(Bind("USERNAME EQ \"x\""));
        Assert.Equal("userName", bound.Attribute.CanonicalPath);
        var ext = Assert.IsType<BoundPresent>(Bind("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER pr"));
        Assert.Equal(Enterprise, ext.Attribute.ContainerUrn);
        Assert.Equal("employeeNumber", ext.Attribute.Attribute.Name);
    }

    [Fact]
    public void Extension_attributes_resolve_with_or_without_their_urn()
    {
        var expected = new BoundPresent(Resolve(Enterprise + ":employeeNumber"));
        Assert.Equal(Enterprise, expected.Attribute.ContainerUrn);
        Assert.Equal(expected, Bind(Enterprise + ":employeeNumber pr"));
        Assert.Equal(expected, Bind("employeeNumber pr"));
    }

    [Fact]
    public void Ne_becomes_not_eq()
    {
        Assert.Equal(
            new BoundNot(new BoundComparison(Resolve("userType"), ComparisonOperator.Eq, Text("employee", false))),
            Bind("userType ne \"Employee\""));
    }

    [Fact]
    public void Comparisons_with_null_become_presence_tests()
    {
        Assert.Equal(new BoundNot(new BoundPresent(Resolve("title"))), Bind("title eq null"));
        Assert.Equal(new BoundPresent(Resolve("title")), Bind("title ne null"));
        // Null asks about the attribute as written, so a complex attribute needs no sub-attribute here.
        Assert.Equal(new BoundNot(new BoundPresent(Resolve("name"))), Bind("name eq null"));
        Assert.Equal(new BoundPresent(Resolve("emails")), Bind("emails ne null"));
    }

    [Theory]
    [InlineData("gt")]
    [InlineData("ge")]
    [InlineData("lt")]
    [InlineData("le")]
    [InlineData("co")]
    [InlineData("sw")]
    [InlineData("ew")]
    public void Null_with_any_other_operator_is_invalid(string op) =>
        Assert.Contains("null", InvalidFilter(() => Bind($"title {op} null")).Detail);

    [Fact]
    public void A_multi_valued_complex_attribute_compares_its_value_sub_attribute()
    {
        Assert.Equal(
            new BoundComparison(Resolve("emails.value"), ComparisonOperator.Co, Text("example.com", false)),
            Bind("emails co \"example.com\""));
        Assert.Equal(
            new BoundComparison(Resolve("members.value", Group), ComparisonOperator.Eq, Text("abc", false)),
            Bind("members eq \"abc\"", rt: Group));
    }

    [Theory]
    [InlineData("name eq \"x\"", "\"name\" is a complex attribute")]
    [InlineData("meta gt \"x\"", "\"meta\" is a complex attribute")]
    [InlineData(Enterprise + ":manager eq \"x\"", "manager\" is a complex attribute")]
    public void A_complex_attribute_without_a_value_shorthand_cannot_be_compared(string filter, string detail) =>
        Assert.Contains(detail, InvalidFilter(() => Bind(filter)).Detail);

    [Fact]
    public void Presence_of_a_complex_attribute_is_allowed()
    {
        Assert.Equal(new BoundPresent(Resolve("name")), Bind("name pr"));
        Assert.Equal(new BoundPresent(Resolve("emails")), Bind("emails pr"));
        Assert.Equal(new BoundPresent(Resolve("emails.type")), Bind("emails.type pr"));
    }

    [Theory]
    [InlineData("nickname2 eq \"x\"")]
    [InlineData("nickname2 pr")]
    [InlineData("name.middle pr")]
    [InlineData("emails[kind eq \"work\"]")]
    [InlineData("urn:example:unknown:1.0:Thing:attr pr")]
    [InlineData("members pr")]
    public void Unknown_attributes_are_invalid_on_a_resource_type_endpoint(string filter) =>
        Assert.Contains("Unknown attribute", InvalidFilter(() => Bind(filter, strict: true)).Detail);

    [Fact]
    public void Unknown_attributes_have_no_value_in_root_queries()
    {
        Assert.Equal(new BoundConstant(false), Bind("nickname2 eq \"x\"", strict: false));
        Assert.Equal(new BoundConstant(false), Bind("nickname2 pr", strict: false));
        Assert.Equal(new BoundConstant(false), Bind("members[value eq \"x\"]", strict: false));
        Assert.Equal(new BoundNot(new BoundConstant(false)), Bind("not (nickname2 eq 1)", strict: false));
        // Like an attribute that is defined but unset: ne and "eq null" hold, "ne null" does not.
        Assert.Equal(new BoundNot(new BoundConstant(false)), Bind("nickname2 ne \"x\"", strict: false));
        Assert.Equal(new BoundNot(new BoundConstant(false)), Bind("nickname2 eq null", strict: false));
        Assert.Equal(new BoundConstant(false), Bind("nickname2 ne null", strict: false));
        Assert.Equal(
            new BoundOr(new BoundConstant(false), new BoundPresent(Resolve("title"))),
            Bind("members.value eq \"x\" or title pr", strict: false));
    }

    [Fact]
    public void Unknown_sub_attributes_inside_brackets_follow_the_same_rule()
    {
        Assert.Equal(
            new BoundValuePath(Resolve("emails"), new BoundAnd(new BoundConstant(false), new BoundPresent(Resolve("emails.value")))),
            Bind("emails[kind eq \"work\" and value pr]", strict: false));
    }

    [Fact]
    public void Errors_from_resolution_are_invalid_filter_even_in_root_queries()
    {
        // A sub-attribute of a simple attribute is a malformed filter, not an attribute another type may have.
        Assert.Contains("userName", InvalidFilter(() => Bind("userName.x eq \"y\"", strict: false)).Detail);
        InvalidFilter(() => Bind("active gt true", strict: false));
    }

    [Fact]
    public void A_value_path_binds_its_inner_names_as_sub_attributes()
    {
        var emails = Resolve("emails");
        Assert.Equal(
            new BoundValuePath(emails, new BoundAnd(
                new BoundComparison(emails with { SubAttribute = emails.Attribute.FindSubAttribute("type") }, ComparisonOperator.Eq, Text("work", false)),
                new BoundComparison(Resolve("emails.value"), ComparisonOperator.Co, Text("@example.com", false)))),
            Bind("emails[type eq \"Work\" and value co \"@Example.com\"]"));
    }

    [Fact]
    public void A_value_path_on_an_extension_attribute_keeps_its_container()
    {
        var bound = Assert.IsType<BoundValuePath>(Bind("urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"]"));
        Assert.Null(bound.Attribute.ContainerUrn);
        var inner = Assert.IsType<BoundComparison>(bound.Inner);
        Assert.Equal("emails.type", inner.Attribute.CanonicalPath);
    }

    [Theory]
    [InlineData("name[givenName pr]")]
    [InlineData("userName[value pr]")]
    [InlineData("emails.value[value pr]")]
    [InlineData(Enterprise + ":manager[value pr]")]
    [InlineData("urn:scimsync:test:2.0:Widget:tags[value pr]")]
    public void Brackets_need_a_multi_valued_complex_attribute(string filter) =>
        Assert.Contains("not a multi-valued complex attribute", InvalidFilter(() => Bind(filter)).Detail);

    [Theory]
    [InlineData("emails[emails.type eq \"work\"]")]
    [InlineData("emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq \"work\"]")]
    public void Names_inside_brackets_must_be_bare_sub_attribute_names(string filter) =>
        Assert.Contains("bare name", InvalidFilter(() => Bind(filter)).Detail);

    [Fact]
    public void Programmatically_nested_value_paths_are_rejected()
    {
        var nested = new ValuePathFilter(new AttributePath(null, "emails", null),
            new ValuePathFilter(new AttributePath(null, "ims", null), new PresentFilter(new AttributePath(null, "value", null))));
        InvalidFilter(() => FilterBinder.Bind(nested, User, Registry, strict: true));
    }

    [Theory]
    [InlineData("password eq \"secret\"")]
    [InlineData("password pr")]
    [InlineData("password eq null")]
    [InlineData("urn:scimsync:test:2.0:Widget:secret sw \"a\"")]
    public void Attributes_that_are_never_returned_are_not_filterable(string filter) =>
        Assert.Contains("not filterable", InvalidFilter(() => Bind(filter)).Detail);

    [Fact]
    public void Booleans_take_eq_and_ne_with_true_or_false()
    {
        Assert.Equal(
            new BoundComparison(Resolve("active"), ComparisonOperator.Eq, new BoundValue(AttributeType.Boolean, null, 0, true, default)),
            Bind("active eq true"));
        Assert.Equal(
            new BoundNot(new BoundComparison(Resolve("active"), ComparisonOperator.Eq, new BoundValue(AttributeType.Boolean, null, 0, false, default))),
            Bind("active ne false"));
        Assert.IsType<BoundValuePath>(Bind("emails[primary eq true]"));
    }

    [Theory]
    [InlineData("active gt true")]
    [InlineData("active ge false")]
    [InlineData("active lt true")]
    [InlineData("active le true")]
    [InlineData("active co true")]
    [InlineData("active sw true")]
    [InlineData("active ew true")]
    [InlineData("emails[primary gt false]")]
    public void Ordering_and_substring_operators_on_booleans_are_invalid(string filter) =>
        Assert.Contains("not defined for the boolean attribute", InvalidFilter(() => Bind(filter)).Detail);

    [Theory]
    [InlineData("active eq \"true\"", "\"active\" is of type boolean; expected true or false")]
    [InlineData("active eq 1", "expected true or false")]
    [InlineData("userName eq 1", "\"userName\" is of type string; expected a string")]
    [InlineData("userName eq true", "expected a string")]
    [InlineData("emails.value co 5", "\"emails.value\" is of type string")]
    [InlineData("profileUrl eq 1", "of type reference")]
    [InlineData("meta.lastModified gt 5", "\"meta.lastModified\" is of type dateTime")]
    [InlineData("meta.lastModified gt true", "of type dateTime")]
    [InlineData("urn:scimsync:test:2.0:Widget:level eq \"3\"", "of type integer; expected a number")]
    [InlineData("urn:scimsync:test:2.0:Widget:score eq true", "of type decimal; expected a number")]
    [InlineData("urn:scimsync:test:2.0:Widget:blob eq 1", "of type binary")]
    public void Values_of_the_wrong_type_are_invalid_and_say_what_was_expected(string filter, string detail) =>
        Assert.Contains(detail, InvalidFilter(() => Bind(filter)).Detail);

    [Theory]
    [InlineData("2011-05-13T04:42:34Z", "2011-05-13T04:42:34+00:00")]
    [InlineData("2011-05-13T06:42:34+02:00", "2011-05-13T04:42:34+00:00")]
    [InlineData("2011-05-12T21:42:34-07:00", "2011-05-13T04:42:34+00:00")]
    [InlineData("2011-05-13T04:42:34", "2011-05-13T04:42:34+00:00")]
    [InlineData("2011-05-13T04:42:34.5Z", "2011-05-13T04:42:34.5+00:00")]
    [InlineData("2011-05-13t04:42:34z", "2011-05-13T04:42:34+00:00")]
    public void DateTimes_become_instants(string literal, string instant)
    {
        var bound = Assert.IsType<BoundComparison>(Bind($"meta.lastModified gt \"{literal}\""));
        Assert.Equal(AttributeType.DateTime, bound.Value.Type);
        Assert.Equal(DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture), bound.Value.Instant);
        Assert.Equal(TimeSpan.Zero, bound.Value.Instant.Offset);
    }

    [Theory]
    [InlineData("2011-05-13")]
    [InlineData("2011-05-13 04:42:34Z")]
    [InlineData("May 13, 2011 04:42:34")]
    [InlineData("2011-13-13T04:42:34Z")]
    [InlineData("2011-05-13T25:42:34Z")]
    [InlineData("")]
    [InlineData("yesterday")]
    public void Strings_that_are_not_xsd_date_times_are_invalid_for_date_time_attributes(string literal) =>
        Assert.Contains("dateTime", InvalidFilter(() => Bind($"meta.lastModified eq \"{literal}\"")).Detail);

    [Theory]
    [InlineData("2011-05-13T04:42:34Z")]
    [InlineData("2011-05-13T04:42")]
    [InlineData("2011-05-13T04:42:34+2")]
    [InlineData("2011-05-13")]
    [InlineData("T")]
    [InlineData("2011-05-13T")]
    public void Filters_accept_exactly_the_date_times_that_writes_accept(string literal)
    {
        // Stored values were validated by ValueCoercer; a filter value it would reject could never match,
        // and one it accepts must be comparable, so both sides share its definition.
        var accepted = Resources.ValueCoercer.TryParseDateTime(literal, out _);
        var bound = Record.Exception(() => Bind($"meta.created eq \"{literal}\""));
        Assert.Equal(accepted, bound is null);
    }

    [Theory]
    [InlineData("co")]
    [InlineData("sw")]
    [InlineData("ew")]
    public void Substring_operators_on_date_times_are_invalid(string op) =>
        Assert.Contains("dateTime attribute", InvalidFilter(() => Bind($"meta.created {op} \"2011-05-13T04:42:34Z\"")).Detail);

    [Fact]
    public void Numbers_bind_for_integer_and_decimal_attributes()
    {
        Assert.Equal(
            new BoundComparison(Resolve(Widget + ":level"), ComparisonOperator.Ge, new BoundValue(AttributeType.Integer, null, 3, false, default)),
            Bind(Widget + ":level ge 3"));
        // A fraction against an integer is still a sensible bound.
        Assert.Equal(2.5m, Assert.IsType<BoundComparison>(Bind("level gt 2.5")).Value.Number);
        Assert.Equal(AttributeType.Decimal, Assert.IsType<BoundComparison>(Bind("score lt 1e1")).Value.Type);
    }

    [Theory]
    [InlineData("level co 1")]
    [InlineData("level sw 1")]
    [InlineData("score ew 1")]
    public void Substring_operators_on_numbers_are_invalid(string filter) =>
        Assert.Contains("not defined", InvalidFilter(() => Bind(filter)).Detail);

    [Theory]
    [InlineData("gt")]
    [InlineData("ge")]
    [InlineData("lt")]
    [InlineData("le")]
    public void Ordering_operators_on_binary_attributes_are_invalid(string op)
    {
        Assert.Contains("binary attribute", InvalidFilter(() => Bind($"x509Certificates.value {op} \"AAEC\"")).Detail);
        InvalidFilter(() => Bind($"blob {op} \"AAEC\""));
    }

    [Fact]
    public void Binary_and_reference_attributes_compare_as_strings()
    {
        Assert.Equal(
            new BoundComparison(Resolve("x509Certificates.value"), ComparisonOperator.Eq, Text("aaec", false, AttributeType.Binary)),
            Bind("x509Certificates.value eq \"AAEC\""));
        Assert.Equal(
            new BoundComparison(Resolve("meta.location"), ComparisonOperator.Sw, Text("https://X", true, AttributeType.Reference)),
            Bind("meta.location sw \"https://X\""));
    }

    [Fact]
    public void Logical_operators_map_directly()
    {
        var title = new BoundPresent(Resolve("title"));
        var nick = new BoundPresent(Resolve("nickName"));
        Assert.Equal(new BoundOr(title, new BoundAnd(nick, new BoundNot(title))), Bind("title pr or nickName pr and not (title pr)"));
    }
}
