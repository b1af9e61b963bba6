using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Client.Bulk;
using ScimSync.Client.Updates;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Execution;

/// <summary>
/// Creates through /Bulk, for a target that advertises it (and has no <c>dialect.disableBulk</c>): accounts in
/// requests of many creates, then each new group with its members (a POST and a PATCH that names the group by
/// <c>bulkId:</c>, so both travel in one request). Every operation keeps its own outcome, audit record and
/// shadow entry, as a single request would give it. A Bulk answer carries ids, not resources, so created
/// accounts are read back (by filter, a few dozen a request) before the shadow records them: the shadow holds
/// what the target holds, not what was sent.
/// </summary>
public sealed partial class TargetExecutor
{
    /// <summary>
    /// A plan uses Bulk only with at least this many creates: a watch batch of one or two changes gains
    /// nothing from a Bulk request and would pay for the read-back.
    /// </summary>
    public int BulkThreshold { get; init; } = 10;

    /// <summary>
    /// Operations per Bulk request at most, whatever larger maxOperations the target advertises: a request
    /// must be answered within the client's timeout (30 s), and a lost request costs its operations a retry each.
    /// </summary>
    public int BulkMaxOperations { get; init; } = 200;

    /// <summary>Accounts read back per filtered GET (<c>id eq … or id eq …</c>): short enough for any URL limit.</summary>
    private const int ReadBackChunk = 40;

    private sealed record BulkLimits(int Operations, int PayloadBytes, bool Patch, bool Filter);

    /// <summary>How the executor counts an operation's outcome (see ExecuteAsync).</summary>
    private sealed record Tally(Action<bool, string?, string?> Finish, Func<string?, bool> Unreachable, Func<string?, ChangeOrigin> OriginOf, LogLevel Level);

    /// <returns>The limits to split by, or null when Bulk is not to be used for <paramref name="creates"/> creates.</returns>
    private async Task<BulkLimits?> BulkLimitsAsync(int creates, CancellationToken ct)
    {
        if (creates < BulkThreshold) return null;
        ScimCapabilities caps;
        try
        {
            caps = await client.GetCapabilitiesAsync(ct).ConfigureAwait(false);
        }
        catch (ScimClientException)
        {
            return null;
        }
        // maxOperations and maxPayloadSize are required with bulk.supported (RFC 7643 §5); without them there is nothing safe to split by.
        if (!caps.Bulk || caps.BulkMaxOperations < 1 || caps.BulkMaxPayloadSize <= BulkBatches.EnvelopeBytes + 2) return null;
        return new BulkLimits(Math.Min(caps.BulkMaxOperations, Math.Max(1, BulkMaxOperations)), caps.BulkMaxPayloadSize, caps.Patch, caps.Filter);
    }

