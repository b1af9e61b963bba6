using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>Each target's queue, the removals its mass-change guard holds, and how its last full read went.</summary>
public sealed partial class SqliteSyncState
{
    /// <summary>
    /// The next queued keys, urgent first, then oldest first. <c>Changes</c> counts the changes queued for
    /// the key so far: dequeueing with it leaves the entry in place when another change arrived meanwhile.
    /// </summary>
    public IReadOnlyList<PendingChange> Pending(string target, int max, bool urgentOnly = false)
    {
        return Read(() =>
        {
            using var cmd = Command(urgentOnly
                ? "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t AND urgent = 1 ORDER BY urgent DESC, enqueued LIMIT @m"
                : "SELECT source_id, urgent, changes FROM pending INDEXED BY ix_pending_order WHERE target = @t ORDER BY urgent DESC, enqueued LIMIT @m", ("@t", target), ("@m", max));
            using var r = cmd.ExecuteReader();
            var list = new List<PendingChange>();
            while (r.Read()) list.Add(new PendingChange(r.GetString(0), r.GetInt64(1) != 0, r.GetInt64(2)));
            return list;
        });
    }

    public TargetReadRecord? LastRead(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT at, accounts, complete, problems, complete_at, complete_accounts FROM target_reads WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            if (!r.Read()) return null;
            return new TargetReadRecord(target, Time(r.GetInt64(0)), r.GetInt32(1), r.GetInt64(2) != 0, r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : Time(r.GetInt64(4)), r.IsDBNull(5) ? null : r.GetInt32(5));
        });
    }

    /// <summary>Managed accounts and groups on the whole target: the links in the shadow.</summary>
    public (int Accounts, int Groups) ManagedCounts(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("""
                SELECT (SELECT count(*) FROM links WHERE target = @t), (SELECT count(*) FROM group_links WHERE target = @t)
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt32(0), r.GetInt32(1));
        });
    }

    /// <summary>Source accounts queued as urgent for a target that have an account there (the removals that may be coming).</summary>
    public IReadOnlyList<string> PendingUrgentLinked(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("""
                SELECT p.source_id FROM pending p INDEXED BY ix_pending_order
                JOIN links l INDEXED BY ix_links_source ON l.target = p.target AND l.source_id = p.source_id
                WHERE p.target = @t AND p.urgent = 1
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            var ids = new List<string>();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        });
    }

    public IReadOnlyList<HeldOperation> Holds(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT key, verb, subject, target_id, reason, since FROM holds WHERE target = @t ORDER BY since, key", ("@t", target));
            using var r = cmd.ExecuteReader();
            var list = new List<HeldOperation>();
            while (r.Read())
                list.Add(new HeldOperation(target, r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4), Time(r.GetInt64(5))));
            return list;
        });
    }

    public int HeldCount(string target)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT count(*) FROM holds WHERE target = @t", ("@t", target));
            return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        });
    }

    /// <summary>
    /// What health and metrics ask about a target many times a minute, in one cheap query (index seeks):
    /// queued keys and when the oldest of them was first queued, held removals and since when.
    /// </summary>
    public QueueSummary Summary(string target)
    {
        return Read(() =>
        {
            // min(enqueued) per urgency: each is one seek on ix_pending_order, where a plain min() would scan.
            using var cmd = Command("""
                SELECT (SELECT count(*) FROM pending WHERE target = @t),
                       (SELECT min(enqueued) FROM pending WHERE target = @t AND urgent = 1),
                       (SELECT min(enqueued) FROM pending WHERE target = @t AND urgent = 0),
                       (SELECT count(*) FROM holds WHERE target = @t), (SELECT min(since) FROM holds WHERE target = @t)
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            r.Read();
            long? urgent = r.IsDBNull(1) ? null : r.GetInt64(1), routine = r.IsDBNull(2) ? null : r.GetInt64(2);
            long? oldest = urgent is null ? routine : routine is null ? urgent : Math.Min(urgent.Value, routine.Value);
            return new QueueSummary(r.GetInt32(0), oldest is { } o ? Time(o) : null, r.GetInt32(3), r.IsDBNull(4) ? null : Time(r.GetInt64(4)));
        });
    }

    private static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);
}

internal sealed partial class SqliteStateWriter
{
    public void RecordRead(TargetReadRecord read) => Exec("""
        INSERT INTO target_reads(target, at, accounts, complete, problems, complete_at, complete_accounts)
        VALUES (@t, @at, @n, @c, @p, @cat, @cn)
        ON CONFLICT(target) DO UPDATE SET at = @at, accounts = @n, complete = @c, problems = @p, complete_at = @cat, complete_accounts = @cn
        """, ("@t", read.Target), ("@at", read.At.UtcTicks), ("@n", read.Accounts), ("@c", read.Complete ? 1 : 0), ("@p", read.Problems),
        ("@cat", read.LastCompleteAt?.UtcTicks), ("@cn", read.LastCompleteAccounts));

    /// <summary>Holds a removal; a key already held keeps the time it was first held.</summary>
    public void Hold(HeldOperation held) => Exec("""
        INSERT INTO holds(target, key, verb, subject, target_id, reason, since) VALUES (@t, @k, @v, @s, @i, @r, @at)
        ON CONFLICT(target, key) DO UPDATE SET verb = @v, subject = @s, target_id = @i, reason = @r
        """, ("@t", held.Target), ("@k", held.Key), ("@v", held.Verb), ("@s", held.Subject), ("@i", held.TargetId), ("@r", held.Reason), ("@at", held.Since.UtcTicks));

    public void ReleaseHold(string target, string key) => Exec("DELETE FROM holds WHERE target = @t AND key = @k", ("@t", target), ("@k", key));

    public void ReleaseHolds(string target) => Exec("DELETE FROM holds WHERE target = @t", ("@t", target));
}
