using System.Globalization;
using Microsoft.Data.Sqlite;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>The provisioning log: the audit table read back by person, target, result and time.</summary>
public sealed partial class SqliteSyncState
{
    private const string AuditColumns = """
        time, cause, target, verb, subject, target_id, source_id, result, status, duration_ms, detail,
        user_name, changes, journal_position, event_time, writer, scim_type, action
        """;

    public IReadOnlyList<AuditRecord> Audit(int max, string? target = null)
    {
        return Read(() =>
        {
            using var cmd = Command($"""
                SELECT {AuditColumns} FROM audit
                WHERE @t IS NULL OR target = @t ORDER BY seq DESC LIMIT @m
                """, ("@t", target), ("@m", max));
            var list = ReadAudit(cmd);
            list.Reverse();
            return list;
        });
    }

    /// <summary>
    /// The entries matching <paramref name="query"/>, newest first. A person's entries come from two index seeks (by
    /// source id, by userName) whatever the log's size: this is what `sync user` and `sync log --user` ask.
    /// The other filters have their indexes too (target, failures, time), each ordered by the entry's sequence.
    /// </summary>
    public IReadOnlyList<AuditRecord> Log(AuditQuery query)
    {
        var where = new List<string>();
        var args = new List<(string, object?)>();
        if (query.People is { Count: > 0 } people)
        {
            var names = string.Join(", ", people.Select((_, i) => "@p" + i.ToString(CultureInfo.InvariantCulture)));
            for (var i = 0; i < people.Count; i++) args.Add(("@p" + i.ToString(CultureInfo.InvariantCulture), people[i]));
            // By source id; by userName; and by the source ids of the entries that name the person, so that what was
            // recorded under an earlier userName, or without one (an unlink), is found too. INDEXED BY: without
            // statistics SQLite may prefer walking the whole table in seq order.
            where.Add($"""
                seq IN (SELECT seq FROM audit INDEXED BY ix_audit_source WHERE source_id IN ({names})
                        UNION SELECT seq FROM audit INDEXED BY ix_audit_user WHERE user_name IN ({names})
                        UNION SELECT seq FROM audit INDEXED BY ix_audit_source WHERE source_id IN
                            (SELECT source_id FROM audit INDEXED BY ix_audit_user WHERE user_name IN ({names}) AND source_id IS NOT NULL))
                """);
        }
        if (query.Target is not null)
        {
            where.Add("target = @target");
            args.Add(("@target", query.Target));
        }
        if (query.Result == "failed")
            // The literal lets SQLite use the partial index of failures (ix_audit_failed); a parameter would not.
            where.Add("result = 'failed'");
        else if (query.Result is not null)
        {
            where.Add("result = @result");
            args.Add(("@result", query.Result));
        }
        if (query.Since is { } since)
        {
            where.Add("time >= @since");
            args.Add(("@since", since.UtcTicks));
        }
        if (query.Until is { } until)
        {
            where.Add("time < @until");
            args.Add(("@until", until.UtcTicks));
        }
        args.Add(("@limit", Math.Max(0, query.Limit)));
        var sql = $"SELECT {AuditColumns} FROM audit{(where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where))} ORDER BY seq DESC LIMIT @limit";
        var page = Read(() =>
        {
            using var cmd = Command(sql, [.. args]);
            return ReadAudit(cmd);
        });
        // Records reach the log in the order their writes were committed, which for operations finishing at the
        // same moment on different lanes can differ from their times by a few microseconds: a page is shown by time.
        return [.. page.OrderByDescending(a => a.Time)];
    }

    private static List<AuditRecord> ReadAudit(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        var list = new List<AuditRecord>();
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        while (r.Read())
            list.Add(new AuditRecord(new DateTimeOffset(r.GetInt64(0), TimeSpan.Zero), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
                Text(5), Text(6), r.GetString(7), r.IsDBNull(8) ? null : r.GetInt32(8), r.GetDouble(9), Text(10))
            {
                UserName = Text(11),
                Changes = StoredChanges.Read(Text(12)),
                JournalPosition = r.IsDBNull(13) ? null : r.GetInt64(13),
                EventTime = r.IsDBNull(14) ? null : new DateTimeOffset(r.GetInt64(14), TimeSpan.Zero),
                Writer = Text(15),
                ScimType = Text(16),
                Action = Text(17),
            });
        return list;
    }

    /// <summary>
    /// One bounded step of retention: the oldest entries before <paramref name="before"/>, at most
    /// <paramref name="max"/>, in one short transaction found through ix_audit_time, so that the engine's writes
    /// wait for one step, not for a whole backlog (an upgraded log of millions of entries is pruned step by step).
    /// </summary>
    public int PruneLog(DateTimeOffset before, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        lock (_gate)
        {
            try
            {
                using var tx = _db.BeginTransaction();
                var removed = Prepare(_db, _statements,
                    "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit INDEXED BY ix_audit_time WHERE time < @before ORDER BY time LIMIT @max)",
                    tx, [("@before", before.UtcTicks), ("@max", max)]).ExecuteNonQuery();
                tx.Commit();
                return removed;
            }
            catch (SqliteException e)
            {
                throw Unavailable(e);
            }
        }
    }
}
