using Npgsql;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>The writes of one unit of work: inside one <see cref="PostgresSyncState.Batch"/> transaction.</summary>
internal sealed class PostgresStateWriter(NpgsqlConnection db, NpgsqlTransaction tx, KeyRing keys) : IStateWriter
{
    private int Exec(string sql, params (string, object?)[] args)
    {
        using var cmd = PostgresSyncState.Command(db, tx, sql, args);
        return cmd.ExecuteNonQuery();
    }

    public void PutAccount(string target, TargetAccount account, DateTimeOffset seen, bool synced = false)
    {
        var data = System.Text.Encoding.UTF8.GetString(account.Json);
        var (externalId, email) = account.SearchKeys();
        Exec("""
            INSERT INTO shadow_accounts(target, target_id, user_name, external_id, email, active, data, synced, seen) VALUES (@t, @i, @u, @e, @m, @a, @d, @sy, @s)
            ON CONFLICT (target, target_id) DO UPDATE SET user_name = excluded.user_name, external_id = excluded.external_id, email = excluded.email,
                active = excluded.active, data = excluded.data, seen = excluded.seen, synced = coalesce(excluded.synced, shadow_accounts.synced)
            """, ("@t", target), ("@i", account.Id), ("@u", account.UserName), ("@e", externalId), ("@m", email),
            ("@a", account.Active), ("@d", data), ("@sy", synced ? data : null), ("@s", seen.UtcTicks));
    }

    /// <summary>A missing number: untyped, so PostgreSQL takes the column's type (a plain null is sent as text).</summary>
    private static object Maybe(long? value) => value is { } v ? v : DBNull.Value;

    private static object Maybe(int? value) => value is { } v ? v : DBNull.Value;

