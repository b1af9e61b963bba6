using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Guard;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Execution;

/// <summary>How a full read of a target went.</summary>
/// <param name="Problems">Why the read cannot be trusted to hold everything the target has; empty when it can.</param>
public sealed record TargetRead(int Accounts, IReadOnlyList<string> Problems)
{
    public bool Complete => Problems.Count == 0;
}

/// <summary>
/// Reads a whole target into its shadow: every account, and the groups this target receives with their
/// members. Used by full runs and reconciliation; incremental work plans from the shadow alone.
/// </summary>
/// <remarks>
/// A read fails closed. Only a complete read may say that an account is gone: the shadow forgets what a
/// read did not see only when the walk added up (see <see cref="ListWalk"/>) and found about as many
/// accounts as the shadow holds (<see cref="MassChangeGuard.CheckShrink"/>: the last complete read, and
/// what the engine created since). After an incomplete
/// read the shadow keeps what it knew, the read is recorded as incomplete with its reasons, and the caller
/// plans no deletion, unlink or repair from it.
/// </remarks>
public sealed class TargetReader(ScimClient client, ISyncState shadows, TimeProvider time)
{
    /// <param name="acceptShrink">A person confirmed (--confirm) that the target really holds far fewer accounts than before.</param>
    public async Task<TargetRead> RefreshAsync(TargetConfig target, bool acceptShrink, IProgress<long>? progress, CancellationToken ct)
    {
        var started = time.GetUtcNow();
        var last = shadows.LastRead(target.Name);
        // What the engine believes the target holds: its last complete read, and what the engine created since.
        var known = shadows.Counts(target.Name).Accounts;
        var problems = new List<string>();
        var users = new ListWalk();
        try
        {
            await ReadAccountsAsync(target, users, progress, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Record(target, started, (int)users.Resources, ["the read stopped part-way: " + e.Message], last);
            throw;
        }
        var accounts = (int)Math.Min(users.Resources, int.MaxValue);
        problems.AddRange(users.Irregularities.Select(i => "accounts: " + i));
        if (!acceptShrink && target.Guard.CheckShrink(accounts, known) is { } shrink)
            problems.Add(shrink + "; confirm with --confirm if the application really lost them");
        if (problems.Count == 0) shadows.Batch(w => w.ForgetUnseen(target.Name, started.AddTicks(1)));

        if (target.Groups.All || target.Groups.Names.Count > 0)
            await ReadGroupsAsync(target, problems, ct).ConfigureAwait(false);
        Record(target, started, accounts, problems, last);
        return new TargetRead(accounts, problems);
    }

    private void Record(TargetConfig target, DateTimeOffset started, int accounts, IReadOnlyList<string> problems, TargetReadRecord? last)
    {
        var complete = problems.Count == 0;
        shadows.Batch(w => w.RecordRead(new TargetReadRecord(target.Name, started, accounts, complete, complete ? null : string.Join("; ", problems),
            complete ? started : last?.LastCompleteAt, complete ? accounts : last?.LastCompleteAccounts)));
    }

    private async Task ReadAccountsAsync(TargetConfig target, ListWalk walk, IProgress<long>? progress, CancellationToken ct)
    {
        var started = time.GetUtcNow();
        // The next pages are fetched (and parsed) while the current one is written to the shadow.
        var pages = System.Threading.Channels.Channel.CreateBounded<IReadOnlyList<JsonObject>>(2);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var page in client.ListAsync("Users", new ListOptions { ExcludedAttributes = "groups", ReadAhead = true }, walk, stop.Token).ConfigureAwait(false))
                    await pages.Writer.WriteAsync(page.Resources, stop.Token).ConfigureAwait(false);
                pages.Writer.Complete();
            }
            catch (Exception e)
            {
                pages.Writer.Complete(e);
            }
        }, CancellationToken.None);
        try
        {
            var count = 0L;
            await foreach (var resources in pages.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                var seen = time.GetUtcNow();
                var at = seen > started ? seen : started.AddTicks(1);
                var accounts = new List<TargetAccount>(resources.Count);
                foreach (var doc in resources)
                    if (doc["id"] is JsonValue id && id.TryGetValue<string>(out var tid) && tid.Length > 0)
                        accounts.Add(new TargetAccount(tid, doc));
                shadows.Batch(w =>
                {
                    foreach (var account in accounts) w.PutAccount(target.Name, account, at);
                });
                count += accounts.Count;
                progress?.Report(count);
            }
        }
        finally
        {
            // A failed write stops the reader too (it would otherwise wait on a full channel forever).
            await stop.CancelAsync().ConfigureAwait(false);
            await reading.ConfigureAwait(false);
        }
        // The channel completed with the reader's exception, if any, and ReadAllAsync threw it above.
    }

    private async Task ReadGroupsAsync(TargetConfig target, List<string> problems, CancellationToken ct)
    {
        var walk = new ListWalk();
        var groups = new List<(string Id, string Name, string? ExternalId)>();
        await foreach (var page in client.ListAsync("Groups", new ListOptions { ExcludedAttributes = "members", ReadAhead = true }, walk, ct).ConfigureAwait(false))
            foreach (var g in page.Resources)
                if (g["id"] is JsonValue idValue && idValue.TryGetValue<string>(out var id) && id.Length > 0)
                    groups.Add((id, g["displayName"] is JsonValue n && n.TryGetValue<string>(out var name) ? name : "",
                        g["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) ? ext : null));
        problems.AddRange(walk.Irregularities.Select(i => "groups: " + i));
        // Only groups this target receives are read with their members (once, in a full read), several at a time.
        await Parallel.ForEachAsync(groups.DistinctBy(g => g.Id), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (g, token) =>
        {
            IReadOnlyList<string> members = [];
            if (target.Groups.Includes(g.Name) && await client.GetAsync("Groups", g.Id, "members", token).ConfigureAwait(false) is { } full)
                members = (full["members"] as JsonArray ?? []).Select(m => m?["value"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null).OfType<string>().ToArray();
            await shadows.WriteAsync(w =>
            {
                w.PutGroup(target.Name, g.Id, g.Name, g.ExternalId);
                w.ReplaceGroupMembers(target.Name, g.Id, members);
            }).ConfigureAwait(false);
        }).ConfigureAwait(false);
        // Groups missing from a listing that does not add up are not taken as deleted.
        if (walk.Complete) shadows.Batch(w => w.ForgetGroupsExcept(target.Name, groups.Select(g => g.Id).ToArray()));
    }
}
