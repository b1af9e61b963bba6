using System.Globalization;
using Microsoft.Data.Sqlite;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// The console's search of a target's shadow: a page in userName order and a count, each one query on the
/// (target, userName) index, so a page over 100,000 accounts never loads them.
/// </summary>
public sealed partial class SqliteSyncState
{
    // Above every character a userName can hold: the upper end of a prefix range.
    private const string Highest = "\U0010FFFF";

    public ShadowPage SearchAccounts(ShadowSearch search)
    {
        ArgumentNullException.ThrowIfNull(search);
        var limit = Math.Clamp(search.Limit, 1, 500);
        var text = string.IsNullOrWhiteSpace(search.Text) ? null : search.Text.Trim();
        return Read(() =>
        {
            var page = Page(search, text, email: false, limit);
            // An email address that is not also a userName prefix or an externalId: the emails are inside the
            // account's document, not indexed, so this one case scans the target's accounts (documented in docs/console.md).
            if (page.Total == 0 && text is not null && text.Contains('@', StringComparison.Ordinal)) page = Page(search, text, email: true, limit);
            return page;
        });
    }

    private ShadowPage Page(ShadowSearch search, string? text, bool email, int limit)
    {
        var where = "s.target = @t";
        if (text is not null)
            where += email
                ? " AND EXISTS (SELECT 1 FROM json_each(s.data, '$.emails') e WHERE lower(json_extract(e.value, '$.value')) = lower(@v))"
                : " AND ((s.user_name >= @v COLLATE NOCASE AND s.user_name < @hi COLLATE NOCASE) OR s.external_id = @v)";
        where += search.Ownership switch
        {
            ShadowOwnership.Managed => " AND l.source_id IS NOT NULL",
            ShadowOwnership.Unmanaged => " AND l.source_id IS NULL",
            _ => "",
        };
        var from = "shadow_accounts s LEFT JOIN links l ON l.target = s.target AND l.target_id = s.target_id";
        var args = new List<(string, object?)> { ("@t", search.Target), ("@v", text), ("@hi", text + Highest) };
        int total;
        using (var count = Command($"SELECT count(*) FROM {from} WHERE {where}", [.. args]))
            total = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
        var keyset = "";
        if (search.After is { } after)
        {
            keyset = " AND (s.user_name > @au COLLATE NOCASE OR (s.user_name = @au COLLATE NOCASE AND s.target_id > @ai))";
            args.Add(("@au", after.UserName));
            args.Add(("@ai", after.TargetId));
        }
        args.Add(("@n", limit + 1));
        var rows = new List<ShadowRow>();
        using (var cmd = Command($"""
            SELECT s.target_id, s.user_name, s.external_id, s.active, l.source_id, s.seen FROM {from}
            WHERE {where}{keyset} ORDER BY s.user_name COLLATE NOCASE, s.target_id LIMIT @n
            """, [.. args]))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                rows.Add(new ShadowRow(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3) != 0,
                    r.IsDBNull(4) ? null : r.GetString(4), Time(r.GetInt64(5))));
        var more = rows.Count > limit;
        if (more) rows.RemoveAt(rows.Count - 1);
        return new ShadowPage(rows, total) { More = more };
    }
}
