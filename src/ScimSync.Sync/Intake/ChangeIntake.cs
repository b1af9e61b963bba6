using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>
/// Where SCIM-shaped changes from the source (the feed's SETs, lastModified query results) enter the engine:
/// the copy of the source is brought up to date with a batch, and the batch is queued for every target.
/// Several changes to one account collapse into one (its current state is read once), so a backlog coalesces.
/// </summary>
internal sealed class ChangeIntake(SyncConfig config, SourceState state, ISyncState shadows, TargetLanes lanes, ChangeOrigins origins,
    SyncTelemetry telemetry, TimeProvider time, ILogger log)
{
    private readonly Client.Updates.PatchByPut _localPatch = new();

    /// <summary>Applies and queues <paramref name="changes"/>.</summary>
    /// <returns>
    /// The changes refused because their resource cannot be read (the source refuses that one read, or answers
    /// with something that is no account): the rest of the batch goes on without them. A source that does not
    /// answer fails the whole batch instead, which then comes again.
    /// </returns>
    public async Task<IReadOnlyList<RefusedSet>> ApplyAsync(IReadOnlyList<SourceChange> changes, ScimSourceReader reader, CancellationToken ct)
    {
        var snapshot = state.Current!;
        var refused = new ConcurrentDictionary<(string Type, string Id), string>();
        var users = changes.Where(c => c.ResourceType == "User").GroupBy(c => c.Id).ToArray();
        var upserts = new ConcurrentBag<SourceAccount>();
        var deletes = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(users, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (g, token) =>
        {
            try
            {
                if (LocalState(snapshot.Users.GetValueOrDefault(g.Key), g.ToArray()) is var (known, account) && known)
                {
                    if (account is null) deletes.Add(g.Key);
                    else upserts.Add(account);
                    return;
                }
                if (await reader.GetUserAsync(g.Key, token).ConfigureAwait(false) is { } read) upserts.Add(read);
                else deletes.Add(g.Key);
            }
            catch (Exception e) when (Unreadable(e))
            {
                refused[("User", g.Key)] = e.Message;
            }
        }).ConfigureAwait(false);
        var groupUpserts = new Dictionary<string, SourceGroup>(StringComparer.Ordinal);
        var groupDeletes = new List<string>();
        foreach (var c in changes.Where(c => c.ResourceType == "Group"))
        {
            if (refused.ContainsKey(("Group", c.Id))) continue;
            if (c.Deleted) { groupDeletes.Add(c.Id); groupUpserts.Remove(c.Id); continue; }
            var current = groupUpserts.GetValueOrDefault(c.Id) ?? snapshot.Groups.GetValueOrDefault(c.Id);
            if (current is not null && c.AlreadyIn(current.Version)) continue;
            try
            {
                SourceGroup? next = c.Data is not null ? ScimSourceReader.ToGroup(c.Data)
                    : c.Patch is not null && current is not null ? GroupMembersPatch.Apply(current, c.Patch, IsGroup) : null;
                if (next is not null && c.Data is null && c.Version is { } gv)
                    next = next with { Version = gv };
                next ??= await reader.GetGroupAsync(c.Id, ct).ConfigureAwait(false);
                if (next is null) groupDeletes.Add(c.Id);
                else groupUpserts[c.Id] = next;
            }
            catch (Exception e) when (Unreadable(e))
            {
                refused[("Group", c.Id)] = e.Message;
                groupUpserts.Remove(c.Id);
            }
        }
        bool IsGroup(string id) => (groupUpserts.ContainsKey(id) || snapshot.Groups.ContainsKey(id)) && !snapshot.Users.ContainsKey(id);
        var (was, updated) = state.Apply(upserts.ToArray(), deletes.ToArray(), groupUpserts.Values.ToArray(), groupDeletes);
        var accepted = changes.Where(c => !refused.ContainsKey((c.ResourceType, c.Id))).ToArray();
        Queue(accepted, was, updated, groupUpserts.Keys.Concat(groupDeletes).Distinct().ToArray());
        return changes.Where(c => refused.ContainsKey((c.ResourceType, c.Id)))
            .Select(c => new RefusedSet(c.Jti, "invalid_request", $"{c.ResourceType} {c.Id} cannot be read at the source: {refused[(c.ResourceType, c.Id)]}")).ToArray();
    }

    /// <summary>
    /// A failure of this one resource, not of the source: it refuses the read, or answers with something the
    /// engine cannot take as an account or group. Reading it again would fail again.
    /// </summary>
    private static bool Unreadable(Exception e) => e is FormatException or System.Text.Json.JsonException
        || e is ScimClientException { Status: 400 or 403 or 409 or 410 or 422 };

    private void Queue(IReadOnlyList<SourceChange> changes, SourceSnapshot was, SourceSnapshot updated, IReadOnlyList<string> groups)
    {
        var now = time.GetUtcNow();
        var keys = new Dictionary<string, bool>(StringComparer.Ordinal);
        // Membership decides scope (and group contents) on some targets: the members who joined or left are
        // queued themselves, so that no target ever has to look at the whole group.
        foreach (var id in groups)
            foreach (var m in NestedGroupChanges.MembersMoved(was, updated, id)) keys[m] = true;
        NestedGroupChanges.ReportCycles(updated, groups, log);
        foreach (var c in changes)
        {
            var key = c.ResourceType == "Group" ? TargetExecutor.GroupKey(c.Id) : c.Id;
            keys[key] = keys.GetValueOrDefault(key) || c.Urgent;
            if (c.Txn is not null) origins.Note(key, new ChangeOrigin("event:" + c.Txn, c.JournalPosition, SourceEvent(c), c.EventTime, c.Writer));
            SyncLog.SourceChange(log, c.ResourceType, c.Id, c.Deleted ? "deleted" : "changed", c.Txn, c.JournalPosition, c.Urgent);
        }
        foreach (var g in changes.GroupBy(c => (c.ResourceType, c.Urgent))) telemetry.Changes(g.Key.ResourceType, g.Key.Urgent, g.Count());
        // A deleted group's former members may need their memberships looked at; their accounts are unaffected.
        shadows.Batch(w =>
        {
            foreach (var (key, urgent) in keys) lanes.QueueEverywhere(w, key, urgent, now);
            foreach (var id in groups)
            {
                var before = was.Groups.GetValueOrDefault(id)?.Baseline ?? [];
                var after = updated.Groups.GetValueOrDefault(id)?.Baseline ?? [];
                foreach (var m in before.Except(after)) w.RemoveSourceMember(id, m);
                foreach (var m in after.Except(before)) w.AddSourceMember(id, m);
            }
        });
        lanes.Wake(keys.Values.Any(u => u));
    }

    /// <summary>
    /// The account's state after these events without asking the source: a delete, a full representation,
    /// or PATCHes applied to the engine's copy with the same PATCH engine the server uses. Unknown when an
    /// event carries neither (a notice), and then the caller reads the account.
    /// </summary>
    private (bool Known, SourceAccount? State) LocalState(SourceAccount? current, IReadOnlyList<SourceChange> events)
    {
        var doc = current?.Document;
        foreach (var e in events)
        {
            if (e.Deleted) { doc = null; continue; }
            if (e.AlreadyIn(doc)) continue;
            if (e.Data is not null) { doc = e.Data; continue; }
            if (e.Patch?["Operations"] is JsonArray ops && doc is not null)
            {
                try
                {
                    doc = _localPatch.Apply("Users", e.Id, doc, ops.OfType<JsonObject>().ToArray()) ?? doc.DeepClone().AsObject();
                    doc["id"] = e.Id;
                    if (e.Version is { } v) doc["meta"] = new JsonObject { ["resourceType"] = "User", ["version"] = $"W/\"{v}\"" };
                    continue;
                }
                catch (ScimClientException)
                {
                    return (false, null);
                }
            }
            return (false, null);
        }
        return (true, doc is null ? null : SourceAccount.From(doc, config.Kinds));
    }

    /// <summary>
    /// The span that marks a change learnt from the source, the root of the trace the targets' work on it
    /// joins (<see cref="TargetQueueWorker"/>). Stopped at once: the work happens later, from the durable queue.
    /// </summary>
    private static ActivityContext SourceEvent(SourceChange c)
    {
        using var activity = SyncTelemetry.Source.StartActivity("sync.source_event", ActivityKind.Consumer, default(ActivityContext));
        if (activity is null) return default;
        activity.SetTag("scimsync.resource.type", c.ResourceType);
        activity.SetTag("scimsync.source.id", c.Id);
        activity.SetTag("scimsync.txn", c.Txn);
        if (c.JournalPosition is { } position) activity.SetTag("scimsync.journal.position", position);
        activity.SetTag("scimsync.urgent", c.Urgent);
        return activity.Context;
    }
}
