using Microsoft.Data.Sqlite;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// The shadows of the targets and the links, read back: a whole target for a full run, or the few accounts an
/// incremental change concerns, each by index.
/// </summary>
public sealed partial class SqliteSyncState
{
    /// <summary>Everything the engine knows about a target, for planning without calling it.</summary>
    public TargetState LoadState(string target)
    {
        return Read(() =>
        {
            // A whole target in memory (reconciliation of 100,000 accounts within 500 MB): the target's meta
            // (location, timestamps, version) plays no part in planning or drift and is left in the file, and a
            // linked account's id is one string shared by the account and its link.
            var links = Pairs("SELECT target_id, source_id FROM links WHERE target = @t", target);
            var linkIds = links.Keys.ToHashSet(StringComparer.Ordinal);
            var accounts = new List<TargetAccount>();
            using (var cmd = Command("SELECT target_id, json_remove(data, '$.meta'), json_remove(synced, '$.meta') FROM shadow_accounts WHERE target = @t", ("@t", target)))
            using (var r = cmd.ExecuteReader())
                while (r.Read())
                {
                    var data = r.GetString(1);
                    // Usually the synced copy is the data itself: one array serves both.
                    var bytes = System.Text.Encoding.UTF8.GetBytes(data);
                    var synced = r.IsDBNull(2) ? null : r.GetString(2) is var sy && sy == data ? bytes : System.Text.Encoding.UTF8.GetBytes(sy);
                    var id = r.GetString(0);
                    accounts.Add(new TargetAccount(linkIds.TryGetValue(id, out var shared) ? shared : id, bytes, synced));
                }
            return new TargetState(accounts, LoadGroups(target), links, Pairs("SELECT target_id, source_id FROM group_links WHERE target = @t", target));
        });
    }

    /// <summary>
    /// The part of a target's state that concerns some source accounts: their linked accounts, and unlinked
    /// accounts that share a user name or externalId with them (so incremental work never creates a duplicate).
    /// </summary>
    public TargetState LoadStateFor(string target, IReadOnlyCollection<string> sourceIds, IReadOnlyCollection<string> userNames, IReadOnlyCollection<string> externalIds)
    {
        return Read(() =>
        {
            var links = new Dictionary<string, string>(StringComparer.Ordinal);
            var accounts = new Dictionary<string, TargetAccount>(StringComparer.Ordinal);
            foreach (var sid in sourceIds)
                using (var cmd = Command("SELECT target_id FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sid)))
                using (var r = cmd.ExecuteReader())
                    while (r.Read()) links[r.GetString(0)] = sid;
            void Add(string sql, string value)
            {
                using var cmd = Command(sql, ("@t", target), ("@v", value));
                using var r = cmd.ExecuteReader();
                while (r.Read()) accounts[r.GetString(0)] = new TargetAccount(r.GetString(0), Utf8(r, 1));
            }
            foreach (var id in links.Keys) Add("SELECT target_id, data FROM shadow_accounts WHERE target = @t AND target_id = @v", id);
            // INDEXED BY: without statistics SQLite prefers scanning the (target, target_id) primary key.
            foreach (var u in userNames) Add("SELECT target_id, data FROM shadow_accounts INDEXED BY ix_shadow_user WHERE target = @t AND user_name = @v COLLATE NOCASE", u);
            foreach (var e in externalIds) Add("SELECT target_id, data FROM shadow_accounts INDEXED BY ix_shadow_external WHERE target = @t AND external_id = @v", e);
            // Unlinked accounts found by name may be linked to someone else: the planner must know.
            foreach (var id in accounts.Keys.Where(k => !links.ContainsKey(k)).ToArray())
                using (var cmd = Command("SELECT source_id FROM links WHERE target = @t AND target_id = @v", ("@t", target), ("@v", id)))
                    if (cmd.ExecuteScalar() is string other) links[id] = other;
            // Only the memberships of the accounts concerned: a large group's other members are never loaded.
            // The managed total is the whole target's, so the guard measures a batch against the application.
            using var count = Command("SELECT count(*) FROM links WHERE target = @t", ("@t", target));
            var managed = Convert.ToInt32(count.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            // Besides the accounts concerned, the managed groups as members of groups: nested groups are few, and the
            // planner needs them to add or remove a nested group without reading every member.
            var groupLinks = Pairs("SELECT target_id, source_id FROM group_links WHERE target = @t", target);
            return new TargetState(accounts.Values.ToArray(), LoadGroups(target, [.. links.Keys, .. groupLinks.Keys]), links, groupLinks) { ManagedAccounts = managed };
        });
    }

    private static byte[] Utf8(SqliteDataReader r, int column) => System.Text.Encoding.UTF8.GetBytes(r.GetString(column));

    private List<TargetGroup> LoadGroups(string target, IReadOnlyCollection<string>? onlyMembers = null)
    {
        var members = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Read(SqliteCommand cmd)
        {
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                if (!members.TryGetValue(r.GetString(0), out var list)) members[r.GetString(0)] = list = [];
                list.Add(r.GetString(1));
            }
        }
        if (onlyMembers is null)
            using (var cmd = Command("SELECT group_id, member_id FROM shadow_group_members WHERE target = @t", ("@t", target))) Read(cmd);
        else
            foreach (var m in onlyMembers)
                using (var cmd = Command("SELECT group_id, member_id FROM shadow_group_members INDEXED BY ix_shadow_member WHERE target = @t AND member_id = @m", ("@t", target), ("@m", m))) Read(cmd);
        var groups = new List<TargetGroup>();
        using (var cmd = Command("SELECT target_id, display_name, external_id FROM shadow_groups WHERE target = @t", ("@t", target)))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                groups.Add(new TargetGroup(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), members.GetValueOrDefault(r.GetString(0)) ?? []));
        return groups;
    }

    private Dictionary<string, string> Pairs(string sql, string target)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cmd = Command(sql, ("@t", target));
        using var r = cmd.ExecuteReader();
        while (r.Read()) map[r.GetString(0)] = r.GetString(1);
        return map;
    }

