using System.Text.Json.Nodes;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using static ScimSync.Protocol.Tests.Filtering.FilterTestData;

namespace ScimSync.Protocol.Tests.Filtering;

public class FilterEvaluatorTests
{
    /// <summary>Every example of RFC 7644 §3.4.2.2 against the sample users (see <see cref="FilterTestData.Users"/>).</summary>
    public static TheoryData<string, string[]> RfcExamples() => new()
    {
        { "userName eq \"bjensen\"", ["bjensen"] },
        { "name.familyName co \"O'Malley\"", ["jsmith"] },
        { "userName sw \"J\"", ["jsmith"] },
        { "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"", ["jsmith"] },
        { "title pr", ["bjensen"] },
        // bjensen 04:42:34Z; jsmith 06:42:35+02:00 = 04:42:35Z; mpatel 05:42:33+02:00 = 03:42:33Z;
        // cwong 2011-05-12T23:00:00-07:00 = 2011-05-13T06:00:00Z.
        { "meta.lastModified gt \"2011-05-13T04:42:34Z\"", ["cwong", "jsmith"] },
        { "meta.lastModified ge \"2011-05-13T04:42:34Z\"", ["bjensen", "cwong", "jsmith"] },
        { "meta.lastModified lt \"2011-05-13T04:42:34Z\"", ["mpatel"] },
        { "meta.lastModified le \"2011-05-13T04:42:34Z\"", ["bjensen", "mpatel"] },
        { "title pr and userType eq \"Employee\"", ["bjensen"] },
        { "title pr or userType eq \"Intern\"", ["bjensen", "jsmith"] },
        { "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", ["bjensen"] },
        { "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")", ["bjensen", "cwong", "mpatel"] },
        { "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")", ["jsmith"] },
        { "userType eq \"Employee\" and (emails.type eq \"work\")", ["bjensen", "cwong"] },
        { "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", ["bjensen"] },
        { "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]", ["bjensen", "jsmith"] },
    };

    [Theory]
    [MemberData(nameof(RfcExamples))]
    public void Rfc_examples_select_the_expected_users(string filter, string[] expected) =>
        Assert.Equal(expected, Select(filter));

    [Fact]
    public void Every_part_of_a_bracket_filter_applies_to_the_same_value()
    {
        var user = Parse("""
            { "userName": "x", "emails": [
                { "value": "x@other.com", "type": "work" },
                { "value": "x@example.com", "type": "home" } ] }
            """);
        Assert.False(Matches("emails[type eq \"work\" and value co \"@example.com\"]", user));
        // Without brackets each comparison may be satisfied by a different value.
        Assert.True(Matches("emails.type eq \"work\" and emails.value co \"@example.com\"", user));
        Assert.True(Matches("emails[type eq \"home\" and value co \"@example.com\"]", user));
        Assert.True(Matches("emails[type eq \"work\" and not (value co \"@example.com\")]", user));
        Assert.False(Matches("emails[type eq \"home\" and not (value co \"@example.com\")]", user));
    }

    [Fact]
    public void Strings_follow_case_exact()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("userName eq \"BJENSEN\"", bjensen));
        Assert.True(Matches("USERNAME EQ \"BJensen\"", bjensen));
        Assert.True(Matches("name.familyName sw \"jen\"", bjensen));
        Assert.False(Matches("id eq \"2819C223-7F76-453A-919D-413861904646\"", bjensen));
        Assert.True(Matches("id eq \"2819c223-7f76-453a-919d-413861904646\"", bjensen));
        Assert.False(Matches("externalId eq \"bjensen-ext\"", bjensen));
        Assert.True(Matches("externalId eq \"BJensen-Ext\"", bjensen));
        Assert.True(Matches("code eq \"AbC\"", bjensen));
        Assert.False(Matches("code eq \"abc\"", bjensen));
    }

    [Fact]
    public void Substring_operators_are_ordinal_and_identical_strings_match_sw_and_ew()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("userName sw \"bjensen\"", bjensen));
        Assert.True(Matches("userName ew \"bjensen\"", bjensen));
        Assert.True(Matches("userName co \"jens\"", bjensen));
        Assert.False(Matches("userName co \"jensenn\"", bjensen));
        Assert.True(Matches("userName co \"\"", bjensen));
        Assert.False(Matches("userName ew \"b\"", bjensen));
    }

    [Fact]
    public void String_ordering_is_by_code_point_after_folding()
    {
        var user = Parse("""{ "userName": "m", "displayName": "\uD83D\uDE00", "nickName": "\uFFFD" }""");
        Assert.True(Matches("userName gt \"L\"", user)); // "l" < "m" once folded
        Assert.True(Matches("userName lt \"n\"", user));
        Assert.True(Matches("userName ge \"M\"", user));
        Assert.True(Matches("userName le \"m\"", user));
        Assert.False(Matches("userName gt \"m\"", user));
        // UTF-16 ordinal order would put U+1F600 (a surrogate pair) below U+FFFD.
        Assert.True(Matches("displayName gt \"\\uFFFD\"", user));
        Assert.True(Matches("nickName lt \"\\ud83d\\ude00\"", user));
    }

    [Fact]
    public void Date_times_compare_as_instants_across_offsets()
    {
        var user = Parse("""{ "userName": "x", "meta": { "lastModified": "2011-05-13T06:42:35+02:00" } }""");
        // 06:42:35+02:00 is 04:42:35Z: one second after the RFC's 04:42:34Z.
        Assert.True(Matches("meta.lastModified gt \"2011-05-13T04:42:34Z\"", user));
        Assert.False(Matches("meta.lastModified lt \"2011-05-13T04:42:34Z\"", user));
        Assert.True(Matches("meta.lastModified eq \"2011-05-13T04:42:35Z\"", user));
        Assert.True(Matches("meta.lastModified eq \"2011-05-12T21:42:35-07:00\"", user));
        Assert.False(Matches("meta.lastModified ne \"2011-05-13T04:42:35.000Z\"", user));

        // Text order and instant order disagree here: "05:42:33+02:00" sorts after "04:42:34Z" as a
        // string, yet is the earlier instant (03:42:33Z).
        var earlier = Parse("""{ "userName": "y", "meta": { "lastModified": "2011-05-13T05:42:33+02:00" } }""");
        Assert.False(Matches("meta.lastModified gt \"2011-05-13T04:42:34Z\"", earlier));
        Assert.True(Matches("meta.lastModified lt \"2011-05-13T04:42:34Z\"", earlier));

        var same = Parse("""{ "userName": "z", "meta": { "lastModified": "2011-05-13T06:42:34+02:00" } }""");
        Assert.False(Matches("meta.lastModified gt \"2011-05-13T04:42:34Z\"", same));
        Assert.True(Matches("meta.lastModified ge \"2011-05-13T04:42:34Z\"", same));
        Assert.True(Matches("meta.lastModified le \"2011-05-13T04:42:34Z\"", same));
        Assert.True(Matches("meta.lastModified eq \"2011-05-13T04:42:34Z\"", same));
    }

    [Fact]
    public void Stored_date_times_without_an_offset_are_utc()
    {
        var user = Parse("""{ "meta": { "created": "2011-05-13T04:42:34" } }""");
        Assert.True(Matches("meta.created eq \"2011-05-13T06:42:34+02:00\"", user));
    }

    [Fact]
    public void Numbers_compare_numerically()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("level eq 3", bjensen));
        Assert.True(Matches("level eq 3.00", bjensen));
        Assert.True(Matches("level gt 2.5", bjensen));
        Assert.False(Matches("level gt 3", bjensen));
        Assert.True(Matches("level ge 3", bjensen));
        Assert.True(Matches("score lt 10", bjensen)); // 10 > 4.5 numerically, though "10" < "4.5" as text
        Assert.True(Matches("score eq 45e-1", bjensen));
        Assert.True(Matches("score ne 4.6", bjensen));
        Assert.True(Matches("level gt -1", bjensen));
    }

    [Fact]
    public void Numbers_in_nodes_built_in_code_compare_too()
    {
        var widget = new JsonObject { ["level"] = JsonValue.Create(3L), ["score"] = JsonValue.Create(4.5d) };
        var user = new JsonObject { ["userName"] = "x", [Widget] = widget };
        Assert.True(Matches("level eq 3", user));
        Assert.True(Matches("score eq 4.5", user));
        Assert.True(Matches("score gt 4", user));

        widget["score"] = JsonValue.Create(double.MaxValue);
        Assert.False(Matches("score gt 4", user)); // outside decimal's range: cannot be compared
    }

    [Fact]
    public void Date_times_in_nodes_built_in_code_compare_too()
    {
        var user = new JsonObject
        {
            ["meta"] = new JsonObject { ["lastModified"] = JsonValue.Create(new DateTimeOffset(2011, 5, 13, 6, 42, 35, TimeSpan.FromHours(2))) },
        };
        Assert.True(Matches("meta.lastModified gt \"2011-05-13T04:42:34Z\"", user));
    }

    [Fact]
    public void Booleans_compare_with_eq_and_ne()
    {
        var users = Users();
        Assert.True(Matches("active eq true", users["bjensen"]));
        Assert.False(Matches("active eq true", users["jsmith"]));
        Assert.True(Matches("active eq false", users["jsmith"]));
        Assert.True(Matches("active ne true", users["jsmith"]));
        // An unset attribute is not equal to anything, so ne holds.
        Assert.False(Matches("active eq false", users["mpatel"]));
        Assert.True(Matches("active ne true", users["mpatel"]));
        Assert.True(Matches("emails[primary eq true and type eq \"work\"]", users["bjensen"]));
        Assert.False(Matches("emails[primary eq true and type eq \"home\"]", users["bjensen"]));
        Assert.True(Matches("emails.primary eq true", users["bjensen"]));
    }

    [Fact]
    public void A_multi_valued_attribute_matches_when_any_value_does()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("emails.type eq \"home\"", bjensen));
        Assert.True(Matches("emails.type eq \"work\"", bjensen));
        Assert.False(Matches("emails.type eq \"other\"", bjensen));
        Assert.True(Matches("emails ew \"jensen.org\"", bjensen));
        Assert.True(Matches("tags eq \"beta\"", bjensen)); // multi-valued simple, not caseExact
        Assert.True(Matches("tags eq \"ALPHA\"", bjensen));
        Assert.False(Matches("tags eq \"gamma\"", bjensen));
        Assert.True(Matches("not (emails.type eq \"other\")", bjensen));
        Assert.False(Matches("not (emails.type eq \"home\")", bjensen));
    }

    [Fact]
    public void Extension_attributes_are_read_from_their_container()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("employeeNumber eq \"701984\"", bjensen));
        Assert.True(Matches(Enterprise + ":employeeNumber eq \"701984\"", bjensen));
        Assert.True(Matches(Enterprise + ":manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"", bjensen));
        Assert.True(Matches("manager.displayName co \"smith\"", bjensen));
        Assert.False(Matches("employeeNumber pr", Users()["jsmith"]));
        // The same name at the top level is not the extension attribute.
        Assert.False(Matches("employeeNumber pr", Parse("""{ "employeeNumber": "1" }""")));
    }

    [Fact]
    public void Json_names_are_looked_up_case_insensitively()
    {
        var user = Parse($$"""
            { "USERNAME": "bjensen", "Name": { "GIVENNAME": "Barbara" },
              "Emails": [ { "Value": "b@example.com", "TYPE": "work" } ],
              "{{Enterprise.ToUpperInvariant()}}": { "EMPLOYEENUMBER": "7" } }
            """);
        Assert.True(Matches("userName eq \"bjensen\"", user));
        Assert.True(Matches("name.givenName eq \"barbara\"", user));
        Assert.True(Matches("emails[type eq \"work\" and value ew \"example.com\"]", user));
        Assert.True(Matches("employeeNumber eq \"7\"", user));
    }

    [Fact]
    public void Presence_ignores_null_empty_strings_empty_arrays_and_empty_complex_values()
    {
        Assert.False(Matches("title pr", Parse("""{ "title": null }""")));
        Assert.False(Matches("title pr", Parse("""{ "title": "" }""")));
        Assert.False(Matches("title pr", Parse("{}")));
        Assert.True(Matches("title pr", Parse("""{ "title": " " }""")));
        Assert.True(Matches("active pr", Parse("""{ "active": false }""")));
        Assert.False(Matches("emails pr", Parse("""{ "emails": [] }""")));
        Assert.False(Matches("emails pr", Parse("""{ "emails": [ {}, { "value": null, "type": "" } ] }""")));
        Assert.True(Matches("emails pr", Parse("""{ "emails": [ {}, { "value": "a@b" } ] }""")));
        Assert.True(Matches("emails pr", Parse("""{ "emails": [ { "primary": false } ] }""")));
        Assert.False(Matches("name pr", Parse("""{ "name": { "givenName": null, "familyName": "" } }""")));
        Assert.True(Matches("name pr", Parse("""{ "name": { "givenName": "B" } }""")));
        Assert.False(Matches("tags pr", Parse($$"""{ "{{Widget}}": { "tags": [ "", null ] } }""")));
        Assert.True(Matches("tags pr", Parse($$"""{ "{{Widget}}": { "tags": [ "", "x" ] } }""")));
    }

    [Fact]
    public void Presence_of_a_sub_attribute_holds_when_any_value_has_it()
    {
        Assert.True(Matches("emails.value pr", Parse("""{ "emails": [ { "type": "work" }, { "value": "a@b" } ] }""")));
        Assert.False(Matches("emails.value pr", Parse("""{ "emails": [ { "type": "work" }, { "value": "" } ] }""")));
        Assert.True(Matches("emails[type pr and value pr]", Parse("""{ "emails": [ { "type": "work", "value": "a@b" } ] }""")));
        Assert.False(Matches("emails[type pr and value pr]", Parse("""{ "emails": [ { "type": "work" }, { "value": "a@b" } ] }""")));
    }

    [Fact]
    public void Eq_null_and_ne_null_test_presence()
    {
        Assert.Equal(["cwong", "jsmith", "mpatel"], Select("title eq null"));
        Assert.Equal(["bjensen"], Select("title ne null"));
        Assert.Equal(["cwong", "jsmith", "mpatel"], Select("employeeNumber eq null"));
    }

    [Fact]
    public void Values_of_the_wrong_json_kind_do_not_match_and_do_not_throw()
    {
        var odd = Parse($$"""
            {
              "userName": 5,
              "title": ["Tour Guide"],
              "active": "true",
              "name": "Barbara",
              "emails": { "value": "b@example.com", "type": "work" },
              "ims": [ "x@foo.com", 7, null, [ { "value": "y" } ] ],
              "phoneNumbers": [ { "value": 5551234, "primary": "yes" } ],
              "meta": { "lastModified": "last tuesday", "created": 20110513 },
              "{{Enterprise}}": "not an object",
              "{{Widget}}": { "level": "3", "score": true, "tags": "alpha" }
            }
            """);
        string[] filters =
        [
            "userName eq \"5\"", "userName gt \"1\"", "title eq \"tour guide\"", "active eq true", "name.givenName pr",
            "emails.value eq \"b@example.com\"", "emails[type eq \"work\"]", "emails co \"example\"", "ims.value pr",
            "ims[value eq \"y\"]", "phoneNumbers.value eq \"5551234\"", "phoneNumbers[primary eq true]",
            "meta.lastModified gt \"2000-01-01T00:00:00Z\"", "meta.created lt \"2100-01-01T00:00:00Z\"",
            "employeeNumber pr", "level eq 3", "score eq 1", "tags eq \"alpha\"",
        ];
        foreach (var filter in filters)
            Assert.False(Matches(filter, odd), filter);
        Assert.True(Matches("not (emails[type eq \"work\"])", odd));
        Assert.True(Matches("userName pr", odd));
    }

    [Fact]
    public void Stored_strings_with_lone_surrogates_do_not_break_ordering()
    {
        var user = new JsonObject { ["userName"] = "a\uD800b", ["displayName"] = "\uDC00" };
        Assert.False(Matches("userName gt \"a\"", user));
        Assert.False(Matches("displayName lt \"z\"", user));
        Assert.True(Matches("userName sw \"a\"", user));
    }

    [Fact]
    public void Unknown_attributes_in_root_queries_have_no_value()
    {
        var bjensen = Users()["bjensen"];
        Assert.True(Matches("not (nickname2 eq 1)", bjensen, strict: false));
        Assert.False(Matches("nickname2 eq 1", bjensen, strict: false));
        Assert.True(Matches("nickname2 ne 1", bjensen, strict: false));
        Assert.False(Matches("nickname2 pr", bjensen, strict: false));
        Assert.True(Matches("nickname2 pr or userName eq \"bjensen\"", bjensen, strict: false));
        Assert.False(Matches("members[value eq \"x\"]", bjensen, strict: false));
    }

    [Fact]
    public void Group_members_filter()
    {
        var group = Parse("""
            { "displayName": "Tour Guides",
              "members": [ { "value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User" } ] }
            """);
        Assert.True(FilterEvaluator.Matches(Bind("members[value eq \"2819c223-7f76-453a-919d-413861904646\"]", rt: Group), group));
        Assert.True(FilterEvaluator.Matches(Bind("members eq \"2819C223-7F76-453A-919D-413861904646\"", rt: Group), group));
        Assert.False(FilterEvaluator.Matches(Bind("members.display eq \"x\"", rt: Group), group));
    }

    /// <summary>A node the evaluator does not know: reaching it would throw.</summary>
    private sealed record Unreachable : BoundFilter;

    [Fact]
    public void And_and_or_short_circuit()
    {
        var user = Parse("{}");
        Assert.False(FilterEvaluator.Matches(new BoundAnd(new BoundConstant(false), new Unreachable()), user));
        Assert.True(FilterEvaluator.Matches(new BoundOr(new BoundConstant(true), new Unreachable()), user));
        Assert.True(FilterEvaluator.Matches(new BoundNot(new BoundAnd(new BoundConstant(false), new Unreachable())), user));
        Assert.Throws<ArgumentOutOfRangeException>(() => FilterEvaluator.Matches(new BoundAnd(new BoundConstant(true), new Unreachable()), user));
    }

    [Fact]
    public void Constants_evaluate_to_themselves()
    {
        Assert.True(FilterEvaluator.Matches(new BoundConstant(true), Parse("{}")));
        Assert.False(FilterEvaluator.Matches(new BoundConstant(false), Parse("{}")));
    }

    [Fact]
    public void A_value_path_with_no_array_matches_nothing()
    {
        Assert.False(Matches("emails[type pr]", Parse("{}")));
        Assert.False(Matches("emails[not (type pr)]", Parse("""{ "emails": [] }""")));
        Assert.True(Matches("emails[not (type pr)]", Parse("""{ "emails": [ { "value": "a" } ] }""")));
        Assert.False(Matches("emails[not (type pr)]", Parse("""{ "emails": [ null, 5, "a" ] }""")));
    }
}
