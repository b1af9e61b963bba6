using ScimSync.Store.Querying;

namespace ScimSync.Server.Tests.Storage;

public sealed class PrefixRangeTests
{
    [Theory]
    [InlineData("ab", "ac")]
    [InlineData("a\U0010FFFF", "b")]
    [InlineData("\uD7FF", "\uE000")]
    [InlineData("z\U0001F600", "z\U0001F601")]
    public void The_bound_is_the_least_string_above_every_string_with_the_prefix(string prefix, string bound) =>
        Assert.Equal(bound, PrefixRange.UpperBound(prefix));

    [Fact]
    public void A_prefix_of_the_last_code_point_only_has_no_bound() => Assert.Null(PrefixRange.UpperBound("\U0010FFFF\U0010FFFF"));

    [Theory]
    [InlineData("gr", new[] { "gr", "grace", "gr\U0010FFFF", "grz" }, new[] { "gs", "g", "h", "Gr" })]
    [InlineData("é", new[] { "é", "éa" }, new[] { "ê", "e" })]
    public void Every_string_with_the_prefix_is_inside_the_range_and_no_other(string prefix, string[] inside, string[] outside)
    {
        var upper = PrefixRange.UpperBound(prefix)!;
        bool InRange(string s) => string.CompareOrdinal(s, prefix) >= 0 && CodePoints(s, upper) < 0;
        Assert.All(inside, s => Assert.True(InRange(s), s));
        Assert.All(outside, s => Assert.False(InRange(s), s));
    }

    // Code point order (what the stores' indexes keep), which UTF-16 ordinal order is not above U+FFFF.
    private static int CodePoints(string a, string b) =>
        a.EnumerateRunes().Select(r => r.Value).ToArray().AsSpan().SequenceCompareTo(b.EnumerateRunes().Select(r => r.Value).ToArray());
}
