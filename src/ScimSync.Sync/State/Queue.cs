namespace ScimSync.Sync.State;

/// <summary>A queued key (source account id, or <c>group:</c> id) for one target.</summary>
/// <param name="Changes">
/// How many changes were queued for the key when it was taken: dequeueing with it leaves the entry in place when
/// another change arrived meanwhile (<see cref="IStateWriter.Dequeue"/>).
/// </param>
public sealed record PendingChange(string SourceId, bool Urgent, long Changes);

/// <summary>A queued key: whether it is urgent, since when it waits, and how many changes were queued for it.</summary>
public sealed record QueuedKey(string Key, bool Urgent, DateTimeOffset Since, long Changes);

/// <summary>A target's queue and guard at a glance (<see cref="IWorkQueue.Summary"/>).</summary>
/// <param name="OldestQueued">When the longest-waiting queued key was first queued (later changes to it do not move this).</param>
/// <param name="HeldSince">When the guard started holding the oldest removal it holds.</param>
public sealed record QueueSummary(int Queued, DateTimeOffset? OldestQueued, int Held, DateTimeOffset? HeldSince);

/// <summary>A removal the mass-change guard holds until a person confirms it.</summary>
/// <param name="Key">The queue key it came from: a source account id, or <c>group:</c> and a source group id.</param>
public sealed record HeldOperation(string Target, string Key, string Verb, string Subject, string? TargetId, string Reason, DateTimeOffset Since);
