using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using static ScimSync.Protocol.Tests.Filtering.FilterTestData;

namespace ScimSync.Protocol.Tests.Filtering;

public class ScimFilterParserTests
{
    private static AttributePath P(string name, string? sub = null, string? urn = null) => new(urn, name, sub);

    private static ComparisonFilter Cmp(string path, ComparisonOperator op, FilterValue value) =>
        new(AttributePath.TryParse(path)!, op, value);

    private static PresentFilter Pr(string path) => new(AttributePath.TryParse(path)!);

    /// <summary>Every example filter of RFC 7644 §3.4.2.2.</summary>
    public static TheoryData<string> RfcExamples() =>
    [
        "userName eq \"bjensen\"",
        "name.familyName co \"O'Malley\"",
        "userName sw \"J\"",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
        "title pr",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified ge \"2011-05-13T04:42:34Z\"",
        "meta.lastModified lt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified le \"2011-05-13T04:42:34Z\"",
        "title pr and userType eq \"Employee\"",
        "title pr or userType eq \"Intern\"",
        "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType eq \"Employee\" and (emails.type eq \"work\")",
        "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
        "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
    ];

    [Theory]
    [MemberData(nameof(RfcExamples))]
    public void Every_rfc_example_parses_and_survives_a_format_round_trip(string text)
    {
        var filter = ScimFilterParser.Parse(text);
        Assert.Equal(filter, ScimFilterParser.Parse(FilterFormatter.Format(filter)));
    }

