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
    /// The key under which userName uniqueness is enforced: the PRECIS-style comparison of RFC 7644 §3.3,
    /// approximated as Unicode NFKC normalisation followed by case folding.
    /// </summary>
    public static string UniquenessKey(string s) => Fold(s.Normalize(NormalizationForm.FormKC));
}
