using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>Reads by person, by key and for health: the guard's holds, the log, one person's part of the state, secrets.</summary>
public sealed partial class PostgresSyncState
{
    private const string AuditColumns = """
        time, cause, target, verb, subject, target_id, source_id, result, status, duration_ms, detail,
        user_name, changes, journal_position, event_time, writer, scim_type, action
        """;

    public TargetReadRecord? LastRead(string target) => Read(db => Rows(Command(db, null,
            "SELECT at, accounts, complete, problems, complete_at, complete_accounts FROM target_reads WHERE target = @t", ("@t", target)),
        r => new TargetReadRecord(target, Time(r.GetInt64(0)), r.GetInt32(1), r.GetBoolean(2), Text(r, 3),
            r.IsDBNull(4) ? null : Time(r.GetInt64(4)), r.IsDBNull(5) ? null : r.GetInt32(5))).FirstOrDefault());

    public (int Accounts, int Groups) ManagedCounts(string target) => Read(db => Rows(Command(db, null,
            "SELECT (SELECT count(*) FROM links WHERE target = @t), (SELECT count(*) FROM group_links WHERE target = @t)", ("@t", target)),
        r => ((int)r.GetInt64(0), (int)r.GetInt64(1)))[0]);

    public IReadOnlyList<string> PendingUrgentLinked(string target) => Read(db => Rows(Command(db, null, """
        SELECT p.source_id FROM pending p JOIN links l ON l.target = p.target AND l.source_id = p.source_id
        WHERE p.target = @t AND p.urgent
        """, ("@t", target)), r => r.GetString(0)));

    public IReadOnlyList<HeldOperation> Holds(string target) => Read(db => Rows(Command(db, null,
            "SELECT key, verb, subject, target_id, reason, since FROM holds WHERE target = @t ORDER BY since, key", ("@t", target)),
        r => new HeldOperation(target, r.GetString(0), r.GetString(1), r.GetString(2), Text(r, 3), r.GetString(4), Time(r.GetInt64(5)))));

    public int HeldCount(string target) => Read(db => Int(Scalar(Command(db, null, "SELECT count(*) FROM holds WHERE target = @t", ("@t", target)))));

    public QueueSummary Summary(string target) => Read(db => Rows(Command(db, null, """
        SELECT (SELECT count(*) FROM pending WHERE target = @t), (SELECT min(enqueued) FROM pending WHERE target = @t),
               (SELECT count(*) FROM holds WHERE target = @t), (SELECT min(since) FROM holds WHERE target = @t)
        """, ("@t", target)), r => new QueueSummary((int)r.GetInt64(0), r.IsDBNull(1) ? null : Time(r.GetInt64(1)),
            (int)r.GetInt64(2), r.IsDBNull(3) ? null : Time(r.GetInt64(3))))[0]);

