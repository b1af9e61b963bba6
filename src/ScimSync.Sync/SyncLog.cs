using Microsoft.Extensions.Logging;

namespace ScimSync.Sync;

/// <summary>
/// Everything the sync engine logs, by area: event ids 3000-3699, each listed with its level and fields in
/// docs/logging.md (a test holds the two together). Fields are named the same way everywhere: Target,
/// Operation (create, update, deactivate, delete, ...), Subject (what the operation is about, as the audit
/// shows it), SourceId, TargetId, Cause (the audit's cause: run:..., event:TXN, expiry, watch), Result (ok,
/// failed, held, not tried), Reason. Timings that used to need SCIMSYNC_TRACE=1 are Debug and Trace entries.
/// </summary>
internal static partial class SyncLog
{
    // 3000-3099: full runs, plans and reconciliations (SyncEngine).

    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "source: read {Users} users and {Groups} groups in {ElapsedMs} ms")]
    public static partial void SourceRead(ILogger logger, int users, int groups, long elapsedMs);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information,
        Message = "{Target}: full run {Cause} applied {Succeeded} operations, {Failed} failed, in {ElapsedMs} ms")]
    public static partial void TargetRunDone(ILogger logger, string target, string cause, int succeeded, int failed, long elapsedMs);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "{Target}: {Cause} failed: {Reason}")]
    public static partial void TargetRunFailed(ILogger logger, string target, string cause, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning,
        Message = "{Target}: stopped by the mass-change guard: {Reason}; run again with --confirm after checking the plan")]
    public static partial void GuardStoppedRun(ILogger logger, string target, string reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "{Target}: {Count} out-of-band changes ({Summary}); policy: {Policy}")]
    public static partial void DriftFound(ILogger logger, string target, int count, string summary, string policy);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning,
        Message = "{Target}: the read did not add up ({Reason}); nothing is taken away or repaired on it this time")]
    public static partial void ReadIncomplete(ILogger logger, string target, string reason);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "{Target}: read {ReadMs} ms, planned {Operations} operations in {PlanMs} ms")]
    public static partial void TargetPlanned(ILogger logger, string target, long readMs, int operations, long planMs);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "{Target}: executed {Succeeded} ok, {Failed} failed in {ElapsedMs} ms")]
    public static partial void TargetExecuted(ILogger logger, string target, int succeeded, int failed, long elapsedMs);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Trace,
        Message = "memory after {Step}: heap {HeapMiB} MiB (last GC {LastGcMiB} MiB, fragmented {FragmentedMiB} MiB), RSS {RssMiB} MiB, peak {PeakRssMiB} MiB")]
    public static partial void Memory(ILogger logger, string step, long heapMiB, long lastGcMiB, long fragmentedMiB, long rssMiB, long peakRssMiB);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Error, Message = "periodic full comparison failed: {Reason}")]
    public static partial void PeriodicCompareFailed(ILogger logger, string reason, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "provisioning log: removed {Removed} entries older than {Cutoff} (log.keepDays {KeepDays})")]
    public static partial void LogPruned(ILogger logger, int removed, DateTimeOffset cutoff, double keepDays);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "provisioning log: pruning failed: {Reason}; trying again in an hour")]
    public static partial void LogPruneFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning,
        Message = "source: groups {Groups} contain one another (a cycle of nested groups); each is taken to hold the members of all of them, and nothing loops")]
    public static partial void GroupCycle(ILogger logger, string groups);

    // 3100-3199: watch mode's per-target queues (TargetQueueWorker).

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "{Target}: {Lane} lane: {Reason}; will retry in {RetryMs} ms")]
    public static partial void LaneFailed(ILogger logger, string target, string lane, string reason, long retryMs);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "{Target}: {Lane} lane: unexpected {Reason}; will retry in {RetryMs} ms")]
    public static partial void LaneUnexpected(ILogger logger, string target, string lane, string reason, long retryMs, Exception exception);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Debug, Message = "{Target}: {Keys} queued, state {LoadMs} ms, plan {PlanMs} ms, {Operations} operations")]
    public static partial void BatchPlanned(ILogger logger, string target, int keys, long loadMs, long planMs, int operations);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Debug, Message = "{Target}: executed {Succeeded} ok, {Failed} failed in {ElapsedMs} ms")]
    public static partial void BatchExecuted(ILogger logger, string target, int succeeded, int failed, long elapsedMs);

    // 3200-3299: target health (TargetHealth, reported by SyncEngine).

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning,
        Message = "{Target}: not answering ({Reason}); its changes stay queued and it is probed about once a second ({Queued} queued)")]
    public static partial void TargetDown(ILogger logger, string target, string reason, int queued);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information,
        Message = "{Target}: answering again after {OutageSeconds} s; {Queued} queued changes resume")]
    public static partial void TargetUp(ILogger logger, string target, double outageSeconds, int queued);

    // 3300-3399: the mass-change guard (WatchGuard).

    [LoggerMessage(EventId = 3300, Level = LogLevel.Warning,
        Message = "{Target}: the mass-change guard holds {Count} removals ({Reason}); other changes go on; `scimsync sync status` lists them; after checking, release them with `scimsync sync run --confirm`")]
    public static partial void GuardHolds(ILogger logger, string target, int count, string reason);

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information,
        Message = "{Target}: {Operation} {Subject}: {Result} by the mass-change guard ({Cause})")]
    public static partial void RemovalHeld(ILogger logger, string target, string operation, string subject, string cause, string result);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Information, Message = "{Target}: {Count} held removals released: {Reason}")]
    public static partial void HoldsReleased(ILogger logger, string target, int count, string reason);

    // 3400-3499: the source (feed, lastModified queries, HR files) and contractor expiry.

    [LoggerMessage(EventId = 3400, Level = LogLevel.Warning, Message = "source feed: {Reason}; retrying in 1 s")]
    public static partial void FeedFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 3401, Level = LogLevel.Debug, Message = "feed: {Changes} changes, poll {PollMs} ms, applied in {ApplyMs} ms")]
    public static partial void FeedBatch(ILogger logger, int changes, long pollMs, long applyMs);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Debug, Message = "feed: {Urgent} urgent of {Changes} queued {ElapsedMs} ms after the poll")]
    public static partial void FeedUrgentFirst(ILogger logger, int urgent, int changes, long elapsedMs);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Debug,
        Message = "source change {ResourceType} {SourceId}: {Change}, txn {Txn}, journal position {JournalPosition}, urgent {Urgent}")]
    public static partial void SourceChange(ILogger logger, string resourceType, string sourceId, string change, string? txn, long? journalPosition, bool urgent);

    [LoggerMessage(EventId = 3404, Level = LogLevel.Warning, Message = "source: {Reason}; retrying")]
    public static partial void LastModifiedFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 3405, Level = LogLevel.Information, Message = "{Path}: {Changed} accounts and groups changed since the previous import")]
    public static partial void FileImported(ILogger logger, string path, int changed);

    [LoggerMessage(EventId = 3406, Level = LogLevel.Warning, Message = "{Path}: {Reason}; keeping the previous import")]
    public static partial void FileRejected(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 3407, Level = LogLevel.Information,
        Message = "{SourceId} ({Subject}): end date {EndDate} passed; queued, urgent, for every target ({Cause})")]
    public static partial void Expired(ILogger logger, string sourceId, string subject, DateTimeOffset endDate, string cause);

    [LoggerMessage(EventId = 3408, Level = LogLevel.Warning, Message = "expiry: {Reason}; retrying")]
    public static partial void ExpiryFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 3409, Level = LogLevel.Warning,
        Message = "source feed: SET {Jti} refused ({Err}): {Reason}; reported to the source as an error, the feed goes on")]
    public static partial void SetRefused(ILogger logger, string jti, string err, string reason);

    // 3500-3599: operations on targets (TargetExecutor).

    /// <summary>Information in watch mode (each change as it is applied), Debug in full runs (an initial load is 100,000 of them).</summary>
    [LoggerMessage(EventId = 3500,
        Message = "{Target}: {Operation} {Subject} (target id {TargetId}, source id {SourceId}): {Result} in {DurationMs} ms ({Cause})")]
    public static partial void OperationApplied(ILogger logger, LogLevel level, string target, string operation, string subject,
        string? targetId, string? sourceId, string cause, string result, long durationMs);

    [LoggerMessage(EventId = 3501, Level = LogLevel.Warning,
        Message = "{Target}: {Operation} {Subject} (target id {TargetId}, source id {SourceId}): {Result} after {DurationMs} ms, {Status} {Reason} ({Cause})")]
    public static partial void OperationFailed(ILogger logger, string target, string operation, string subject,
        string? targetId, string? sourceId, string cause, string result, int? status, string reason, long durationMs);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Warning,
        Message = "{Target}: {Count} operations {Result}: the target stopped answering ({Reason}); they stay queued")]
    public static partial void OperationsNotTried(ILogger logger, string target, int count, string result, string? reason);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Warning,
        Message = "{Target}: a Bulk request of {Count} operations ({Bytes} bytes) failed as a whole: {Status} {Reason}; its operations are sent again in smaller requests or one by one")]
    public static partial void BulkFailed(ILogger logger, string target, int count, int bytes, int status, string reason);

    // 3600-3609: targets divided between engine processes by leases (TargetOwnership).

    [LoggerMessage(EventId = 3600, Level = LogLevel.Information,
        Message = "{Target}: this engine ({Instance}) holds the target's lease and works on it (share {Share} per engine, {LiveEngines} live)")]
    public static partial void LeaseTaken(ILogger logger, string target, string instance, int share, int liveEngines);

    [LoggerMessage(EventId = 3601, Level = LogLevel.Warning,
        Message = "{Target}: this engine ({Instance}) lost the target's lease; its work on the target stopped")]
    public static partial void LeaseLost(ILogger logger, string target, string instance);

    [LoggerMessage(EventId = 3602, Level = LogLevel.Information,
        Message = "{Target}: this engine ({Instance}) gave the target up for another engine (share {Share} per engine, {LiveEngines} live)")]
    public static partial void LeaseGivenUp(ILogger logger, string target, string instance, int share, int liveEngines);

    [LoggerMessage(EventId = 3603, Level = LogLevel.Warning,
        Message = "engine {Instance}: the leases could not be renewed: {Reason}; its targets stop if this lasts")]
    public static partial void LeaseRenewFailed(ILogger logger, string instance, string reason);

    [LoggerMessage(EventId = 3604, Level = LogLevel.Information,
        Message = "{Target}: this engine ({Instance}) handed the target over to a command that asked for it; its work on the target stopped, and it takes the target again once the command is done")]
    public static partial void LeaseHandedOver(ILogger logger, string target, string instance);

    [LoggerMessage(EventId = 3605, Level = LogLevel.Information,
        Message = "{Target}: {Holder} holds the target's lease for its job (held before by {Previous})")]
    public static partial void ClaimTaken(ILogger logger, string target, string holder, string previous);

    [LoggerMessage(EventId = 3606, Level = LogLevel.Error,
        Message = "{Holder}: {Reason}; its work stops at once (an engine taking the target finds what was applied by its full pass)")]
    public static partial void ClaimLost(ILogger logger, string holder, string reason);

    [LoggerMessage(EventId = 3700, Level = LogLevel.Warning,
        Message = "{Target}: a password set at the source for {SourceId} was not set here: {Reason} (delivery {Delivery})")]
    public static partial void PasswordNotSet(ILogger logger, string target, string sourceId, string reason, string delivery);

    [LoggerMessage(EventId = 3701, Level = LogLevel.Warning, Message = "passwords: asking the source for passwords failed: {Reason}; retrying in 1 s")]
    public static partial void PasswordPollFailed(ILogger logger, string reason);
}
