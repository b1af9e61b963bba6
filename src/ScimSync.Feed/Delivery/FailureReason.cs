using System.Globalization;
using System.Text;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// The one rule for text that comes from a receiver (an error, a description, a reason phrase) and is kept
/// with a delivery: stored per event, listed by the API and printed by the CLI, so it is short and cannot
/// steer a terminal.
/// </summary>
public static class FailureReason
{
    /// <summary>Longest reason kept with an event, in characters.</summary>
    public const int MaxLength = 512;

    /// <summary>
    /// <paramref name="text"/> cut to <see cref="MaxLength"/> (marked with "…"), with control and bidirectional
    /// formatting characters replaced by '?' so that an ANSI escape or a right-to-left override shows as text.
    /// </summary>
    public static string Clamp(string text)
    {
        var cut = text.Length > MaxLength;
        var span = cut ? text.AsSpan(0, MaxLength - 1) : text.AsSpan();
        // Do not leave half of a surrogate pair at the cut.
        if (cut && span.Length > 0 && char.IsHighSurrogate(span[^1])) span = span[..^1];
        var b = new StringBuilder(span.Length + 1);
        foreach (var c in span) b.Append(Unsafe(c) ? '?' : c);
        if (cut) b.Append('…');
        return b.ToString();
    }

    private static bool Unsafe(char c) =>
        char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format;
}