    public byte[]? SyncedJson(string target, string targetId) =>
        Read(db => Scalar(Command(db, null, "SELECT synced FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId))) is string s ? WithoutMeta(s) : null);

    public IReadOnlyDictionary<string, string> LinksBySource(string target) => Read(db => Pairs(db, "SELECT source_id, target_id FROM links WHERE target = @t", target));

    public bool IsLinkedAnywhere(string sourceId) => Read(db => Scalar(Command(db, null, "SELECT 1 FROM links WHERE source_id = @s LIMIT 1", ("@s", sourceId))) is not null);

    public ShadowAccount? Account(string target, string targetId) => Read(db => Rows(Command(db, null,
            "SELECT user_name, active, data, synced, seen FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId)),
        r => new ShadowAccount(target, targetId, r.GetString(0), r.GetBoolean(1), JsonNode.Parse(r.GetString(2))!.AsObject(),
            r.IsDBNull(3) ? null : JsonNode.Parse(r.GetString(3))!.AsObject(), Time(r.GetInt64(4)))).FirstOrDefault());

    public JsonObject? AccountData(string target, string targetId) =>
        Read(db => Scalar(Command(db, null, "SELECT data FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId))) is string d ? JsonNode.Parse(d)!.AsObject() : null);

    public IReadOnlyList<string> AccountsNamed(string target, string userName) => Read(db => Rows(Command(db, null,
        "SELECT target_id FROM shadow_accounts WHERE target = @t AND lower(user_name) = lower(@u)", ("@t", target), ("@u", userName)), r => r.GetString(0)));

    public IReadOnlyList<ShadowMembership> GroupsOf(string target, string targetId) => Read(db => Rows(Command(db, null, """
        SELECT g.target_id, g.display_name, l.source_id FROM shadow_group_members m
        JOIN shadow_groups g ON g.target = m.target AND g.target_id = m.group_id
        LEFT JOIN group_links l ON l.target = g.target AND l.target_id = g.target_id
        WHERE m.target = @t AND m.member_id = @m ORDER BY g.display_name
        """, ("@t", target), ("@m", targetId)), r => new ShadowMembership(r.GetString(0), r.GetString(1), Text(r, 2))));

    public QueuedKey? Queued(string target, string key) => Read(db => Rows(Command(db, null,
            "SELECT urgent, enqueued, changes FROM pending WHERE target = @t AND source_id = @k", ("@t", target), ("@k", key)),
        r => new QueuedKey(key, r.GetBoolean(0), Time(r.GetInt64(1)), r.GetInt64(2))).FirstOrDefault());

    public HeldOperation? Held(string target, string key) => Read(db => Rows(Command(db, null,
            "SELECT verb, subject, target_id, reason, since FROM holds WHERE target = @t AND key = @k", ("@t", target), ("@k", key)),
        r => new HeldOperation(target, key, r.GetString(0), r.GetString(1), Text(r, 2), r.GetString(3), Time(r.GetInt64(4)))).FirstOrDefault());

    public IReadOnlyList<AuditRecord> Audit(int max, string? target = null)
    {
        var list = Read(db => Rows(Command(db, null, $"SELECT {AuditColumns} FROM audit WHERE @t::text IS NULL OR target = @t ORDER BY seq DESC LIMIT @m",
            ("@t", target), ("@m", max)), AuditRow));
        list.Reverse();
        return list;
    }

    /// <summary>The entries matching <paramref name="query"/>, newest first; a person by source id, by userName, and through the source ids of the entries that name them.</summary>
    public IReadOnlyList<AuditRecord> Log(AuditQuery query)
    {
        var where = new List<string>();
        var args = new List<(string, object?)>();
        if (query.People is { Count: > 0 } people)
        {
            args.Add(("@people", people.ToArray()));
            args.Add(("@names", people.Select(p => p.ToLowerInvariant()).ToArray()));
            where.Add("""
                seq IN (SELECT seq FROM audit WHERE source_id = ANY(@people)
                        UNION SELECT seq FROM audit WHERE lower(user_name) = ANY(@names)
                        UNION SELECT seq FROM audit WHERE source_id IN
                            (SELECT source_id FROM audit WHERE lower(user_name) = ANY(@names) AND source_id IS NOT NULL))
                """);
        }
        if (query.Target is not null)
        {
            where.Add("target = @target");
            args.Add(("@target", query.Target));
        }
        if (query.Result is not null)
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
        var page = Read(db => Rows(Command(db, null, sql, [.. args]), AuditRow));
        // Entries of lanes finishing at the same moment may commit in another order than their times: a page is shown by time.
        return [.. page.OrderByDescending(a => a.Time)];
    }

    private static AuditRecord AuditRow(NpgsqlDataReader r) =>
        new(Time(r.GetInt64(0)), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), Text(r, 5), Text(r, 6), r.GetString(7),
            r.IsDBNull(8) ? null : r.GetInt32(8), r.GetDouble(9), Text(r, 10))
        {
            UserName = Text(r, 11),
            Changes = StoredChanges.Read(Text(r, 12)),
            JournalPosition = r.IsDBNull(13) ? null : r.GetInt64(13),
            EventTime = r.IsDBNull(14) ? null : Time(r.GetInt64(14)),
            Writer = Text(r, 15),
            ScimType = Text(r, 16),
            Action = Text(r, 17),
        };

    /// <summary>One bounded step of retention: at most <paramref name="max"/> of the oldest entries before <paramref name="before"/>, in one short transaction.</summary>
    public int PruneLog(DateTimeOffset before, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        return Read(db =>
        {
            using var cmd = Command(db, null, "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < @before ORDER BY time LIMIT @max)",
                ("@before", before.UtcTicks), ("@max", max));
            return cmd.ExecuteNonQuery();
        });
    }

    public string? GetSecret(string key) =>
        Read(db => Scalar(Command(db, null, "SELECT value FROM secrets WHERE key = @k", ("@k", key))) is string stored ? _keys.UnsealText(stored, StoredSecrets.Purpose(key)) : null);
}