    [Fact]
    public void Rfc_examples_parse_to_the_expected_trees()
    {
        Assert.Equal(Cmp("userName", ComparisonOperator.Eq, FilterValue.Of("bjensen")), ScimFilterParser.Parse("userName eq \"bjensen\""));
        Assert.Equal(
            new ComparisonFilter(P("userName", urn: "urn:ietf:params:scim:schemas:core:2.0:User"), ComparisonOperator.Sw, FilterValue.Of("J")),
            ScimFilterParser.Parse("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\""));
        Assert.Equal(
            new AndFilter(
                Cmp("userType", ComparisonOperator.Ne, FilterValue.Of("Employee")),
                new NotFilter(new OrFilter(
                    Cmp("emails", ComparisonOperator.Co, FilterValue.Of("example.com")),
                    Cmp("emails.value", ComparisonOperator.Co, FilterValue.Of("example.org"))))),
            ScimFilterParser.Parse("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")"));
        Assert.Equal(
            new OrFilter(
                new ValuePathFilter(P("emails"), new AndFilter(
                    Cmp("type", ComparisonOperator.Eq, FilterValue.Of("work")),
                    Cmp("value", ComparisonOperator.Co, FilterValue.Of("@example.com")))),
                new ValuePathFilter(P("ims"), new AndFilter(
                    Cmp("type", ComparisonOperator.Eq, FilterValue.Of("xmpp")),
                    Cmp("value", ComparisonOperator.Co, FilterValue.Of("@foo.com"))))),
            ScimFilterParser.Parse("emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]"));
    }

    [Fact]
    public void And_binds_tighter_than_or()
    {
        var expected = new OrFilter(
            Pr("a"),
            new AndFilter(Cmp("b", ComparisonOperator.Eq, FilterValue.Of(1m)), Cmp("c", ComparisonOperator.Eq, FilterValue.Of(2m))));
        Assert.Equal(expected, ScimFilterParser.Parse("a pr or b eq 1 and c eq 2"));
        Assert.Equal(expected, ScimFilterParser.Parse("a pr or (b eq 1 and c eq 2)"));
        Assert.Equal(new OrFilter(new AndFilter(Pr("a"), Pr("b")), Pr("c")), ScimFilterParser.Parse("a pr and b pr or c pr"));
    }

    [Fact]
    public void Parentheses_override_precedence()
    {
        Assert.Equal(new AndFilter(new OrFilter(Pr("a"), Pr("b")), Pr("c")), ScimFilterParser.Parse("(a pr or b pr) and c pr"));
        Assert.Equal(Pr("a"), ScimFilterParser.Parse("((a pr))"));
    }

    [Fact]
    public void Not_applies_to_its_parenthesised_filter_only()
    {
        Assert.Equal(new AndFilter(new NotFilter(Pr("a")), Pr("b")), ScimFilterParser.Parse("not (a pr) and b pr"));
        Assert.Equal(new OrFilter(Pr("a"), new AndFilter(new NotFilter(Pr("b")), Pr("c"))), ScimFilterParser.Parse("a pr or not (b pr) and c pr"));
        Assert.Equal(new NotFilter(new NotFilter(Pr("a"))), ScimFilterParser.Parse("not (not (a pr))"));
    }

    [Fact]
    public void Chains_of_the_same_operator_group_to_the_left()
    {
        Assert.Equal(new OrFilter(new OrFilter(Pr("a"), Pr("b")), Pr("c")), ScimFilterParser.Parse("a pr or b pr or c pr"));
        Assert.Equal(new AndFilter(new AndFilter(Pr("a"), Pr("b")), Pr("c")), ScimFilterParser.Parse("a pr and b pr and c pr"));
    }

    [Theory]
    [InlineData("userName Eq \"john\"")]
    [InlineData("Username eq \"john\"")]
    [InlineData("USERNAME EQ \"john\"")]
    public void Operators_are_case_insensitive_and_names_keep_the_clients_spelling(string text)
    {
        var c = Assert.IsType<ComparisonFilter>(ScimFilterParser.Parse(text));
        Assert.Equal(ComparisonOperator.Eq, c.Operator);
        Assert.Equal("username", c.Path.Name, ignoreCase: true);
        Assert.Equal(FilterValue.Of("john"), c.Value);
    }

    [Fact]
    public void Keywords_and_literals_are_case_insensitive()
    {
        Assert.Equal(ScimFilterParser.Parse("a pr or not (b pr) and c pr"), ScimFilterParser.Parse("a PR Or NOT (b Pr) AND c pR"));
        Assert.Equal(FilterValue.Of(true), ((ComparisonFilter)ScimFilterParser.Parse("active eq TRUE")).Value);
        Assert.Equal(FilterValue.Of(false), ((ComparisonFilter)ScimFilterParser.Parse("active eq False")).Value);
        Assert.Equal(FilterValue.Null, ((ComparisonFilter)ScimFilterParser.Parse("title eq NULL")).Value);
    }

    [Theory]
    [InlineData("  userName   eq \t \"x\"  ")]
    [InlineData("userName eq\"x\"")]
    [InlineData("\nuserName\neq\n\"x\"\n")]
    public void Extra_or_missing_whitespace_between_tokens_is_tolerated(string text) =>
        Assert.Equal(Cmp("userName", ComparisonOperator.Eq, FilterValue.Of("x")), ScimFilterParser.Parse(text));

    [Fact]
    public void Whitespace_around_parentheses_and_brackets_is_tolerated()
    {
        Assert.Equal(new NotFilter(Pr("a")), ScimFilterParser.Parse("not(a pr)"));
        Assert.Equal(new NotFilter(Pr("a")), ScimFilterParser.Parse("not  (  a pr  )"));
        Assert.Equal(
            new ValuePathFilter(P("emails"), Cmp("type", ComparisonOperator.Eq, FilterValue.Of("work"))),
            ScimFilterParser.Parse("emails[ type eq \"work\" ]"));
    }

    [Fact]
    public void Attribute_paths_may_carry_urns_and_sub_attributes()
    {
        Assert.Equal(
            Cmp("x", ComparisonOperator.Eq, FilterValue.Of("1")) with { Path = P("employeeNumber", urn: Enterprise) },
            ScimFilterParser.Parse($"{Enterprise}:employeeNumber eq \"1\""));
        Assert.Equal(Pr("x") with { Path = P("manager", "value", Enterprise) }, ScimFilterParser.Parse($"{Enterprise}:manager.value pr"));
        Assert.Equal(Pr("x") with { Path = P("name", "givenName") }, ScimFilterParser.Parse("name.givenName pr"));
        Assert.Equal(
            new ValuePathFilter(P("emails", urn: "urn:ietf:params:scim:schemas:core:2.0:User"), Pr("value")),
            ScimFilterParser.Parse("urn:ietf:params:scim:schemas:core:2.0:User:emails[value pr]"));
    }

    [Fact]
    public void And_or_and_not_are_only_keywords_where_the_grammar_expects_them()
    {
        // Reserving them would make an extension attribute named "not" unfilterable.
        Assert.Equal(Pr("not"), ScimFilterParser.Parse("not pr"));
        Assert.Equal(Cmp("or", ComparisonOperator.Eq, FilterValue.Of(1m)), ScimFilterParser.Parse("or eq 1"));
        Assert.Equal(new AndFilter(Pr("and"), Pr("or")), ScimFilterParser.Parse("and pr and or pr"));
        Assert.Equal(new ValuePathFilter(P("not"), Pr("x")), ScimFilterParser.Parse("not[x pr]"));
    }

    [Fact]
    public void Value_path_inner_paths_are_relative_to_one_value()
    {
        var f = Assert.IsType<ValuePathFilter>(ScimFilterParser.Parse("emails[type eq \"work\" and value co \"@x.com\"]"));
        Assert.Equal(P("emails"), f.Path);
        var and = Assert.IsType<AndFilter>(f.Inner);
        Assert.Equal(new AttributePath(null, "type", null), ((ComparisonFilter)and.Left).Path);
        Assert.Equal(new AttributePath(null, "value", null), ((ComparisonFilter)and.Right).Path);
        Assert.Equal(
            new ValuePathFilter(P("emails"), new NotFilter(new OrFilter(Pr("type"), Pr("value")))),
            ScimFilterParser.Parse("emails[not (type pr or value pr)]"));
    }

    [Theory]
    [InlineData("\"plain\"", "plain")]
    [InlineData("\"O'Malley\"", "O'Malley")]
    [InlineData("\"a\\\"b\"", "a\"b")]
    [InlineData("\"a\\\\b\"", "a\\b")]
    [InlineData("\"a\\/b\"", "a/b")]
    [InlineData("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t")]
    [InlineData("\"\\u00e9\\u00C9\"", "éÉ")]
    [InlineData("\"\\ud83d\\ude00\"", "😀")]
    [InlineData("\"héllo 😀\"", "héllo 😀")]
    [InlineData("\"a]b)c(d[e\"", "a]b)c(d[e")]
    [InlineData("\"\"", "")]
    [InlineData("\"a and b or not (c)\"", "a and b or not (c)")]
    public void Strings_are_json_strings(string literal, string expected) =>
        Assert.Equal(FilterValue.Of(expected), ((ComparisonFilter)ScimFilterParser.Parse("title eq " + literal)).Value);

    [Theory]
    [InlineData("0", "0")]
    [InlineData("42", "42")]
    [InlineData("-1.5", "-1.5")]
    [InlineData("1e3", "1000")]
    [InlineData("1E+3", "1000")]
    [InlineData("25E-2", "0.25")]
    [InlineData("79228162514264337593543950335", "79228162514264337593543950335")]
    public void Numbers_are_json_numbers_read_as_decimal(string literal, string expected) =>
        Assert.Equal(
            decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture),
            ((ComparisonFilter)ScimFilterParser.Parse("level gt " + literal)).Value.Number);