    private async Task CreateAccountsInBulkAsync(CreateAccount[] creates, BulkLimits limits, Tally tally, CancellationToken ct)
    {
        var units = creates.Select((c, i) => (IReadOnlyList<BulkOperation>)[new BulkOperation("POST", "/Users", "u" + i.ToString(CultureInfo.InvariantCulture), c.Document)]);
        await Parallel.ForEachAsync(BulkBatches.Split(units, limits.Operations, limits.PayloadBytes),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (batch, token) => await SendAccountsAsync(batch, creates, limits, tally, token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private static int Index(BulkOperation op) => int.Parse(op.BulkId.AsSpan(1), CultureInfo.InvariantCulture);

    private async Task SendAccountsAsync(BulkBatch batch, CreateAccount[] creates, BulkLimits limits, Tally tally, CancellationToken ct)
    {
        var ops = batch.Operations.Select(o => creates[Index(o)]).ToArray();
        if (Stopping.IsCancellationRequested || Health is { IsDown: true })
        {
            foreach (var c in ops) tally.Unreachable(c.SourceId);
            return;
        }
        var results = batch.Fits ? await SendAsync(ops[0].Target, batch, ct).ConfigureAwait(false) : null;
        if (results is null)
        {
            // Too large alone, or the whole request failed: each create goes on its own. One the target did apply
            // before failing answers 409 and is adopted, so nothing is created twice.
            if (!batch.Fits || batch.Operations.Count == 1) await SinglesAsync(ops, tally, ct).ConfigureAwait(false);
            else
                foreach (var half in batch.Operations.Chunk((batch.Operations.Count + 1) / 2))
                    await SendAccountsAsync(BulkBatches.Of(half), creates, limits, tally, ct).ConfigureAwait(false);
            return;
        }
        var sw = Stopwatch.StartNew();
        var created = new List<(CreateAccount Op, string Id, JsonObject? Resource)>();
        var again = new List<CreateAccount>();
        var failed = new List<(CreateAccount Op, ScimClientException Error)>();
        foreach (var r in results.Results)
        {
            var c = creates[Index(r.Operation)];
            if (r.IsSuccess && r.Id is { } id) created.Add((c, id, r.Resource));
            // 409: exists already (adopted the way a single create adopts); no entry, no id, or a transient
            // status: sent again on its own, with the client's backoff.
            else if (r.IsSuccess || r.Status is 0 or 409 || Transient(r.Status)) again.Add(c);
            else failed.Add((c, r.Error()));
        }
        var read = await ReadBackAsync(created.Where(c => c.Resource is null).Select(c => c.Id).ToArray(), limits.Filter, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var elapsed = results.Elapsed + sw.Elapsed;
        // The log's changes come from the documents this request sent (parsed once, for it), and everything is prepared
        // here: the unit of work runs on the state's one writer, which every lane waits for.
        var sent = batch.Operations.ToDictionary<BulkOperation, CreateAccount, JsonObject>(o => creates[Index(o)], o => o.Data!, ReferenceEqualityComparer.Instance);
        var records = created.Select(c =>
        {
            var held = c.Resource ?? read.GetValueOrDefault(c.Id);
            var account = new TargetAccount(c.Id, held ?? WithId(c.Op.Document, c.Id));
            var detail = held is null ? "bulk; not readable afterwards, recorded as sent" : "bulk";
            return (c.Op, c.Id, account, Entry: Record(now, c.Op, tally.OriginOf(c.Op.SourceId), c.Id, c.Op.SourceId, "ok", elapsed, detail) with
            {
                Changes = AttributeChanges.OfCreate(sent[c.Op], Secrets),
            });
        }).ToArray();
        var failures = failed.Select(f => FailureRecord(now, f.Op, tally.OriginOf(f.Op.SourceId), null, f.Op.SourceId, elapsed, f.Error,
            AttributeChanges.OfCreate(sent[f.Op], Secrets))).ToArray();
        await shadows.WriteAsync(w =>
        {
            foreach (var (op, id, account, entry) in records)
            {
                w.PutAccount(op.Target, account, now, synced: true);
                w.Link(op.Target, id, op.SourceId, now);
                w.Audit(entry);
            }
            foreach (var entry in failures) w.Audit(entry);
        }).ConfigureAwait(false);
        foreach (var (op, id, _, _) in records)
        {
            SyncLog.OperationApplied(Logger, tally.Level, op.Target, op.Verb, op.Subject, id, op.SourceId, tally.OriginOf(op.SourceId).Cause, "ok", (long)elapsed.TotalMilliseconds);
            Telemetry?.Operation(op.Target, op.Verb, "ok", elapsed);
            tally.Finish(true, null, op.SourceId);
        }
        foreach (var (op, e) in failed)
        {
            Failed(null, op, null, op.SourceId, tally.OriginOf(op.SourceId).Cause, e.Status, e.Detail ?? e.Message, elapsed);
            tally.Finish(false, $"{op}: {e.Status} {e.Detail ?? e.Message}", op.SourceId);
        }
        await SinglesAsync(again, tally, ct).ConfigureAwait(false);
    }

    private static bool Transient(int status) => status is 408 or 429 or 500 or 502 or 503 or 504;

    private sealed record BulkAnswer(IReadOnlyList<BulkResult> Results, TimeSpan Elapsed);

    /// <returns>The answer, or null when the request as a whole failed (the caller splits it or sends its operations one by one).</returns>
    private async Task<BulkAnswer?> SendAsync(string target, BulkBatch batch, CancellationToken ct)
    {
        using var activity = SyncTelemetry.Source.StartActivity("sync.bulk");
        activity?.SetTag("scimsync.operations", batch.Operations.Count);
        var sw = Stopwatch.StartNew();
        try
        {
            return new BulkAnswer(await client.BulkAsync(batch, ct).ConfigureAwait(false), sw.Elapsed);
        }
        catch (ScimClientException e)
        {
            if (TargetHealth.IsUnreachable(e)) Health?.MarkDown(e.Detail ?? e.Message);
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            SyncLog.BulkFailed(Logger, target, batch.Operations.Count, batch.Body.Length, e.Status, e.Detail ?? e.Message);
            return null;
        }
    }

    private async Task SinglesAsync(IEnumerable<PlannedOperation> ops, Tally tally, CancellationToken ct, ConcurrentDictionary<string, string>? createdGroups = null)
    {
        foreach (var op in ops)
        {
            var source = op switch
            {
                CreateGroup g => GroupKey(g.SourceGroupId),
                ChangeMembers m => GroupKey(m.SourceGroupId),
                _ => SourceOf(op),
            };
            if (tally.Unreachable(source)) continue;
            var (success, error) = await RunAsync(op, tally.OriginOf(source), tally.Level, ct, createdGroups).ConfigureAwait(false);
            tally.Finish(success, error, source);
        }
    }

    /// <summary>
    /// The accounts as the target holds them: by filter, a few dozen a request, when the target filters; else,
    /// and for any the filter did not return, one GET each.
    /// </summary>
    private async Task<Dictionary<string, JsonObject>> ReadBackAsync(IReadOnlyList<string> ids, bool filter, CancellationToken ct)
    {
        var found = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        try
        {
            if (filter)
                foreach (var chunk in ids.Chunk(ReadBackChunk))
                {
                    var query = string.Join(" or ", chunk.Select(id => "id eq " + System.Text.Json.JsonSerializer.Serialize(id, FilterLiteral)));
                    await foreach (var page in client.ListAsync("Users", new ListOptions { Filter = query, PageSize = chunk.Length }, ct).ConfigureAwait(false))
                    {
                        foreach (var r in page.Resources)
                            if (r["id"] is JsonValue v && v.TryGetValue<string>(out var id)) found[id] = r;
                        if (chunk.All(found.ContainsKey)) break;
                    }
                }
        }
        catch (ScimClientException e) when (!TargetHealth.IsUnreachable(e))
        {
            // A target that refuses the filter is read one account at a time below.
        }
        catch (ScimClientException e)
        {
            Health?.MarkDown(e.Detail ?? e.Message);
            return found;
        }
        foreach (var id in ids.Where(id => !found.ContainsKey(id)))
        {
            try
            {
                if (await client.GetAsync("Users", id, null, ct).ConfigureAwait(false) is { } r) found[id] = r;
            }
            catch (ScimClientException e)
            {
                // Created, but not readable now: the shadow records what was sent, and says so in the audit. A
                // target that stopped answering is not asked again for each of the others.
                if (!TargetHealth.IsUnreachable(e)) continue;
                Health?.MarkDown(e.Detail ?? e.Message);
                break;
            }
        }
        return found;
    }

    private static JsonObject WithId(JsonObject document, string id)
    {
        document["id"] = id;
        return document;
    }

    private AuditRecord FailureRecord(DateTimeOffset now, PlannedOperation op, ChangeOrigin origin, string? targetId, string? sourceId, TimeSpan elapsed, ScimClientException e,
        IReadOnlyList<AttributeChange> changes) =>
        Record(now, op, origin, targetId ?? TargetIdOf(op), sourceId ?? SourceOf(op), "failed", elapsed, FailureAdvice.Clamp(e.Detail ?? e.Message)) with
        {
            Status = e.Status == 0 ? null : e.Status, ScimType = e.ScimType, Changes = changes, Action = FailureAdvice.For(e.Status, noAnswer: e.Status == 0),
        };
}
