using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Client.Bulk;
using ScimSync.Client.Updates;
using ScimSync.Sync.Planning;

namespace ScimSync.Sync.Execution;

public sealed partial class TargetExecutor
{
    /// <summary>
    /// A new group and its first members: the POST, then PATCH add in chunks of <c>groups.batchSize</c> that name
    /// the group as <c>bulkId:g…</c>, all in one request (the target resolves the reference). The members were
    /// created earlier (accounts go first), so they are named by their real ids.
    /// </summary>
    private sealed record GroupUnit(CreateGroup Group, ChangeMembers? Members, string[][] Chunks, int Missing)
    {
        public string Detail => $"+{Chunks.Sum(c => c.Length)} -0" + (Missing > 0 ? $", {Missing} members not on the target yet" : "");
    }

    private async Task CreateGroupsInBulkAsync(CreateGroup[] creates, IReadOnlyDictionary<string, ChangeMembers> membersOf, BulkLimits limits, Tally tally,
        ConcurrentDictionary<string, string> createdGroups, CancellationToken ct)
    {
        var units = new GroupUnit[creates.Length];
        for (var i = 0; i < creates.Length; i++)
        {
            var g = creates[i];
            var m = membersOf.GetValueOrDefault(g.SourceGroupId);
            var ids = new List<string>();
            var missing = 0;
            foreach (var sid in m?.AddSourceIds ?? [])
            {
                if (shadows.TargetIdOf(g.Target, sid) is { } tid) ids.Add(tid);
                else missing++;
            }
            units[i] = new GroupUnit(g, m, ids.Chunk(Math.Max(1, BatchSize)).ToArray(), missing);
        }
        var requests = units.Select((u, i) =>
        {
            var key = i.ToString(CultureInfo.InvariantCulture);
            var post = new BulkOperation("POST", "/Groups", "g" + key, u.Group.Document);
            IReadOnlyList<BulkOperation> ops = [post, .. u.Chunks.Select((chunk, k) => new BulkOperation("PATCH", "/Groups/" + post.Reference, $"m{key}.{k}",
                PatchByPut.Message([new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(chunk.Select(id => (JsonNode)new JsonObject { ["value"] = id }).ToArray()) }])))];
            return ops;
        });
        // Requests in parallel, as for accounts: a unit has no nested member (those go afterwards, on their own),
        // so no unit waits for another's group, and each writes only its own entry of createdGroups. A target
        // applies a Bulk request's operations in order, one write after another; one request at a time left
        // 1,000 groups waiting on 2,000 of those in a row.
        await Parallel.ForEachAsync(BulkBatches.Split(requests, limits.Operations, limits.PayloadBytes),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (batch, token) => await SendGroupsAsync(batch, units, tally, createdGroups, token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>The unit an operation belongs to: "g12" and "m12.3" are both unit 12.</summary>
    private static int UnitOf(BulkOperation op)
    {
        var s = op.BulkId.AsSpan(1);
        var dot = s.IndexOf('.');
        return int.Parse(dot < 0 ? s : s[..dot], CultureInfo.InvariantCulture);
    }

    private async Task SendGroupsAsync(BulkBatch batch, GroupUnit[] units, Tally tally, ConcurrentDictionary<string, string> createdGroups, CancellationToken ct)
    {
        var inBatch = batch.Operations.Select(UnitOf).Distinct().Select(i => units[i]).ToArray();
        if (Stopping.IsCancellationRequested || Health is { IsDown: true })
        {
            foreach (var u in inBatch)
            {
                tally.Unreachable(GroupKey(u.Group.SourceGroupId));
                if (u.Members is not null) tally.Unreachable(GroupKey(u.Group.SourceGroupId));
            }
            return;
        }
        var answer = batch.Fits ? await SendAsync(inBatch[0].Group.Target, batch, ct).ConfigureAwait(false) : null;
        if (answer is null)
        {
            if (!batch.Fits || inBatch.Length == 1)
                foreach (var u in inBatch) await SinglesAsync([u.Group, .. u.Members is null ? Array.Empty<PlannedOperation>() : [u.Members]], tally, ct, createdGroups).ConfigureAwait(false);
            else
                foreach (var half in inBatch.Chunk((inBatch.Length + 1) / 2))
                {
                    var ops = batch.Operations.Where(o => half.Contains(units[UnitOf(o)])).ToArray();
                    await SendGroupsAsync(BulkBatches.Of(ops), units, tally, createdGroups, ct).ConfigureAwait(false);
                }
            return;
        }
        var now = time.GetUtcNow();
        var elapsed = answer.Elapsed;
        foreach (var results in answer.Results.GroupBy(r => UnitOf(r.Operation)))
        {
            var u = units[results.Key];
            var key = GroupKey(u.Group.SourceGroupId);
            var origin = tally.OriginOf(key);
            var post = results.First(r => r.Operation.Method == "POST");
            if (!post.IsSuccess || post.Id is null)
            {
                var e = post.Error();
                if (post.IsSuccess || post.Status == 0 || Transient(post.Status))
                {
                    await SinglesAsync([u.Group, .. u.Members is null ? Array.Empty<PlannedOperation>() : [u.Members]], tally, ct, createdGroups).ConfigureAwait(false);
                    continue;
                }
                await shadows.WriteAsync(w => w.Audit(FailureRecord(now, u.Group, origin, null, u.Group.SourceGroupId, elapsed, e, []))).ConfigureAwait(false);
                Failed(null, u.Group, null, u.Group.SourceGroupId, origin.Cause, e.Status, e.Detail ?? e.Message, elapsed);
                tally.Finish(false, $"{u.Group}: {e.Status} {e.Detail ?? e.Message}", key);
                // The members fail as they would after a failed single create: "group … was not created".
                if (u.Members is not null) await SinglesAsync([u.Members], tally, ct, createdGroups).ConfigureAwait(false);
                continue;
            }
            var groupId = post.Id;
            createdGroups[u.Group.SourceGroupId] = groupId;
            var patches = results.Where(r => r.Operation.Method == "PATCH").ToArray();
            var membersDone = patches.All(r => r.IsSuccess);
            var hardFailure = patches.FirstOrDefault(r => !r.IsSuccess && r.Status is not 0 && !Transient(r.Status));
            await shadows.WriteAsync(w =>
            {
                w.PutGroup(u.Group.Target, groupId, u.Group.DisplayName, u.Group.SourceGroupId);
                w.LinkGroup(u.Group.Target, groupId, u.Group.SourceGroupId);
                w.Audit(Record(now, u.Group, origin, groupId, u.Group.SourceGroupId, "ok", elapsed, "bulk"));
                foreach (var r in patches.Where(r => r.IsSuccess))
                    foreach (var id in u.Chunks[int.Parse(r.Operation.BulkId.AsSpan(r.Operation.BulkId.IndexOf('.') + 1), CultureInfo.InvariantCulture)])
                        w.AddMember(u.Group.Target, groupId, id);
                if (u.Members is not null && membersDone)
                    w.Audit(Record(now, u.Members, origin, groupId, u.Group.SourceGroupId, "ok", elapsed, u.Detail + "; bulk"));
                if (u.Members is not null && hardFailure is not null)
                    w.Audit(FailureRecord(now, u.Members, origin, groupId, u.Group.SourceGroupId, elapsed, hardFailure.Error(), []));
            }).ConfigureAwait(false);
            SyncLog.OperationApplied(Logger, tally.Level, u.Group.Target, u.Group.Verb, u.Group.Subject, groupId, u.Group.SourceGroupId, origin.Cause, "ok", (long)elapsed.TotalMilliseconds);
            Telemetry?.Operation(u.Group.Target, u.Group.Verb, "ok", elapsed);
            tally.Finish(true, null, key);
            if (u.Members is null) continue;
            if (membersDone)
            {
                SyncLog.OperationApplied(Logger, tally.Level, u.Members.Target, u.Members.Verb, u.Members.Subject, groupId, u.Group.SourceGroupId, origin.Cause, "ok", (long)elapsed.TotalMilliseconds);
                Telemetry?.Operation(u.Members.Target, u.Members.Verb, "ok", elapsed);
                tally.Finish(true, null, key);
            }
            else if (hardFailure is not null)
            {
                var e = hardFailure.Error();
                Failed(null, u.Members, groupId, u.Group.SourceGroupId, origin.Cause, e.Status, e.Detail ?? e.Message, elapsed);
                tally.Finish(false, $"{u.Members}: {e.Status} {e.Detail ?? e.Message}", key);
            }
            else
                // Only transient failures: the whole membership change again on its own (adding a member twice changes nothing).
                await SinglesAsync([u.Members], tally, ct, createdGroups).ConfigureAwait(false);
        }
    }
}