    /// <summary>The target account linked to a source account, if any.</summary>
    public string? TargetIdOf(string target, string sourceId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT target_id FROM links INDEXED BY ix_links_source WHERE target = @t AND source_id = @s", ("@t", target), ("@s", sourceId));
            return cmd.ExecuteScalar() as string;
        });
    }

    /// <summary>The source account a target account is linked to, if any.</summary>
    public string? OwnerOf(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            return cmd.ExecuteScalar() as string;
        });
    }

    /// <summary>Ids and user names of a target's cached accounts (what reconciliation compares a fresh read with).</summary>
    public IReadOnlyDictionary<string, string> AccountNames(string target)
    {
        return Read(() =>
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT target_id, user_name FROM shadow_accounts WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) map[r.GetString(0)] = r.GetString(1);
            return map;
        });
    }

    /// <summary>The source accounts that own an account on the target.</summary>
    public HashSet<string> LinkedSources(string target)
    {
        return Read(() =>
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT source_id FROM links WHERE target = @t", ("@t", target));
            using var r = cmd.ExecuteReader();
            while (r.Read()) ids.Add(r.GetString(0));
            return ids;
        });
    }

    /// <summary>
    /// The source's group memberships as of the work the engine last queued or did: a resumed engine
    /// compares them with a fresh read, since replayed group events find its copy already up to date and
    /// could not tell who joined or left.
    /// </summary>
    public Dictionary<string, HashSet<string>> SourceGroupMembers()
    {
        return Read(() =>
        {
            var groups = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            using var cmd = Command("SELECT group_id, member_id FROM source_group_members");
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var g = r.GetString(0);
                if (!groups.TryGetValue(g, out var set)) groups[g] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(r.GetString(1));
            }
            return groups;
        });
    }

    public (int Accounts, int Links, int Groups, int Pending) Counts(string target)
    {
        // The accounts are counted in the userName index: the table itself holds every document, and counting it read
        // them all (a second at 100,000 accounts on a busy machine), for the overview every few seconds.
        return Read(() =>
        {
            using var cmd = Command("""
                SELECT (SELECT count(*) FROM shadow_accounts INDEXED BY ix_shadow_user WHERE target = @t), (SELECT count(*) FROM links WHERE target = @t),
                       (SELECT count(*) FROM shadow_groups WHERE target = @t), (SELECT count(*) FROM pending WHERE target = @t)
                """, ("@t", target));
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3));
        });
    }
}