    [Theory]
    [InlineData("01")]
    [InlineData("+1")]
    [InlineData(".5")]
    [InlineData("1.")]
    [InlineData("1e")]
    [InlineData("-")]
    [InlineData("0x10")]
    [InlineData("1,5")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void Numbers_that_are_not_json_are_invalid(string literal) =>
        InvalidFilter(() => ScimFilterParser.Parse("level gt " + literal));

    [Theory]
    [InlineData("1e400")]
    [InlineData("-79228162514264337593543950336")]
    public void Numbers_outside_the_decimal_range_are_invalid(string literal) =>
        Assert.Contains("out of range", InvalidFilter(() => ScimFilterParser.Parse("level gt " + literal)).Detail);

    [Theory]
    [InlineData("userName eq 'bjensen'")]
    [InlineData("userName eq 'Barbara Jensen'")]
    [InlineData("emails[type eq 'work']")]
    public void Single_quoted_strings_are_invalid(string text) =>
        Assert.Contains("double quotes", InvalidFilter(() => ScimFilterParser.Parse(text)).Detail);

    [Fact]
    public void An_unknown_operator_is_named_with_its_position_and_the_valid_ones()
    {
        var e = InvalidFilter(() => ScimFilterParser.Parse("userName regex \"x\""));
        Assert.Equal("Unknown operator \"regex\" at position 9; expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr", e.Detail);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   \t ", "empty")]
    [InlineData("userName", "Missing operator")]
    [InlineData("userName eq", "Missing value")]
    [InlineData("userName eq )", "Invalid value")]
    [InlineData("userName eq bjensen", "Invalid value")]
    [InlineData("userName eq \"x\" junk", "position 16")]
    [InlineData("userName eq \"x\" \"y\"", "expected \"and\", \"or\" or the end")]
    [InlineData("title pr and", "expression was expected")]
    [InlineData("title pr or or x pr", "Expected a filter expression before \"or\"")]
    [InlineData("and title pr", "Expected a filter expression before \"and\"")]
    [InlineData("(title pr", "Missing ')'")]
    [InlineData("((title pr)", "Missing ')'")]
    [InlineData("title pr)", "Unexpected ')' at position 8")]
    [InlineData("()", "Unexpected ')'")]
    [InlineData("not title pr", "\"not\" at position 0 must be followed by a parenthesised filter")]
    [InlineData("not", "must be followed")]
    [InlineData("1abc eq 1", "not a valid attribute path")]
    [InlineData("name..givenName pr", "not a valid attribute path")]
    [InlineData("name.givenName.x pr", "not a valid attribute path")]
    [InlineData("user@name pr", "not a valid attribute path")]
    [InlineData("title pr [", "Unexpected '['")]
    [InlineData("emails[type pr", "Missing ']'")]
    [InlineData("emails[type pr)", "expected \"and\", \"or\" or ']'")]
    [InlineData("emails]", "Unexpected ']'")]
    [InlineData("userName eq \"x", "Unterminated string")]
    [InlineData("userName eq \"x\\", "Unterminated string")]
    [InlineData("userName eq \"\\x\"", "Invalid escape")]
    [InlineData("userName eq \"\\u12\"", "four hexadecimal digits")]
    [InlineData("userName eq \"\\u 123\"", "four hexadecimal digits")]
    [InlineData("userName eq \"\\ud800\"", "unpaired")]
    [InlineData("userName eq \"\\udc00x\"", "unpaired")]
    [InlineData("userName eq \"a\u0001b\"", "Control character U+0001")]
    [InlineData("userName pr pr", "position 12")]
    [InlineData("userName eq \"x\" and (title pr", "Missing ')' to close the '(' at position 20")]
    public void Syntax_errors_are_invalid_filter_with_a_helpful_detail(string text, string detail) =>
        Assert.Contains(detail, InvalidFilter(() => ScimFilterParser.Parse(text)).Detail);

    [Fact]
    public void A_sub_attribute_after_a_value_path_is_only_for_patch_paths()
    {
        var e = InvalidFilter(() => ScimFilterParser.Parse("emails[type eq \"work\"].value eq \"x\""));
        Assert.Contains("only allowed in PATCH paths", e.Detail);
    }

    [Fact]
    public void Brackets_cannot_nest()
    {
        var e = InvalidFilter(() => ScimFilterParser.Parse("emails[type eq \"work\" and ims[type pr]]"));
        Assert.Contains("Nested '['", e.Detail);
    }

    [Fact]
    public void Text_up_to_the_length_limit_is_accepted()
    {
        var prefix = "title eq \"";
        var text = prefix + new string('x', ScimFilterParser.MaxLength - prefix.Length - 1) + "\"";
        Assert.Equal(ScimFilterParser.MaxLength, text.Length);
        Assert.IsType<ComparisonFilter>(ScimFilterParser.Parse(text));
    }

    [Fact]
    public void Text_over_the_length_limit_is_rejected()
    {
        var text = "title eq \"" + new string('x', ScimFilterParser.MaxLength) + "\"";
        Assert.Contains("too long", InvalidFilter(() => ScimFilterParser.Parse(text)).Detail);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_accepted()
    {
        var depth = ScimFilterParser.MaxDepth;
        var parens = new string('(', depth) + "title pr" + new string(')', depth);
        Assert.Equal(Pr("title"), ScimFilterParser.Parse(parens));

        var nots = string.Concat(Enumerable.Repeat("not (", depth)) + "title pr" + new string(')', depth);
        ScimFilter expected = Pr("title");
        for (var i = 0; i < depth; i++) expected = new NotFilter(expected);
        Assert.Equal(expected, ScimFilterParser.Parse(nots));

        // The bracket of a value path is a level too.
        var inBrackets = "emails[" + new string('(', depth - 1) + "type pr" + new string(')', depth - 1) + "]";
        Assert.IsType<ValuePathFilter>(ScimFilterParser.Parse(inBrackets));
    }

    [Theory]
    [InlineData("(", ")")]
    [InlineData("not (", ")")]
    [InlineData("not(", ")")]
    public void Nesting_beyond_the_limit_is_rejected(string open, string close)
    {
        var depth = ScimFilterParser.MaxDepth + 1;
        var text = string.Concat(Enumerable.Repeat(open, depth)) + "title pr" + string.Concat(Enumerable.Repeat(close, depth));
        Assert.Contains("too deeply nested", InvalidFilter(() => ScimFilterParser.Parse(text)).Detail);
        var inBrackets = "emails[" + new string('(', depth - 1) + "type pr" + new string(')', depth - 1) + "]";
        Assert.Contains("too deeply nested", InvalidFilter(() => ScimFilterParser.Parse(inBrackets)).Detail);
    }

    [Fact]
    public void Hostile_nesting_is_an_error_not_a_stack_overflow()
    {
        // Only the first MaxDepth+1 levels are ever descended into, whatever the length.
        var text = new string('(', ScimFilterParser.MaxLength);
        InvalidFilter(() => ScimFilterParser.Parse(text));
        InvalidFilter(() => ScimFilterParser.Parse(string.Concat(Enumerable.Repeat("not(", ScimFilterParser.MaxLength / 4))));
    }

    [Fact]
    public void A_long_flat_chain_is_not_nesting()
    {
        var text = string.Join(" or ", Enumerable.Repeat("title pr", 600));
        Assert.True(text.Length <= ScimFilterParser.MaxLength);
        var f = ScimFilterParser.Parse(text);
        var bound = FilterBinder.Bind(f, User, Registry, strict: true);
        Assert.True(FilterEvaluator.Matches(bound, Users()["bjensen"]));
        Assert.False(FilterEvaluator.Matches(bound, Users()["jsmith"]));
    }
}
