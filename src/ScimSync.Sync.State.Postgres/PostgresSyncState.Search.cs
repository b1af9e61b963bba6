using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// The console's search of a target's shadow: a page in userName order and a count, on the (target,
/// lower(userName)) index, so a page over 100,000 accounts never loads them.
/// </summary>
public sealed partial class PostgresSyncState
{
    public ShadowPage SearchAccounts(ShadowSearch search)
    {
        ArgumentNullException.ThrowIfNull(search);
        var limit = Math.Clamp(search.Limit, 1, 500);
        var text = string.IsNullOrWhiteSpace(search.Text) ? null : search.Text.Trim();
        if (text is null) return Page(search, null, "", limit);
        // One index per question, as the SQLite state asks them: a userName prefix first, then an exact externalId, then
        // (with an @) the account's email key (its primary address, lower-cased: TargetAccount.SearchKeys).
        var page = Page(search, text, " AND lower(s.user_name) >= lower(@v) AND lower(s.user_name) < lower(@v) || chr(1114111)", limit);
        if (page.Total == 0) page = Page(search, text, " AND s.external_id = @v", limit);
        if (page.Total == 0 && text.Contains('@', StringComparison.Ordinal))
            page = Page(search, TargetAccount.EmailKey(text), " AND s.email = @v", limit);
        return page;
    }

    private ShadowPage Page(ShadowSearch search, string? text, string match, int limit)
    {
        var where = "s.target = @t" + match;
        where += search.Ownership switch
        {
            ShadowOwnership.Managed => " AND l.source_id IS NOT NULL",
            ShadowOwnership.Unmanaged => " AND l.source_id IS NULL",
            _ => "",
        };
        const string from = "shadow_accounts s LEFT JOIN links l ON l.target = s.target AND l.target_id = s.target_id";
        var args = new List<(string, object?)> { ("@t", search.Target), ("@v", text) };
        var total = Read(db => Int(Scalar(Command(db, null, $"SELECT count(*) FROM (SELECT 1 FROM {from} WHERE {where} LIMIT {ShadowPage.CountLimit}) c", [.. args]))));
        var keyset = "";
        if (search.After is { } after)
        {
            keyset = " AND (lower(s.user_name) > lower(@au) OR (lower(s.user_name) = lower(@au) AND s.target_id > @ai))";
            args.Add(("@au", after.UserName));
            args.Add(("@ai", after.TargetId));
        }
        args.Add(("@n", limit + 1));
        var rows = Read(db => Rows(Command(db, null, $"""
            SELECT s.target_id, s.user_name, s.external_id, s.active, l.source_id, s.seen FROM {from}
            WHERE {where}{keyset} ORDER BY lower(s.user_name), s.target_id LIMIT @n
            """, [.. args]), r => new ShadowRow(r.GetString(0), r.GetString(1), Text(r, 2), r.GetBoolean(3), Text(r, 4), Time(r.GetInt64(5)))));
        var more = rows.Count > limit;
        if (more) rows.RemoveAt(rows.Count - 1);
        return new ShadowPage(rows, total) { More = more };
    }

    public IReadOnlyDictionary<string, int> OperationCounts(string target, DateTimeOffset since) => Read(db => Rows(Command(db, null,
            "SELECT result, count(*) FROM audit WHERE time >= @s AND target = @t AND verb <> 'decision' GROUP BY result", ("@t", target), ("@s", since.UtcTicks)),
        r => (r.GetString(0), (int)r.GetInt64(1)))).ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
}
