using System.Text;

namespace ScimSync.Protocol.Resources;

/// <summary>
/// The one definition of string equality and order used everywhere: in memory, in SQL (registered as a
/// database function) and in indexes. Keeping a single definition is what makes a filter compiled to SQL
/// return the same set as the in-memory evaluator.
/// </summary>
public static class ScimText
{
    /// <summary>Case folding for caseExact=false attributes.</summary>
    public static string Fold(string s) => s.ToLowerInvariant();

    /// <summary>
    /// Unicode code point order, which is also the byte order of UTF-8 and therefore SQLite's BINARY
    /// collation and PostgreSQL's "C" collation. UTF-16 ordinal order differs for surrogate pairs.
    /// </summary>
    public static int CompareCodePoints(string a, string b)
    {
        var i = 0;
        var j = 0;
        while (i < a.Length && j < b.Length)
        {
            var ra = Rune.GetRuneAt(a, i);
            var rb = Rune.GetRuneAt(b, j);
            if (ra != rb) return ra.Value.CompareTo(rb.Value);
            i += ra.Utf16SequenceLength;
            j += rb.Utf16SequenceLength;
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    /// <summary>
    /// Names the rule <see cref="UniquenessKey"/> implements. Stores keep the name beside the keys they computed
    /// and recompute them when it changes, so a change to that rule must change this name too.
    /// </summary>
    public const string UniquenessKeyRule = "rfc8265-usernamecasemapped";

    /// <summary>
    /// The key under which identifiers are compared: userName for uniqueness and for every filter on it, and
    /// operator attributes marked unique. The mapping rules of RFC 8265 §3.3 (UsernameCaseMapped profile):
    /// width mapping (fullwidth and halfwidth forms to their decompositions), case mapping to lower case,
    /// and normalisation form C. Two strings with the same key name the same account.
    /// </summary>
    public static string UniquenessKey(string s)
    {
        // A lone surrogate cannot be normalised (input with one is refused; stored ones stay as they are).
        if (!Filtering.FilterTokenizer.IsWellFormedUtf16(s)) return Fold(s);
        var mapped = new StringBuilder(s.Length);
        foreach (var rune in s.EnumerateRunes())
        {
            // The Halfwidth and Fullwidth Forms block: decomposition types <wide> and <narrow>, whose
            // compatibility decomposition is exactly the width mapping.
            if (rune.Value is >= 0xFF01 and <= 0xFFEE || rune.Value == 0x3000) mapped.Append(rune.ToString().Normalize(NormalizationForm.FormKC));
            else mapped.Append(rune.ToString());
        }
        return Fold(mapped.ToString()).Normalize(NormalizationForm.FormC);
    }

    /// <summary>
    /// Why a userName cannot be accepted, or null when it can: after the mapping of <see cref="UniquenessKey"/>,
    /// it must be one or more userparts separated by single spaces (RFC 8265 §3.1), each made of what the
    /// PRECIS IdentifierClass allows (RFC 8264 §4.2): letters and digits, and printable ASCII. So
    /// <c>"user0 "</c>, <c>" user0"</c> and <c>"user0\u200B"</c> are refused rather than becoming a second
    /// account that looks like <c>user0</c>. Not checked: the bidirectional rule of RFC 5893.
    /// </summary>
    public static string? UserNameProblem(string s)
    {
        if (s.Length == 0) return "is empty";
        if (!Filtering.FilterTokenizer.IsWellFormedUtf16(s)) return "is not well-formed Unicode (a lone surrogate)";
        var key = UniquenessKey(s);
        if (key[0] == ' ' || key[^1] == ' ') return "begins or ends with a space";
        if (key.Contains("  ", StringComparison.Ordinal)) return "has two spaces in a row";
        foreach (var rune in key.EnumerateRunes())
        {
            if (rune.Value == ' ') continue; // between userparts
            if (rune.Value < 0x80)
            {
                if (rune.Value < 0x21 || rune.Value == 0x7F) return $"contains the control character U+{rune.Value:X4}";
                continue;
            }
            var what = Rune.GetUnicodeCategory(rune) switch
            {
                System.Globalization.UnicodeCategory.Control => "a control character",
                System.Globalization.UnicodeCategory.Format => "an invisible formatting character",
                System.Globalization.UnicodeCategory.SpaceSeparator or System.Globalization.UnicodeCategory.LineSeparator
                    or System.Globalization.UnicodeCategory.ParagraphSeparator => "a space other than a single ASCII space between parts",
                System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.Surrogate
                    or System.Globalization.UnicodeCategory.OtherNotAssigned => "an unassigned or private-use code point",
                System.Globalization.UnicodeCategory.TitlecaseLetter or System.Globalization.UnicodeCategory.LetterNumber
                    or System.Globalization.UnicodeCategory.OtherNumber or System.Globalization.UnicodeCategory.EnclosingMark => "a character identifiers may not hold",
                System.Globalization.UnicodeCategory.UppercaseLetter or System.Globalization.UnicodeCategory.LowercaseLetter
                    or System.Globalization.UnicodeCategory.ModifierLetter or System.Globalization.UnicodeCategory.OtherLetter
                    or System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark
                    or System.Globalization.UnicodeCategory.DecimalDigitNumber => null,
                _ => "a symbol or punctuation character outside ASCII",
            };
            // Letters that are invisible (Hangul fillers) or have a compatibility decomposition (ligatures,
            // superscripts) look like other strings: PRECIS disallows them.
            what ??= IsIgnorableLetter(rune.Value) ? "an invisible letter"
                : rune.ToString().Normalize(NormalizationForm.FormKC) != rune.ToString() ? "a compatibility character" : null;
            if (what is not null) return $"contains {what} (U+{rune.Value:X4})";
        }
        return null;
    }

    private static bool IsIgnorableLetter(int c) => c is 0x115F or 0x1160 or 0x3164 or 0xFFA0 or (>= 0x17B4 and <= 0x17B5);
}
