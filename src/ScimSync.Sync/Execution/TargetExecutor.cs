using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ScimSync.Client;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Execution;

/// <param name="FailedSources">
/// Source accounts or groups whose operations failed or were not started because the engine is stopping
/// (incremental work keeps them queued).
/// </param>
/// <param name="NotAttempted">Operations not tried because the target had stopped answering (counted in <paramref name="Failed"/>, not audited).</param>
/// <param name="Stopped">
/// Operations not started because the engine was asked to stop (SIGTERM): neither applied nor failed, not
/// audited; the next run or watch plans them again.
/// </param>
public sealed record ExecutionReport(string Target, int Succeeded, int Failed, IReadOnlyList<string> Errors, TimeSpan Elapsed, IReadOnlySet<string> FailedSources, int NotAttempted = 0, int Stopped = 0)
{
    public static ExecutionReport Empty(string target) => new(target, 0, 0, [], TimeSpan.Zero, new HashSet<string>());
}

/// <summary>Progress of a long run, for the terminal: done of total operations on one target.</summary>
public sealed record SyncProgress(string Target, string Phase, long Done, long Total);

/// <summary>
/// Applies a plan to one target with bounded concurrency: links first, then accounts, then groups (whose
/// members may have just been created). Every operation is audited with its cause and what it changed (the
/// provisioning log: old → new per attribute, the target's answer and what to do on failure); the shadow follows
/// each success, so a crash mid-run loses at most the operations in flight, which the next run finds
/// again by correlation instead of creating twice.
/// </summary>
public sealed partial class TargetExecutor(ScimClient client, ISyncState shadows, TimeProvider time, int concurrency)
{
    /// <summary>
    /// The target's health: an operation that gets no answer marks it down, and the operations after it are
    /// not tried (they stay queued, or fail the run) instead of each waiting out its own retries.
    /// </summary>
    public TargetHealth? Health { get; init; }

    /// <summary>
    /// Cancelled when the engine is asked to stop: no operation starts after it, while those in flight run to
    /// their answer (under the caller's token) and are recorded, so that nothing a target acknowledged is
    /// missing from the shadow.
    /// </summary>
    public CancellationToken Stopping { get; init; }

    /// <summary>Each operation's outcome (SyncLog 3500-3502): failures as warnings, successes at the level the caller asks.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    internal SyncTelemetry? Telemetry { get; init; }

    /// <summary>The target's secret attributes (<c>secret: true</c> in its mapping): their values never reach the audit.</summary>
    public SecretAttributes Secrets { get; init; } = SecretAttributes.None;

    /// <summary>A full run's or reconciliation's plan: one cause for every operation, each success logged at Debug.</summary>
    public Task<ExecutionReport> ExecuteAsync(SyncPlan plan, string cause, IProgress<SyncProgress>? progress, CancellationToken ct) =>
        ExecuteAsync(plan, _ => new ChangeOrigin(cause), progress, ct);

