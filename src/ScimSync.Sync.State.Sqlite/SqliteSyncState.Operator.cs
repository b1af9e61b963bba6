namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// What the operator commands that look at one person or one target's links ask of the state
/// (<c>sync run --user</c>, <c>sync plan --explain</c>, <c>sync confirm</c>), each one indexed query.
/// </summary>
public sealed partial class SqliteSyncState
{
    /// <summary>The account as the engine last wrote or accepted it (the drift baseline), or null when it never did.</summary>
    public byte[]? SyncedJson(string target, string targetId)
    {
        return Read(() =>
        {
            using var cmd = Command("SELECT json_remove(synced, '$.meta') FROM shadow_accounts WHERE target = @t AND target_id = @i", ("@t", target), ("@i", targetId));
            return cmd.ExecuteScalar() is string synced ? System.Text.Encoding.UTF8.GetBytes(synced) : null;
        });
    }

    /// <summary>Every link of a target, by source id: which account each source person has there.</summary>
    public IReadOnlyDictionary<string, string> LinksBySource(string target)
    {
        return Read(() => Pairs("SELECT source_id, target_id FROM links WHERE target = @t", target));
    }

    /// <summary>Whether any target holds an account linked to this source id (a person deleted at the source still has these).</summary>
    public bool IsLinkedAnywhere(string sourceId)
    {
        return Read(() =>
        {
            // Not the (target, source_id) index's first column: a scan of the links, for one operator command.
            using var cmd = Command("SELECT 1 FROM links WHERE source_id = @s LIMIT 1", ("@s", sourceId));
            return cmd.ExecuteScalar() is not null;
        });
    }
}
