using ScimSync.Feed.Delivery;

namespace ScimSync.Feed.Tests.Delivery;

public sealed class FailureReasonTests
{
    [Fact]
    public void Short_printable_text_is_kept_as_it_is() =>
        Assert.Equal("invalid_audience: not for us (é, 漢字)", FailureReason.Clamp("invalid_audience: not for us (é, 漢字)"));

    [Fact]
    public void Long_text_is_cut_and_marked()
    {
        var clamped = FailureReason.Clamp(new string('x', 100_000));
        Assert.Equal(FailureReason.MaxLength, clamped.Length);
        Assert.EndsWith("…", clamped, StringComparison.Ordinal);
    }

    [Fact]
    public void Terminal_escapes_line_breaks_and_bidirectional_overrides_become_visible()
    {
        Assert.Equal("?[2J?[31mred?", FailureReason.Clamp("\u001b[2J\u001b[31mred\u0007"));
        Assert.Equal("line?forged line", FailureReason.Clamp("line\nforged line"));
        Assert.Equal("abc?fed", FailureReason.Clamp("abc\u202efed"));
    }

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        var text = new string('x', FailureReason.MaxLength - 2) + "😀😀😀";
        var clamped = FailureReason.Clamp(text);
        Assert.False(char.IsHighSurrogate(clamped[^2]));
        Assert.EndsWith("…", clamped, StringComparison.Ordinal);
    }
}
