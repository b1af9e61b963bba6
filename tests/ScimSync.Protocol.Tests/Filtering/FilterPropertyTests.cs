using CsCheck;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using static ScimSync.Protocol.Tests.Filtering.FilterTestData;

namespace ScimSync.Protocol.Tests.Filtering;

public class FilterPropertyTests
{
    private const string Letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private static readonly Gen<string> Name = Gen.OneOf(
        // Keywords and operator names are deliberately in the mix: none of them is reserved as a name.
        Gen.OneOf(Gen.Const("not"), Gen.Const("and"), Gen.Const("or"), Gen.Const("pr"), Gen.Const("eq"), Gen.Const("True"), Gen.Const("null")),
        Gen.Select(Gen.Char[Letters], Gen.Char[Letters + "0123456789-_"].Array[0, 8], (first, rest) => first + new string(rest)));

    private static readonly Gen<string?> Urn = Gen.Frequency(
        (4, Gen.Const((string?)null)),
        (1, Gen.Const<string?>("urn:ietf:params:scim:schemas:core:2.0:User")),
        (1, Gen.Const<string?>(Enterprise)));

    private static readonly Gen<AttributePath> Path = Gen.Select(
        Urn, Name, Gen.Frequency((3, Gen.Const((string?)null)), (1, Name.Select(n => (string?)n)), (1, Gen.Const<string?>("$ref"))),
        (urn, name, sub) => new AttributePath(urn, name, sub));

    /// <summary>Inside brackets, paths are bare sub-attribute names.</summary>
    private static readonly Gen<AttributePath> InnerPath = Name.Select(n => new AttributePath(null, n, null));

    // Everything except surrogates: FilterValue.ToString writes a lone surrogate as U+FFFD, which cannot round-trip.
    private static readonly Gen<char> TextChar = Gen.Frequency(
        (6, Gen.Char[" abcXYZ019'\"\\/()[]{}.,:;!@#&<>=+-_~"]),
        (2, Gen.Char['\0', '\u00ff']),
        (1, Gen.Char['\u0100', '\ud7ff']));

    private static readonly Gen<FilterValue> Value = Gen.Frequency(
        (4, TextChar.Array[0, 12].Select(cs => FilterValue.Of(new string(cs)))),
        (2, Gen.Decimal.Select(FilterValue.Of)),
        (1, Gen.Int.Select(i => FilterValue.Of((decimal)i))),
        (1, Gen.Bool.Select(FilterValue.Of)),
        (1, Gen.Const(FilterValue.Null)));

    private static Gen<ScimFilter> Filter(int depth, bool inBrackets)
    {
        var path = inBrackets ? InnerPath : Path;
        var comparison = Gen.Select(path, Gen.Enum<ComparisonOperator>(), Value, (p, op, v) => (ScimFilter)new ComparisonFilter(p, op, v));
        var present = path.Select(p => (ScimFilter)new PresentFilter(p));
        var leaf = Gen.Frequency((3, comparison), (1, present));
        if (depth == 0) return leaf;
        var sub = Filter(depth - 1, inBrackets);
        var options = new List<(int, IGen<ScimFilter>)>
        {
            (3, leaf),
            (1, Gen.Select(sub, sub, (l, r) => (ScimFilter)new AndFilter(l, r))),
            (1, Gen.Select(sub, sub, (l, r) => (ScimFilter)new OrFilter(l, r))),
            (1, sub.Select(f => (ScimFilter)new NotFilter(f))),
        };
        if (!inBrackets)
            options.Add((1, Gen.Select(Path.Select(p => p with { SubAttribute = null }), Filter(depth - 1, inBrackets: true),
                (p, inner) => (ScimFilter)new ValuePathFilter(p, inner))));
        return Gen.Frequency(options.ToArray());
    }

    [Fact]
    public void Parsing_a_formatted_filter_gives_the_same_tree() =>
        Filter(4, inBrackets: false).Sample(f => Assert.Equal(f, ScimFilterParser.Parse(FilterFormatter.Format(f))), iter: 2000);

    [Fact]
    public void Parsing_a_formatted_patch_path_gives_the_same_path() =>
        Gen.Select(Path.Select(p => p with { SubAttribute = null }), Filter(2, inBrackets: true), Gen.Frequency((1, Gen.Const((string?)null)), (1, Name.Select(n => (string?)n))))
            .Sample((attr, filter, sub) =>
            {
                var path = new Patching.PatchPath(attr, filter, sub);
                Assert.Equal(path, ScimFilterParser.ParsePatchPath(path.ToString()));
            }, iter: 1000);

    /// <summary>Text made mostly of filter syntax, so that it gets deep into the parser before failing.</summary>
    private static readonly Gen<string> FilterishText = Gen.Frequency(
        (3, Gen.OneOf(
            Gen.Const("userName"), Gen.Const("emails"), Gen.Const("name.givenName"), Gen.Const(Enterprise + ":manager.value"),
            Gen.Const(" eq "), Gen.Const(" pr"), Gen.Const(" and "), Gen.Const(" or "), Gen.Const("not "), Gen.Const(" regex "),
            Gen.Const("\"x\""), Gen.Const("\"\\u00e9\""), Gen.Const("\"\\ud800\""), Gen.Const("1.5"), Gen.Const("-0"), Gen.Const("true"),
            Gen.Const("null"), Gen.Const("'x'"), Gen.Const("1e999"))),
        (2, Gen.Char["()[]\"\\. :"].Select(c => c.ToString())),
        (1, Gen.Char.Select(c => c.ToString())))
        .Array[0, 30].Select(parts => string.Concat(parts));

    [Fact]
    public void Parse_either_succeeds_or_reports_invalid_filter() =>
        FilterishText.Sample(text =>
        {
            try
            {
                var f = ScimFilterParser.Parse(text);
                Assert.Equal(f, ScimFilterParser.Parse(FilterFormatter.Format(f)));
            }
            catch (ScimException e)
            {
                Assert.Equal(ScimErrorType.InvalidFilter, e.ScimType);
            }
        }, iter: 5000);

    [Fact]
    public void Parse_patch_path_either_succeeds_or_reports_invalid_path_or_filter() =>
        FilterishText.Sample(text =>
        {
            try
            {
                ScimFilterParser.ParsePatchPath(text);
            }
            catch (ScimException e)
            {
                Assert.Contains(e.ScimType, new[] { ScimErrorType.InvalidPath, ScimErrorType.InvalidFilter });
            }
        }, iter: 5000);

    [Fact]
    public void Binding_and_evaluating_any_parsed_filter_either_works_or_reports_invalid_filter()
    {
        var users = Users().Values.ToArray();
        FilterishText.Sample(text =>
        {
            ScimFilter f;
            try { f = ScimFilterParser.Parse(text); }
            catch (ScimException) { return; }
            foreach (var strict in new[] { true, false })
            {
                BoundFilter bound;
                try { bound = FilterBinder.Bind(f, User, Registry, strict); }
                catch (ScimException e)
                {
                    Assert.Equal(ScimErrorType.InvalidFilter, e.ScimType);
                    continue;
                }
                foreach (var user in users)
                    Assert.Equal(!FilterEvaluator.Matches(bound, user), FilterEvaluator.Matches(new BoundNot(bound), user));
            }
        }, iter: 5000);
    }
}
