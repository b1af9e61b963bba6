using System.Globalization;
using Microsoft.Data.Sqlite;
using ScimSync.Sync.Planning;
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
            if (text is null) return Page(search, null, Match.All, limit);
            // One index per question: a userName prefix first, then an exact externalId, then (with an @) the account's
            // email key (its primary address, lower-cased: TargetAccount.SearchKeys).
            var page = Page(search, text, Match.UserNamePrefix, limit);
            if (page.Total == 0) page = Page(search, text, Match.ExternalId, limit);
            if (page.Total == 0 && text.Contains('@', StringComparison.Ordinal)) page = Page(search, TargetAccount.EmailKey(text), Match.Email, limit);
            return page;
        });
    }

    private enum Match { All, UserNamePrefix, ExternalId, Email }

    private static string Hint(string? index) => index is null ? "" : " INDEXED BY " + index;

    public IReadOnlyDictionary<string, int> OperationCounts(string target, DateTimeOffset since)
    {
        return Read(() =>
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            using var cmd = Command("SELECT result, count(*) FROM audit WHERE time >= @s AND target = @t AND verb <> 'decision' GROUP BY result",
                ("@t", target), ("@s", since.UtcTicks));
            using var r = cmd.ExecuteReader();
            while (r.Read()) counts[r.GetString(0)] = r.GetInt32(1);
            return counts;
        });
    }

    private ShadowPage Page(ShadowSearch search, string? text, Match match, int limit)
    {
        // INDEXED BY: without statistics SQLite prefers the (target, target_id) primary key and sorts afterwards.
        var (index, where) = match switch
        {
            Match.UserNamePrefix => ("ix_shadow_user", " AND s.user_name >= @v COLLATE NOCASE AND s.user_name < @hi COLLATE NOCASE"),
            Match.ExternalId => ("ix_shadow_external", " AND s.external_id = @v"),
            Match.Email => ("ix_shadow_email", " AND s.email = @v"),
            _ => ("ix_shadow_user", ""),
        };
        var owned = search.Ownership switch
        {
            ShadowOwnership.Managed => " AND l.source_id IS NOT NULL",
            ShadowOwnership.Unmanaged => " AND l.source_id IS NULL",
            _ => "",
        };
        const string join = " LEFT JOIN links l ON l.target = s.target AND l.target_id = s.target_id";
        var args = new List<(string, object?)> { ("@t", search.Target), ("@v", text), ("@hi", text + Highest) };
        int total;
        // The count joins the links only when ownership filters.
        using (var count = Command($"SELECT count(*) FROM (SELECT 1 FROM shadow_accounts s{Hint(index)}{(owned.Length > 0 ? join : "")} WHERE s.target = @t{where}{owned} LIMIT {ShadowPage.CountLimit})", [.. args]))
            total = Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
        var keyset = "";
        if (search.After is { } after)
        {
            // A row value: one seek into the index, wherever the page is.
            keyset = " AND (s.user_name COLLATE NOCASE, s.target_id) > (@au, @ai)";
            args.Add(("@au", after.UserName));
            args.Add(("@ai", after.TargetId));
        }
        args.Add(("@n", limit + 1));
        var rows = new List<ShadowRow>();
        using (var cmd = Command($"""
            SELECT s.target_id, s.user_name, s.external_id, s.active, l.source_id, s.seen FROM shadow_accounts s{Hint(index)}{join}
            WHERE s.target = @t{where}{owned}{keyset} ORDER BY s.user_name COLLATE NOCASE, s.target_id LIMIT @n
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
