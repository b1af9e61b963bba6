using System.Text.Json.Nodes;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// One person's part of the state, for `sync user`: their account on a target, its groups, their queued and
/// held work. Point reads by key; nothing here loads a whole target.
/// </summary>
public sealed partial class SqliteSyncState
{
    public ShadowAccount? Account(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT user_name, active, data, synced, seen FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            using var r = cmd.ExecuteReader();
            if (!r.Read()) return null;
            return new ShadowAccount(target, targetId, r.GetString(0), r.GetInt64(1) != 0, JsonNode.Parse(r.GetString(2))!.AsObject(),
                r.IsDBNull(3) ? null : JsonNode.Parse(r.GetString(3))!.AsObject(), Time(r.GetInt64(4)));
        });
    }

    /// <summary>The account as the shadow last saw it, or null: the "before" of an operation's changes.</summary>
    public JsonObject? AccountData(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT data FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            return cmd.ExecuteScalar() is string data ? JsonNode.Parse(data)!.AsObject() : null;
        });
    }

    /// <summary>Target accounts with this userName (case-insensitive), linked or not.</summary>
    public IReadOnlyList<string> AccountsNamed(string target, string userName)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT target_id FROM shadow_accounts INDEXED BY ix_shadow_user WHERE target = @t AND user_name = @u COLLATE NOCASE", ("@t", target), ("@u", userName));
            using var r = cmd.ExecuteReader();
            var ids = new List<string>();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        });
    }

    public IReadOnlyList<ShadowMembership> GroupsOf(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("""
                SELECT g.target_id, g.display_name, l.source_id FROM shadow_group_members m INDEXED BY ix_shadow_member
                JOIN shadow_groups g ON g.target = m.target AND g.target_id = m.group_id
                LEFT JOIN group_links l ON l.target = g.target AND l.target_id = g.target_id
                WHERE m.target = @t AND m.member_id = @m ORDER BY g.display_name
                """, ("@t", target), ("@m", targetId));
            using var r = cmd.ExecuteReader();
            var list = new List<ShadowMembership>();
            while (r.Read()) list.Add(new ShadowMembership(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)));
            return list;
        });
    }

    /// <summary>The queue entry of one key on a target, if it is queued.</summary>
    public QueuedKey? Queued(string target, string key)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT urgent, enqueued, changes FROM pending WHERE target = @t AND source_id = @k", ("@t", target), ("@k", key));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new QueuedKey(key, r.GetInt64(0) != 0, Time(r.GetInt64(1)), r.GetInt64(2)) : null;
        });
    }

    /// <summary>The removal the guard holds for one key on a target, if any.</summary>
    public HeldOperation? Held(string target, string key)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT verb, subject, target_id, reason, since FROM holds WHERE target = @t AND key = @k", ("@t", target), ("@k", key));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new HeldOperation(target, key, r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3), Time(r.GetInt64(4))) : null;
        });
    }
}
