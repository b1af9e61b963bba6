using Microsoft.Data.Sqlite;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>The writes of one unit of work: inside one <see cref="SqliteSyncState.Batch"/> transaction.</summary>
internal sealed partial class SqliteStateWriter : IStateWriter
{
    private readonly SqliteConnection _db;
    private readonly SqliteTransaction _tx;
    private readonly Dictionary<string, SqliteCommand> _statements;
    private readonly Dictionary<string, PreparedWrite> _prepared;
    private readonly KeyRing _keys;

    internal SqliteStateWriter(SqliteConnection db, SqliteTransaction tx, Dictionary<string, SqliteCommand> statements, Dictionary<string, PreparedWrite> prepared, KeyRing keys)
    {
        _db = db;
        _tx = tx;
        _statements = statements;
        _prepared = prepared;
        _keys = keys;
    }

    /// <summary>One write, prepared once for the connection's life (<see cref="PreparedWrite"/>), in the open transaction.</summary>
    private int Exec(string sql, params (string, object?)[] args)
    {
        if (!_prepared.TryGetValue(sql, out var write)) _prepared[sql] = write = PreparedWrite.Prepare(_db, sql);
        return write.Execute(args);
    }

    /// <param name="synced">True when the engine itself wrote this state (it becomes the drift baseline).</param>
    public void PutAccount(string target, TargetAccount account, DateTimeOffset seen, bool synced = false)
    {
        var data = System.Text.Encoding.UTF8.GetString(account.Json);
        // A full read (not synced: the engine did not write it) writes back every account it finds, nearly all of them as
        // the shadow holds them already. Then only seen changes: SQLite rewrites the entries of every index whose column
        // an UPDATE sets, changed or not, so the upsert below would rewrite three random-key indexes per account for
        // nothing. The keys and active all come from data, so equal data means equal keys.
        if (!synced && Exec("UPDATE shadow_accounts SET seen = @s WHERE target = @t AND target_id = @i AND data = @d",
                ("@t", target), ("@i", account.Id), ("@d", data), ("@s", seen.UtcTicks)) == 1)
            return;
        var (externalId, email) = account.SearchKeys();
        Exec("""
            INSERT INTO shadow_accounts(target, target_id, user_name, external_id, email, active, data, synced, seen) VALUES (@t, @i, @u, @e, @m, @a, @d, @sy, @s)
            ON CONFLICT(target, target_id) DO UPDATE SET user_name = @u, external_id = @e, email = @m, active = @a, data = @d, seen = @s,
                synced = coalesce(@sy, synced)
            """, ("@t", target), ("@i", account.Id), ("@u", account.UserName),
            ("@e", externalId), ("@m", email),
            ("@a", account.Active ? 1 : 0), ("@d", data), ("@sy", synced ? data : null), ("@s", seen.UtcTicks));
    }