    /// <param name="originOf">Why an operation runs, by its source id: an event's txn, position and trace, or the run.</param>
    /// <param name="appliedLevel">How each success is logged: Information in watch mode, where every change counts; Debug for full runs.</param>
    public async Task<ExecutionReport> ExecuteAsync(SyncPlan plan, Func<string?, ChangeOrigin> originOf, IProgress<SyncProgress>? progress, CancellationToken ct,
        LogLevel appliedLevel = LogLevel.Debug)
    {
        var failedSources = new HashSet<string>(StringComparer.Ordinal);
        var sw = Stopwatch.StartNew();
        var ok = 0;
        var failed = 0;
        var errors = new List<string>();
        var done = 0L;
        var notAttempted = 0;
        var stopped = 0;
        var total = plan.Operations.Count;
        // Not tried while the target does not answer: kept as failed (queued work stays queued), not audited.
        // Not started because the engine is stopping: kept queued (like a failure), counted apart, not audited.
        bool Halted(string? source)
        {
            if (!Stopping.IsCancellationRequested) return false;
            Interlocked.Increment(ref stopped);
            if (source is not null) lock (failedSources) failedSources.Add(source);
            return true;
        }
        bool Unreachable(string? source)
        {
            if (Halted(source)) return true;
            if (Health is not { IsDown: true }) return false;
            Interlocked.Increment(ref notAttempted);
            Finish(false, null, source);
            return true;
        }
        void Finish(bool success, string? error, string? source = null)
        {
            if (success) Interlocked.Increment(ref ok);
            else
            {
                Interlocked.Increment(ref failed);
                if (source is not null) lock (failedSources) failedSources.Add(source);
                lock (errors) if (errors.Count < 50 && error is not null) errors.Add(error);
            }
            var d = Interlocked.Increment(ref done);
            if (d % 500 == 0 || d == total) progress?.Report(new SyncProgress(plan.Target, "apply", d, total));
        }

        var now = time.GetUtcNow();
        shadows.Batch(w =>
        {
            foreach (var op in plan.Operations)
                switch (op)
                {
                    case LinkAccount l:
                        w.Link(l.Target, l.TargetId, l.SourceId, now);
                        w.MarkSynced(l.Target, l.TargetId);
                        w.Audit(Record(now, l, originOf(l.SourceId), l.TargetId, l.SourceId, "ok", TimeSpan.Zero, l.Detail));
                        break;
                    case UnlinkAccount u:
                        w.Unlink(u.Target, u.TargetId);
                        w.Audit(Record(now, u, originOf(u.SourceId), u.TargetId, u.SourceId, "ok", TimeSpan.Zero, u.Detail));
                        break;
                    case LinkGroup g:
                        w.LinkGroup(g.Target, g.TargetGroupId, g.SourceGroupId);
                        w.Audit(Record(now, g, originOf(g.SourceGroupId), g.TargetGroupId, g.SourceGroupId, "ok", TimeSpan.Zero, null));
                        break;
                }
        });
        foreach (var op in plan.Operations)
            if (op is LinkAccount or UnlinkAccount or LinkGroup)
            {
                // State-only work, no call on the target: logged and counted like the calls, with no duration.
                var (source, target) = op switch
                {
                    LinkAccount l => (l.SourceId, l.TargetId),
                    UnlinkAccount u => (u.SourceId, u.TargetId),
                    LinkGroup g => (g.SourceGroupId, g.TargetGroupId),
                    _ => (null, null),
                };
                SyncLog.OperationApplied(Logger, appliedLevel, op.Target, op.Verb, op.Subject, target, source, originOf(source).Cause, "ok", 0);
                Telemetry?.Operation(op.Target, op.Verb, "ok", TimeSpan.Zero);
                Finish(true, null);
            }

        // Urgent work first, so that a deactivation never waits behind a batch of profile edits. Creates go
        // through /Bulk when the target offers it and there are enough of them (TargetExecutor.Bulk.cs).
        var tally = new Tally((success, error, source) => Finish(success, error, source), Unreachable, originOf, appliedLevel);
        var groupCreates = plan.Operations.OfType<CreateGroup>().ToArray();
        var accountCreates = plan.Operations.OfType<CreateAccount>().ToArray();
        var bulk = await BulkLimitsAsync(accountCreates.Length + groupCreates.Length, ct).ConfigureAwait(false);
        var accounts = plan.Operations.Where(o => o is UpdateAccount or DeactivateAccount or DeleteAccount || o is CreateAccount && bulk is null)
            .OrderByDescending(o => o.Urgent).ToArray();
        await Parallel.ForEachAsync(accounts, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (op, token) =>
        {
            var source = SourceOf(op);
            if (Unreachable(source)) return;
            var (success, error) = await RunAsync(op, originOf(source), appliedLevel, token).ConfigureAwait(false);
            Finish(success, error, source);
        }).ConfigureAwait(false);
        if (bulk is not null && accountCreates.Length > 0) await CreateAccountsInBulkAsync(accountCreates, bulk, tally, ct).ConfigureAwait(false);

        foreach (var retire in plan.Operations.OfType<RetireGroup>())
        {
            if (Unreachable(GroupKey(retire.SourceGroupId))) continue;
            var (success, error) = await RunAsync(retire, originOf(GroupKey(retire.SourceGroupId)), appliedLevel, ct).ConfigureAwait(false);
            Finish(success, error, GroupKey(retire.SourceGroupId));
        }
        var createdGroups = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        // The first members of a new group travel with it in a Bulk request (PATCH on "bulkId:…"); that needs PATCH. A
        // group with nested groups among its first members goes after all the new groups instead, as single requests:
        // its nested members may be groups created in the same Bulk pass, named by ids known only once it is done.
        var groupsInBulk = bulk is { Patch: true } && groupCreates.Length > 0;
        var firstMembers = groupsInBulk
            ? plan.Operations.OfType<ChangeMembers>().Where(m => m.TargetGroupId is null && m.AddGroups.Count == 0).GroupBy(m => m.SourceGroupId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal)
            : new Dictionary<string, ChangeMembers>(StringComparer.Ordinal);
        if (groupsInBulk) await CreateGroupsInBulkAsync(groupCreates, firstMembers, bulk!, tally, createdGroups, ct).ConfigureAwait(false);
        else
            foreach (var create in groupCreates)
            {
                if (Unreachable(GroupKey(create.SourceGroupId))) continue;
                var (success, error) = await RunAsync(create, originOf(GroupKey(create.SourceGroupId)), appliedLevel, ct, createdGroups).ConfigureAwait(false);
                Finish(success, error, GroupKey(create.SourceGroupId));
            }
        var newGroups = groupCreates.Select(g => g.SourceGroupId).ToHashSet(StringComparer.Ordinal);
        var sentWithGroups = new HashSet<ChangeMembers>(firstMembers.Values.Where(m => newGroups.Contains(m.SourceGroupId)), ReferenceEqualityComparer.Instance);
        await Parallel.ForEachAsync(plan.Operations.OfType<ChangeMembers>().Where(m => !sentWithGroups.Contains(m)), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, concurrency / 2), CancellationToken = ct }, async (op, token) =>
        {
            if (Unreachable(GroupKey(op.SourceGroupId))) return;
            var (success, error) = await RunAsync(op, originOf(GroupKey(op.SourceGroupId)), appliedLevel, token, createdGroups).ConfigureAwait(false);
            Finish(success, error, GroupKey(op.SourceGroupId));
        }).ConfigureAwait(false);
        if (notAttempted > 0)
        {
            lock (errors) errors.Add($"{notAttempted} operations not tried: the target stopped answering ({Health?.LastError})");
            SyncLog.OperationsNotTried(Logger, plan.Target, notAttempted, "not tried", Health?.LastError);
            Telemetry?.Operation(plan.Target, "any", "not_tried", TimeSpan.Zero);
        }
        return new ExecutionReport(plan.Target, ok, failed, errors, sw.Elapsed, failedSources, notAttempted, stopped);
    }

    /// <summary>Queue key of a source group (source user ids are used as they are).</summary>
    public static string GroupKey(string sourceGroupId) => "group:" + sourceGroupId;

    private static string? SourceOf(PlannedOperation op) => op switch
    {
        CreateAccount c => c.SourceId,
        UpdateAccount u => u.SourceId,
        DeactivateAccount d => d.SourceId,
        DeleteAccount d => d.SourceId,
        _ => null,
    };

    private async Task<(bool, string?)> RunAsync(PlannedOperation op, ChangeOrigin origin, LogLevel appliedLevel, CancellationToken ct, ConcurrentDictionary<string, string>? createdGroups = null)
    {
        var sw = Stopwatch.StartNew();
        var cause = origin.Cause;
        string? targetId = null, sourceId = null, detail = op.Detail.Length > 0 ? op.Detail : null;
        // A create's document is parsed once, for the log's values and for the call (a plan keeps it as bytes).
        var document = (op as CreateAccount)?.Document;
        var changes = document is null ? Changes(op) : AttributeChanges.OfCreate(document, Secrets);
        // Beneath the batch's (or run's) span; the HTTP client's span for the call nests beneath this one.
        using var activity = SyncTelemetry.Source.StartActivity("sync.operation");
        activity?.SetTag("scimsync.target", op.Target);
        activity?.SetTag("scimsync.operation", op.Verb);
        activity?.SetTag("scimsync.cause", cause);
        if (origin.JournalPosition is { } position) activity?.SetTag("scimsync.journal.position", position);
        try
        {
            // What the operation changes in the state, applied in one unit of work with its provisioning-log entry:
            // the shadow and the log commit together, and an operation costs the state one commit, not two.
            Action<IStateWriter>? state = null;
            switch (op)
            {
                case CreateAccount c:
                    sourceId = c.SourceId;
                    (targetId, state) = await CreateAccountAsync(c, document!, ct).ConfigureAwait(false);
                    break;
                case UpdateAccount u:
                    (targetId, sourceId) = (u.TargetId, u.SourceId);
                    state = await RememberAsync(u.Target, u.TargetId, await client.PatchAsync("Users", u.TargetId, u.Operations, null, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                    break;
                case DeactivateAccount d:
                    (targetId, sourceId) = (d.TargetId, d.SourceId);
                    state = await RememberAsync(d.Target, d.TargetId, await client.PatchAsync("Users", d.TargetId, [new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false }], null, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                    break;
                case DeleteAccount d:
                    (targetId, sourceId) = (d.TargetId, d.SourceId);
                    await client.DeleteAsync("Users", d.TargetId, ct).ConfigureAwait(false);
                    state = w =>
                    {
                        w.RemoveAccount(d.Target, d.TargetId);
                        w.Unlink(d.Target, d.TargetId);
                    };
                    break;
                case CreateGroup g:
                    sourceId = g.SourceGroupId;
                    var created = await client.CreateAsync("Groups", g.Document, ct).ConfigureAwait(false);
                    targetId = created["id"]!.GetValue<string>();
                    createdGroups![g.SourceGroupId] = targetId;
                    var groupId = targetId;
                    state = w =>
                    {
                        w.PutGroup(g.Target, groupId, g.DisplayName, g.SourceGroupId);
                        w.LinkGroup(g.Target, groupId, g.SourceGroupId);
                    };
                    break;
                case RetireGroup r:
                    (targetId, sourceId) = (r.TargetGroupId, r.SourceGroupId);
                    if (r.Delete)
                    {
                        try
                        {
                            await client.DeleteAsync("Groups", r.TargetGroupId, ct).ConfigureAwait(false);
                        }
                        catch (ScimClientException e) when (e.Status == 404)
                        {
                            // Already gone from the target: only the shadow has to follow.
                        }
                    }
                    state = w => w.RemoveGroup(r.Target, r.TargetGroupId, keepShadow: !r.Delete);
                    break;
                case ChangeMembers m:
                    sourceId = m.SourceGroupId;
                    targetId = m.TargetGroupId ?? createdGroups?.GetValueOrDefault(m.SourceGroupId)
                        ?? throw new PrerequisiteFailedException($"group {m.DisplayName} was not created");
                    detail = await ChangeMembersAsync(m, targetId, createdGroups, ct).ConfigureAwait(false);
                    break;
            }
            var record = Record(time.GetUtcNow(), op, origin, targetId, sourceId, "ok", sw.Elapsed, detail) with { Changes = changes };
            await shadows.WriteAsync(w =>
            {
                state?.Invoke(w);
                w.Audit(record);
            }).ConfigureAwait(false);
            Outcome(activity, op, targetId, sourceId, "ok");
            SyncLog.OperationApplied(Logger, appliedLevel, op.Target, op.Verb, op.Subject, targetId, sourceId, cause, "ok", sw.ElapsedMilliseconds);
            Telemetry?.Operation(op.Target, op.Verb, "ok", sw.Elapsed);
            return (true, null);
        }
        catch (ScimClientException e)
        {
            if (TargetHealth.IsUnreachable(e)) Health?.MarkDown(e.Detail ?? e.Message);
            // The target's answer as it gave it (status, scimType, detail), and what to do about it when it is a known failure.
            await AuditAsync(Record(time.GetUtcNow(), op, origin, targetId ?? TargetIdOf(op), sourceId ?? SourceOf(op), "failed", sw.Elapsed, FailureAdvice.Clamp(e.Detail ?? e.Message)) with
            {
                Status = e.Status == 0 ? null : e.Status, ScimType = e.ScimType, Changes = changes, Action = FailureAdvice.For(e.Status, noAnswer: e.Status == 0),
            }).ConfigureAwait(false);
            Failed(activity, op, targetId, sourceId, cause, e.Status == 0 ? null : e.Status, e.Detail ?? e.Message, sw.Elapsed);
            return (false, $"{op}: {e.Status} {e.Detail ?? e.Message}");
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Whatever a target answers fails this operation only: audited with the reason, the others go on.
            var reason = e is HttpRequestException or PrerequisiteFailedException or TaskCanceledException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            await AuditAsync(Record(time.GetUtcNow(), op, origin, targetId ?? TargetIdOf(op), sourceId ?? SourceOf(op), "failed", sw.Elapsed, FailureAdvice.Clamp(reason)) with
            {
                Changes = changes, Action = FailureAdvice.For(null, noAnswer: e is HttpRequestException or TaskCanceledException),
            }).ConfigureAwait(false);
            Failed(activity, op, targetId, sourceId, cause, null, reason, sw.Elapsed);
            return (false, $"{op}: {reason}");
        }
    }

    private static void Outcome(Activity? activity, PlannedOperation op, string? targetId, string? sourceId, string result)
    {
        if (activity is null) return;
        activity.SetTag("scimsync.target.id", targetId);
        activity.SetTag("scimsync.source.id", sourceId);
        activity.SetTag("scimsync.result", result);
        if (op.Urgent) activity.SetTag("scimsync.urgent", true);
    }

    private void Failed(Activity? activity, PlannedOperation op, string? targetId, string? sourceId, string cause, int? status, string reason, TimeSpan elapsed)
    {
        Outcome(activity, op, targetId, sourceId, "failed");
        activity?.SetStatus(ActivityStatusCode.Error, reason);
        SyncLog.OperationFailed(Logger, op.Target, op.Verb, op.Subject, targetId, sourceId, cause, "failed", status, reason, (long)elapsed.TotalMilliseconds);
        Telemetry?.Operation(op.Target, op.Verb, "failed", elapsed);
    }

    /// <summary>
    /// Creates an account. A 409 means it already exists (made by a run that crashed before recording it,
    /// or by someone else): the engine looks it up and links it only if nobody owns it, then brings it up to date.
    /// </summary>
    /// <returns>The account's id on the target, and its shadow and link for the caller's unit of work.</returns>
    private async Task<(string TargetId, Action<IStateWriter> State)> CreateAccountAsync(CreateAccount c, JsonObject document, CancellationToken ct)
    {
        JsonObject created;
        try
        {
            created = await client.CreateAsync("Users", document, ct).ConfigureAwait(false);
        }
        catch (ScimClientException e) when (e.Status == 409)
        {
            // SCIM filter string literals are JSON strings (RFC 7644 §3.4.2.2): quote the name the JSON way.
            var filter = "userName eq " + System.Text.Json.JsonSerializer.Serialize(c.UserName, FilterLiteral);
            JsonObject? existing = null;
            await foreach (var page in client.ListAsync("Users", new ListOptions { Filter = filter, PageSize = 2 }, ct).ConfigureAwait(false))
            {
                existing = page.Resources.FirstOrDefault();
                break;
            }
            var id = existing?["id"]?.GetValue<string>();
            if (id is null) throw;
            var owner = shadows.OwnerOf(c.Target, id);
            if (owner is not null && owner != c.SourceId) throw new ScimClientException(409, "uniqueness", $"userName {c.UserName} belongs to an account linked to source account {owner}");
            var ops = AccountDiff.Operations(c.Document, existing!, document.Select(p => new MappedPath("", p.Key)).Where(p => p.Path != "schemas").ToArray());
            created = ops.Count == 0 ? existing! : await client.PatchAsync("Users", id, ops, null, ct).ConfigureAwait(false)
                ?? await client.GetAsync("Users", id, null, ct).ConfigureAwait(false) ?? existing!;
        }
        var targetId = created["id"]!.GetValue<string>();
        var now = time.GetUtcNow();
        var account = new TargetAccount(targetId, created);
        return (targetId, w =>
        {
            w.PutAccount(c.Target, account, now, synced: true);
            w.Link(c.Target, targetId, c.SourceId, now);
        });
    }

    /// <summary>
    /// The shadow of an updated account, for the caller's unit of work. PATCH answered 204 carries no body: the shadow
    /// then takes the resource as read back.
    /// </summary>
    private async Task<Action<IStateWriter>?> RememberAsync(string target, string targetId, JsonObject? updated, CancellationToken ct)
    {
        updated ??= await client.GetAsync("Users", targetId, null, ct).ConfigureAwait(false);
        if (updated is null) return null;
        var now = time.GetUtcNow();
        var account = new TargetAccount(targetId, updated);
        return w => w.PutAccount(target, account, now, synced: true);
    }

    /// <summary>
    /// Adds and removes members in batches of PATCH operations; the group itself is never read or replaced. A nested
    /// group is added as a member of type Group, by its id on the target (created earlier in this run, or linked).
    /// </summary>
    private async Task<string> ChangeMembersAsync(ChangeMembers m, string groupId, ConcurrentDictionary<string, string>? createdGroups, CancellationToken ct)
    {
        var add = new List<(string Id, bool Group)>();
        var missing = 0;
        foreach (var sid in m.AddSourceIds)
        {
            if (shadows.TargetIdOf(m.Target, sid) is { } tid) add.Add((tid, false));
            else missing++;
        }
        foreach (var nested in m.AddGroups)
        {
            if ((nested.TargetGroupId ?? createdGroups?.GetValueOrDefault(nested.SourceGroupId)) is { } tgid) add.Add((tgid, true));
            else missing++;
        }
        var batch = Math.Max(1, BatchSize);
        foreach (var chunk in add.Chunk(batch))
        {
            var values = new JsonArray(chunk.Select(member => (JsonNode)(member.Group
                ? new JsonObject { ["value"] = member.Id, ["type"] = "Group" }
                : new JsonObject { ["value"] = member.Id })).ToArray());
            await client.PatchAsync("Groups", groupId, [new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = values }], null, ct).ConfigureAwait(false);
            await shadows.WriteAsync(w => { foreach (var member in chunk) w.AddMember(m.Target, groupId, member.Id); }).ConfigureAwait(false);
        }
        foreach (var chunk in m.RemoveTargetIds.Chunk(batch))
        {
            JsonObject[] ops = MemberRemoval == Configuration.MemberRemoval.ValueList
                ? [new JsonObject { ["op"] = "remove", ["path"] = "members", ["value"] = new JsonArray(chunk.Select(id => (JsonNode)new JsonObject { ["value"] = id }).ToArray()) }]
                : chunk.Select(id => new JsonObject { ["op"] = "remove", ["path"] = "members[value eq " + System.Text.Json.JsonSerializer.Serialize(id, FilterLiteral) + "]" }).ToArray();
            await client.PatchAsync("Groups", groupId, ops, null, ct).ConfigureAwait(false);
            await shadows.WriteAsync(w => { foreach (var id in chunk) w.RemoveMember(m.Target, groupId, id); }).ConfigureAwait(false);
        }
        return $"+{add.Count} -{m.RemoveTargetIds.Count}" + (missing > 0 ? $", {missing} members not on the target yet" : "");
    }

    /// <summary>Escapes what JSON requires (quotes, backslashes, controls) and leaves other characters as they are.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions FilterLiteral = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Members per PATCH request (the target's <c>groups.batchSize</c>).</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>The target's dialect for removing members (<c>dialect.memberRemoval</c>).</summary>
    public Configuration.MemberRemoval MemberRemoval { get; init; }

    private Task AuditAsync(AuditRecord record) => shadows.WriteAsync(w => w.Audit(record));

    /// <summary>An audit record with the source change behind the operation (position, time, writer) and the account's userName.</summary>
    private static AuditRecord Record(DateTimeOffset at, PlannedOperation op, ChangeOrigin origin, string? targetId, string? sourceId, string result, TimeSpan elapsed, string? detail) =>
        new(at, origin.Cause, op.Target, op.Verb, op.Subject, targetId, sourceId, result, null, elapsed.TotalMilliseconds, detail)
        {
            UserName = UserNameOf(op), JournalPosition = origin.JournalPosition, EventTime = origin.EventTime, Writer = origin.Writer,
        };

    /// <summary>
    /// What the operation is about to change, against the shadow before the call (for an update or a deactivation,
    /// one read by key). Computed before the call, so that a failure records what was attempted.
    /// </summary>
    private IReadOnlyList<State.AttributeChange> Changes(PlannedOperation op) => op switch
    {
        CreateAccount => AttributeChanges.Of(op, null, Secrets),
        UpdateAccount u => AttributeChanges.Of(op, shadows.AccountData(u.Target, u.TargetId), Secrets),
        DeactivateAccount d => AttributeChanges.Of(op, shadows.AccountData(d.Target, d.TargetId), Secrets),
        _ => [],
    };

    private static string? UserNameOf(PlannedOperation op) => op switch
    {
        CreateAccount c => c.UserName,
        UpdateAccount u => u.UserName,
        DeactivateAccount d => d.UserName,
        DeleteAccount d => d.UserName,
        LinkAccount l => l.UserName,
        _ => null,
    };

    private static string? TargetIdOf(PlannedOperation op) => op switch
    {
        UpdateAccount u => u.TargetId,
        DeactivateAccount d => d.TargetId,
        DeleteAccount d => d.TargetId,
        RetireGroup r => r.TargetGroupId,
        ChangeMembers m => m.TargetGroupId,
        _ => null,
    };
}
