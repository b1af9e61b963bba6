using ScimSync.Sync.Execution;

namespace ScimSync.Sync.Intake;

/// <summary>Contractors expire to the minute: every second, accounts whose end date just passed are queued, urgent.</summary>
internal sealed class ExpiryChangeSource(IntakeContext context) : IChangeSource
{
    public async Task FollowAsync(CancellationToken ct)
    {
        var (shadows, time) = (context.Shadows, context.Time);
        // From where the previous process stopped checking: an end date that passed while the engine was
        // down is acted on at once (re-queueing one already handled by a full run is harmless).
        var last = EngineCheckpoints.Time(shadows.GetCheckpoint(EngineCheckpoints.ExpiryCheckedUntil)) is { } saved && saved < time.GetUtcNow() ? saved : time.GetUtcNow();
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
            var now = time.GetUtcNow();
            var snapshot = context.State.Current!;
            var due = snapshot.Users.Values.Where(u => u.EndDate is { } e && e > last && e <= now).Select(u => u.Id).ToArray();
            try
            {
                shadows.Batch(w =>
                {
                    w.SetCheckpoint(EngineCheckpoints.ExpiryCheckedUntil, now.ToString("O"));
                    foreach (var id in due)
                    {
                        context.Lanes.QueueEverywhere(w, id, true, now);
                        context.Origins.Note(id, new ChangeOrigin("expiry"));
                    }
                });
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Not queued: the same end dates are looked at again next second.
                SyncLog.ExpiryFailed(context.Log, e.Message);
                continue;
            }
            last = now;
            foreach (var id in due)
                if (context.State.Current!.Users.GetValueOrDefault(id) is { EndDate: { } end } account)
                    SyncLog.Expired(context.Log, id, account.UserName, end, "expiry");
            if (due.Length > 0) context.Lanes.Wake(urgent: true);
        }
    }
}