    /// <summary>The account as the target holds it now is what the engine wants (after linking without changes).</summary>
    public void MarkSynced(string target, string targetId) =>
        Exec("UPDATE shadow_accounts SET synced = data WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));

    public void RemoveAccount(string target, string targetId)
    {
        Exec("DELETE FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
        Exec("DELETE FROM shadow_group_members INDEXED BY ix_shadow_member WHERE target = @t AND member_id = @i", ("@t", target), ("@i", targetId));
    }

    /// <summary>After a full read: accounts not seen since <paramref name="refreshStarted"/> are gone from the target.</summary>
    public int ForgetUnseen(string target, DateTimeOffset refreshStarted) =>
        Exec("DELETE FROM shadow_accounts WHERE target = @t AND seen < @s", ("@t", target), ("@s", refreshStarted.UtcTicks));

    public void Link(string target, string targetId, string sourceId, DateTimeOffset now)
    {
        Exec("DELETE FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId));
        Exec("INSERT OR REPLACE INTO links(target, target_id, source_id, linked) VALUES (@t, @i, @s, @n)", ("@t", target), ("@i", targetId), ("@s", sourceId), ("@n", now.UtcTicks));
    }

    public void Unlink(string target, string targetId) => Exec("DELETE FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));

    public void PutGroup(string target, string targetId, string displayName, string? externalId) => Exec("""
        INSERT INTO shadow_groups(target, target_id, display_name, external_id) VALUES (@t, @i, @d, @e)
        ON CONFLICT(target, target_id) DO UPDATE SET display_name = @d, external_id = @e
        """, ("@t", target), ("@i", targetId), ("@d", displayName), ("@e", externalId));

    /// <summary>
    /// The group's members as a full read found them. Only the difference is written: a read finds nearly every group
    /// as it was, and deleting and inserting all of its members again would rewrite the member index (a random key)
    /// once per membership of the whole target.
    /// </summary>
    public void ReplaceGroupMembers(string target, string groupId, IEnumerable<string> members)
    {
        var held = new HashSet<string>(StringComparer.Ordinal);
        using (var cmd = SqliteSyncState.Prepare(_db, _statements, "SELECT member_id FROM shadow_group_members WHERE target = @t AND group_id = @g", _tx, [("@t", target), ("@g", groupId)]))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) held.Add(r.GetString(0));
        var wanted = members as IReadOnlySet<string> ?? members.ToHashSet(StringComparer.Ordinal);
        foreach (var m in held)
            if (!wanted.Contains(m)) RemoveMember(target, groupId, m);
        foreach (var m in wanted)
            if (!held.Contains(m)) AddMember(target, groupId, m);
    }

    public void ReplaceSourceGroups(IEnumerable<(string GroupId, IReadOnlyList<string> Members)> groups)
    {
        Exec("DELETE FROM source_group_members");
        foreach (var (g, members) in groups)
            foreach (var m in members) AddSourceMember(g, m);
    }

    public void AddSourceMember(string groupId, string memberId) =>
        Exec("INSERT OR IGNORE INTO source_group_members(group_id, member_id) VALUES (@g, @m)", ("@g", groupId), ("@m", memberId));

    public void RemoveSourceMember(string groupId, string memberId) =>
        Exec("DELETE FROM source_group_members WHERE group_id = @g AND member_id = @m", ("@g", groupId), ("@m", memberId));

    public void AddMember(string target, string groupId, string memberId) =>
        Exec("INSERT OR IGNORE INTO shadow_group_members(target, group_id, member_id) VALUES (@t, @g, @m)", ("@t", target), ("@g", groupId), ("@m", memberId));

    public void RemoveMember(string target, string groupId, string memberId) =>
        Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g AND member_id = @m", ("@t", target), ("@g", groupId), ("@m", memberId));

    public void ForgetGroupsExcept(string target, IReadOnlyCollection<string> keep)
    {
        var set = keep.ToHashSet(StringComparer.Ordinal);
        var gone = new List<string>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = _tx;
            cmd.CommandText = "SELECT target_id FROM shadow_groups WHERE target = @t";
            cmd.Parameters.AddWithValue("@t", target);
            using var r = cmd.ExecuteReader();
            while (r.Read()) if (!set.Contains(r.GetString(0))) gone.Add(r.GetString(0));
        }
        foreach (var g in gone)
        {
            Exec("DELETE FROM shadow_groups WHERE target = @t AND target_id = @g", ("@t", target), ("@g", g));
            Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g", ("@t", target), ("@g", g));
            Exec("DELETE FROM group_links WHERE target = @t AND target_id = @g", ("@t", target), ("@g", g));
        }
    }

    /// <summary>Forgets a group the engine deleted (or stopped managing): its shadow, members and link.</summary>
    public void RemoveGroup(string target, string targetGroupId, bool keepShadow)
    {
        if (!keepShadow)
        {
            Exec("DELETE FROM shadow_groups WHERE target = @t AND target_id = @g", ("@t", target), ("@g", targetGroupId));
            Exec("DELETE FROM shadow_group_members WHERE target = @t AND group_id = @g", ("@t", target), ("@g", targetGroupId));
        }
        Exec("DELETE FROM group_links WHERE target = @t AND target_id = @g", ("@t", target), ("@g", targetGroupId));
    }

    public void LinkGroup(string target, string targetId, string sourceId) =>
        Exec("INSERT OR REPLACE INTO group_links(target, target_id, source_id) VALUES (@t, @i, @s)", ("@t", target), ("@i", targetId), ("@s", sourceId));

    public void SetCheckpoint(string key, string? value)
    {
        if (value is null) Exec("DELETE FROM checkpoints WHERE key = @k", ("@k", key));
        else Exec("INSERT OR REPLACE INTO checkpoints(key, value) VALUES (@k, @v)", ("@k", key), ("@v", value));
    }

    /// <summary>Keeps a secret (the feed's HS256 key), sealed; null removes it. Read back with <see cref="SqliteSyncState.GetSecret"/>.</summary>
    public void SetSecret(string key, string? value)
    {
        if (value is null) Exec("DELETE FROM secrets WHERE key = @k", ("@k", key));
        else Exec("INSERT OR REPLACE INTO secrets(key, value) VALUES (@k, @v)", ("@k", key), ("@v", _keys.Seal(value, StoredSecrets.Purpose(key))));
    }

    public void Enqueue(string target, string sourceId, bool urgent, DateTimeOffset now) => Exec("""
        INSERT INTO pending(target, source_id, urgent, enqueued) VALUES (@t, @s, @u, @n)
        ON CONFLICT(target, source_id) DO UPDATE SET urgent = max(urgent, @u), changes = changes + 1
        """, ("@t", target), ("@s", sourceId), ("@u", urgent ? 1 : 0), ("@n", now.UtcTicks));

    /// <summary>Removes a key that was applied, unless a change was queued for it while that work ran.</summary>
    public void Dequeue(string target, PendingChange applied) =>
        Exec("DELETE FROM pending WHERE target = @t AND source_id = @s AND changes = @c", ("@t", target), ("@s", applied.SourceId), ("@c", applied.Changes));

    public void Audit(AuditRecord a) => Exec("""
        INSERT INTO audit(time, cause, target, verb, subject, target_id, source_id, result, status, duration_ms, detail,
                          user_name, changes, journal_position, event_time, writer, scim_type, action)
        VALUES (@time, @cause, @target, @verb, @subject, @tid, @sid, @result, @status, @dur, @detail,
                @user, @changes, @position, @etime, @writer, @stype, @action)
        """, ("@time", a.Time.UtcTicks), ("@cause", a.Cause), ("@target", a.Target), ("@verb", a.Verb), ("@subject", a.Subject),
        ("@tid", a.TargetId), ("@sid", a.SourceId), ("@result", a.Result), ("@status", a.Status), ("@dur", a.DurationMs), ("@detail", a.Detail),
        ("@user", a.UserName), ("@changes", StoredChanges.Write(a.Changes)), ("@position", a.JournalPosition), ("@etime", a.EventTime?.UtcTicks),
        ("@writer", a.Writer), ("@stype", a.ScimType), ("@action", a.Action));
}