    public void MarkSynced(string target, string targetId) =>
        Exec("UPDATE shadow_accounts SET synced = data WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));

    public void RemoveAccount(string target, string targetId)
    {
        Exec("DELETE FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
        Exec("DELETE FROM shadow_group_members WHERE target = @t AND member_id = @i", ("@t", target), ("@i", targetId));
    }

    public int ForgetUnseen(string target, DateTimeOffset refreshStarted) =>
        Exec("DELETE FROM shadow_accounts WHERE target = @t AND seen < @s", ("@t", target), ("@s", refreshStarted.UtcTicks));

    public void Link(string target, string targetId, string sourceId, DateTimeOffset now)
    {
        // A source account has one account per target: its older link goes.
        Exec("DELETE FROM links WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId));
        Exec("""
            INSERT INTO links(target, target_id, source_id, linked) VALUES (@t, @i, @s, @n)
            ON CONFLICT (target, target_id) DO UPDATE SET source_id = excluded.source_id, linked = excluded.linked
            """, ("@t", target), ("@i", targetId), ("@s", sourceId), ("@n", now.UtcTicks));
    }

    public void Unlink(string target, string targetId) => Exec("DELETE FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));

    public void PutGroup(string target, string targetId, string displayName, string? externalId) => Exec("""
        INSERT INTO shadow_groups(target, target_id, display_name, external_id) VALUES (@t, @i, @d, @e)
        ON CONFLICT (target, target_id) DO UPDATE SET display_name = excluded.display_name, external_id = excluded.external_id
        """, ("@t", target), ("@i", targetId), ("@d", displayName), ("@e", externalId));

    public void ReplaceGroupMembers(string target, string groupId, IEnumerable<string> members)
    {
        Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g", ("@t", target), ("@g", groupId));
        Exec("INSERT INTO shadow_group_members(target, group_id, member_id) SELECT @t, @g, m FROM unnest(@m) AS m ON CONFLICT DO NOTHING",
            ("@t", target), ("@g", groupId), ("@m", members.ToArray()));
    }

    public void ReplaceSourceGroups(IEnumerable<(string GroupId, IReadOnlyList<string> Members)> groups)
    {
        Exec("DELETE FROM source_group_members");
        var rows = groups.SelectMany(g => g.Members.Select(m => (g.GroupId, m))).ToArray();
        Exec("INSERT INTO source_group_members(group_id, member_id) SELECT * FROM unnest(@g, @m) ON CONFLICT DO NOTHING",
            ("@g", rows.Select(r => r.GroupId).ToArray()), ("@m", rows.Select(r => r.m).ToArray()));
    }

    public void AddSourceMember(string groupId, string memberId) =>
        Exec("INSERT INTO source_group_members(group_id, member_id) VALUES (@g, @m) ON CONFLICT DO NOTHING", ("@g", groupId), ("@m", memberId));

    public void RemoveSourceMember(string groupId, string memberId) =>
        Exec("DELETE FROM source_group_members WHERE group_id = @g AND member_id = @m", ("@g", groupId), ("@m", memberId));

    public void AddMember(string target, string groupId, string memberId) =>
        Exec("INSERT INTO shadow_group_members(target, group_id, member_id) VALUES (@t, @g, @m) ON CONFLICT DO NOTHING", ("@t", target), ("@g", groupId), ("@m", memberId));

    public void RemoveMember(string target, string groupId, string memberId) =>
        Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g AND member_id = @m", ("@t", target), ("@g", groupId), ("@m", memberId));

    public void ForgetGroupsExcept(string target, IReadOnlyCollection<string> keep)
    {
        var kept = keep.ToArray();
        Exec("DELETE FROM shadow_group_members WHERE target = @t AND NOT (group_id = ANY(@k))", ("@t", target), ("@k", kept));
        Exec("DELETE FROM group_links WHERE target = @t AND NOT (target_id = ANY(@k))", ("@t", target), ("@k", kept));
        Exec("DELETE FROM shadow_groups WHERE target = @t AND NOT (target_id = ANY(@k))", ("@t", target), ("@k", kept));
    }

    public void RemoveGroup(string target, string targetGroupId, bool keepShadow)
    {
        if (!keepShadow)
        {
            Exec("DELETE FROM shadow_groups WHERE target = @t AND target_id = @g", ("@t", target), ("@g", targetGroupId));
            Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g", ("@t", target), ("@g", targetGroupId));
        }
        Exec("DELETE FROM group_links WHERE target = @t AND target_id = @g", ("@t", target), ("@g", targetGroupId));
    }

    public void LinkGroup(string target, string targetId, string sourceId) => Exec("""
        INSERT INTO group_links(target, target_id, source_id) VALUES (@t, @i, @s)
        ON CONFLICT (target, target_id) DO UPDATE SET source_id = excluded.source_id
        """, ("@t", target), ("@i", targetId), ("@s", sourceId));

    public void SetCheckpoint(string key, string? value)
    {
        if (value is null) Exec("DELETE FROM checkpoints WHERE key = @k", ("@k", key));
        else Exec("INSERT INTO checkpoints(key, value) VALUES (@k, @v) ON CONFLICT (key) DO UPDATE SET value = excluded.value", ("@k", key), ("@v", value));
    }

    public void SetSecret(string key, string? value)
    {
        if (value is null) Exec("DELETE FROM secrets WHERE key = @k", ("@k", key));
        else Exec("INSERT INTO secrets(key, value) VALUES (@k, @v) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("@k", key), ("@v", keys.Seal(value, StoredSecrets.Purpose(key))));
    }

    /// <summary>Every sealed secret, locked for this transaction: key rotation re-seals them (<see cref="PostgresSyncState.ResealSecrets"/>).</summary>
    internal List<(string Key, string Value)> SecretsForReseal()
    {
        using var cmd = PostgresSyncState.Command(db, tx, "SELECT key, value FROM secrets FOR UPDATE");
        using var r = cmd.ExecuteReader();
        var rows = new List<(string, string)>();
        while (r.Read()) rows.Add((r.GetString(0), r.GetString(1)));
        return rows;
    }

    public void Enqueue(string target, string sourceId, bool urgent, DateTimeOffset now) => Exec("""
        INSERT INTO pending(target, source_id, urgent, enqueued) VALUES (@t, @s, @u, @n)
        ON CONFLICT (target, source_id) DO UPDATE SET urgent = pending.urgent OR excluded.urgent, changes = pending.changes + 1
        """, ("@t", target), ("@s", sourceId), ("@u", urgent), ("@n", now.UtcTicks));

    public void Dequeue(string target, PendingChange applied) =>
        Exec("DELETE FROM pending WHERE target = @t AND source_id = @s AND changes = @c", ("@t", target), ("@s", applied.SourceId), ("@c", applied.Changes));

    public void Audit(AuditRecord a) => Exec("""
        INSERT INTO audit(time, cause, target, verb, subject, target_id, source_id, result, status, duration_ms, detail,
                          user_name, changes, journal_position, event_time, writer, scim_type, action)
        VALUES (@time, @cause, @target, @verb, @subject, @tid, @sid, @result, @status, @dur, @detail,
                @user, @changes, @position, @etime, @writer, @stype, @action)
        """, ("@time", a.Time.UtcTicks), ("@cause", a.Cause), ("@target", a.Target), ("@verb", a.Verb), ("@subject", a.Subject),
        ("@tid", a.TargetId), ("@sid", a.SourceId), ("@result", a.Result), ("@status", Maybe(a.Status)),
        ("@dur", a.DurationMs), ("@detail", a.Detail), ("@user", a.UserName), ("@changes", StoredChanges.Write(a.Changes)),
        ("@position", Maybe(a.JournalPosition)), ("@etime", Maybe(a.EventTime?.UtcTicks)),
        ("@writer", a.Writer), ("@stype", a.ScimType), ("@action", a.Action));

    public void RecordRead(TargetReadRecord read) => Exec("""
        INSERT INTO target_reads(target, at, accounts, complete, problems, complete_at, complete_accounts)
        VALUES (@t, @at, @n, @c, @p, @cat, @cn)
        ON CONFLICT (target) DO UPDATE SET at = excluded.at, accounts = excluded.accounts, complete = excluded.complete, problems = excluded.problems,
            complete_at = excluded.complete_at, complete_accounts = excluded.complete_accounts
        """, ("@t", read.Target), ("@at", read.At.UtcTicks), ("@n", read.Accounts), ("@c", read.Complete), ("@p", read.Problems),
        ("@cat", Maybe(read.LastCompleteAt?.UtcTicks)), ("@cn", Maybe(read.LastCompleteAccounts)));

    public void Hold(HeldOperation held) => Exec("""
        INSERT INTO holds(target, key, verb, subject, target_id, reason, since) VALUES (@t, @k, @v, @s, @i, @r, @at)
        ON CONFLICT (target, key) DO UPDATE SET verb = excluded.verb, subject = excluded.subject, target_id = excluded.target_id, reason = excluded.reason
        """, ("@t", held.Target), ("@k", held.Key), ("@v", held.Verb), ("@s", held.Subject), ("@i", held.TargetId), ("@r", held.Reason), ("@at", held.Since.UtcTicks));

    public void ReleaseHold(string target, string key) => Exec("DELETE FROM holds WHERE target = @t AND key = @k", ("@t", target), ("@k", key));

    public void ReleaseHolds(string target) => Exec("DELETE FROM holds WHERE target = @t", ("@t", target));
}
