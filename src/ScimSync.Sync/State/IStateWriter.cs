using ScimSync.Sync.Planning;

namespace ScimSync.Sync.State;

/// <summary>
/// The writes of one unit of work (<see cref="ISyncState.Batch"/>, <see cref="ISyncState.WriteAsync"/>): all of
/// them commit together, or none. Valid only inside the work it was handed to.
/// </summary>
public interface IStateWriter
{
    /// <param name="synced">True when the engine itself wrote this state (it becomes the drift baseline); otherwise the baseline is kept.</param>
    void PutAccount(string target, TargetAccount account, DateTimeOffset seen, bool synced = false);

    /// <summary>The account as the target holds it now is what the engine wants (after linking without changes).</summary>
    void MarkSynced(string target, string targetId);

    /// <summary>Forgets an account and its memberships in the target's groups (its link stays: see <see cref="Unlink"/>).</summary>
    void RemoveAccount(string target, string targetId);

    /// <summary>After a full read: accounts not seen since <paramref name="refreshStarted"/> are gone from the target. Returns how many.</summary>
    int ForgetUnseen(string target, DateTimeOffset refreshStarted);

    /// <summary>Links a target account to a source account; a source account has at most one account per target, so an older link of it goes.</summary>
    void Link(string target, string targetId, string sourceId, DateTimeOffset now);

    void Unlink(string target, string targetId);

    void PutGroup(string target, string targetId, string displayName, string? externalId);

    void ReplaceGroupMembers(string target, string groupId, IEnumerable<string> members);

    void AddMember(string target, string groupId, string memberId);

    void RemoveMember(string target, string groupId, string memberId);

    /// <summary>After a full read of the groups: the others are gone from the target, with their members and links.</summary>
    void ForgetGroupsExcept(string target, IReadOnlyCollection<string> keep);

    /// <summary>Forgets a group the engine deleted (or stopped managing, <paramref name="keepShadow"/>): its shadow, members and link.</summary>
    void RemoveGroup(string target, string targetGroupId, bool keepShadow);

    void LinkGroup(string target, string targetId, string sourceId);

    /// <summary>The source's group memberships, whole (<see cref="IShadowReads.SourceGroupMembers"/>).</summary>
    void ReplaceSourceGroups(IEnumerable<(string GroupId, IReadOnlyList<string> Members)> groups);

    void AddSourceMember(string groupId, string memberId);

    void RemoveSourceMember(string groupId, string memberId);

    /// <summary>Null removes the checkpoint.</summary>
    void SetCheckpoint(string key, string? value);

    /// <summary>Keeps a secret (the feed's HS256 key), sealed; null removes it. Read back with <see cref="IStateSecrets.GetSecret"/>.</summary>
    void SetSecret(string key, string? value);

    /// <summary>Queues a key; queued again, it stays where it was in line, becomes urgent if this change is, and counts one more change.</summary>
    void Enqueue(string target, string sourceId, bool urgent, DateTimeOffset now);

    /// <summary>Removes a key that was applied, unless a change was queued for it while that work ran.</summary>
    void Dequeue(string target, PendingChange applied);

    void Audit(AuditRecord entry);

    void RecordRead(TargetReadRecord read);

    /// <summary>Holds a removal; a key already held keeps the time it was first held.</summary>
    void Hold(HeldOperation held);

    void ReleaseHold(string target, string key);

    void ReleaseHolds(string target);
}
