using System.Text;

namespace ScimSync.Store.Querying;

/// <summary>
/// <c>sw</c> as a range: every string that starts with a prefix lies in [prefix, upper bound) in code point
/// order, which is the order both stores' indexes keep text in (SQLite's BINARY collation on UTF-8, PostgreSQL's
/// "C" collation), so a store can answer <c>sw</c> from an index instead of testing every row.
/// </summary>
public static class PrefixRange
{
    /// <summary>
    /// The least string greater than every string that starts with <paramref name="prefix"/>, in code point order;
    /// null when there is none (a prefix of U+10FFFF only). Surrogate code points are skipped: no string holds them.
    /// </summary>
    public static string? UpperBound(string prefix)
    {
        var runes = prefix.EnumerateRunes().ToList();
        while (runes.Count > 0)
        {
            var last = runes[^1].Value;
            runes.RemoveAt(runes.Count - 1);
            var next = last + 1;
            if (next == 0xD800) next = 0xE000;
            if (next <= 0x10FFFF)
            {
                runes.Add(new Rune(next));
                var sb = new StringBuilder();
                foreach (var r in runes) sb.Append(r.ToString());
                return sb.ToString();
            }
        }
        return null;
    }
}
