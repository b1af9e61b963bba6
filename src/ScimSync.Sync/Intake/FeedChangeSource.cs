using System.Diagnostics;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>
/// The source's event feed (<see cref="SourceFeed"/>, or the JetStream stream it is relayed to: <see cref="JetStreamChanges"/>), long-polled. Each poll acknowledges the SETs of the
/// batch before it, once their changes are durably queued for every target (a crash re-delivers, never
/// loses), and reports as errors (RFC 8936 setErrs) the SETs refused: one that fails validation, or whose
/// resource cannot be read. A refused SET is logged and counted in the state (`sync status`), and the source
/// dead-letters it instead of delivering it again: one bad SET does not stop every change behind it.
/// </summary>
internal sealed class FeedChangeSource(IntakeContext context) : IChangeSource
{
    public async Task FollowAsync(CancellationToken ct)
    {
        var feed = context.Changes!;
        var reader = new ScimSourceReader(context.Source!, context.Config.Kinds);
        IReadOnlyCollection<string> ack = [];
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var polled = Stopwatch.StartNew();
                var poll = await feed.PollAsync(ack, errors, returnImmediately: false, ct).ConfigureAwait(false);
                context.Health.Works();
                ack = [];
                errors = [];
                // Reported on the next poll, whatever becomes of the rest of this batch.
                foreach (var r in poll.Refused) Refuse(errors, r);
                var changes = poll.Changes;
                if (changes.Count == 0) continue;
                var pollMs = polled.Elapsed.TotalMilliseconds;
                var unreadable = new List<RefusedSet>();
                // Urgent changes (and the other changes to the same resources, to keep their order) are
                // applied and queued before the rest of a large batch, so that they are not held up by it.
                var urgent = changes.Where(c => c.Urgent).Select(c => (c.ResourceType, c.Id)).ToHashSet();
                var first = changes.Where(c => urgent.Contains((c.ResourceType, c.Id))).ToArray();
                if (first.Length > 0 && first.Length < changes.Count)
                {
                    unreadable.AddRange(await context.Intake.ApplyAsync(first, reader, ct).ConfigureAwait(false));
                    SyncLog.FeedUrgentFirst(context.Log, first.Length, changes.Count, (long)(polled.Elapsed.TotalMilliseconds - pollMs));
                    unreadable.AddRange(await context.Intake.ApplyAsync(changes.Where(c => !urgent.Contains((c.ResourceType, c.Id))).ToArray(), reader, ct).ConfigureAwait(false));
                }
                else unreadable.AddRange(await context.Intake.ApplyAsync(changes, reader, ct).ConfigureAwait(false));
                SyncLog.FeedBatch(context.Log, changes.Count, (long)pollMs, (long)(polled.Elapsed.TotalMilliseconds - pollMs));
                // A trickle of events would otherwise cost a poll round trip each; a short pause lets a batch
                // form (at most this much latency, never when a backlog is being drained).
                if (changes.Count < 20 && !changes.Any(c => c.Urgent)) await Task.Delay(TimeSpan.FromMilliseconds(40), context.Time, ct).ConfigureAwait(false);
                foreach (var r in unreadable) Refuse(errors, r);
                ack = changes.Select(c => c.Jti).Where(jti => !errors.ContainsKey(jti)).Distinct().ToArray();
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // The source or the state failing (not one SET): nothing is acknowledged, the batch comes back.
                context.Health.Fails(e.Message);
                SyncLog.FeedFailed(context.Log, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), context.Time, ct).ConfigureAwait(false);
            }
        }
    }

    private void Refuse(Dictionary<string, string> errors, RefusedSet refused)
    {
        if (!errors.TryAdd(refused.Jti, refused.SetErr)) return;
        context.Health.Refused(refused);
    }
}
