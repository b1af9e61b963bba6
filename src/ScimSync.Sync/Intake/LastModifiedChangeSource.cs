using ScimSync.Client;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>For sources without a feed: accounts modified since the last look are queued; deletions wait for the full comparison.</summary>
internal sealed class LastModifiedChangeSource(IntakeContext context) : IChangeSource
{
    public async Task FollowAsync(CancellationToken ct)
    {
        var (config, shadows, time) = (context.Config, context.Shadows, context.Time);
        // From the checkpoint (a resumed engine finds what changed while it was stopped), else from when the
        // snapshot started to be read: anything modified during a long run is picked up.
        var since = EngineCheckpoints.Time(shadows.GetCheckpoint(EngineCheckpoints.LastModifiedSince)) ?? context.State.Started - TimeSpan.FromSeconds(5);
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(config.Source.PollInterval, time, ct).ConfigureAwait(false);
            try
            {
                var started = time.GetUtcNow();
                var changes = new List<SourceChange>();
                foreach (var type in new[] { "Users", "Groups" })
                    await foreach (var page in context.Source!.ListAsync(type, new ListOptions { Filter = $"meta.lastModified gt \"{since.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\"" }, ct).ConfigureAwait(false))
                        foreach (var doc in page.Resources)
                            if (doc["id"]?.GetValue<string>() is { } id)
                                changes.Add(new SourceChange("", type == "Users" ? "User" : "Group", id, false, false, null, doc, null));
                // Clocks of two machines disagree a little: look back a few seconds each time (re-applying is harmless).
                if (changes.Count > 0)
                {
                    // A resource that cannot be read has no SET to refuse: it is said, and found again by the next full comparison.
                    foreach (var r in await context.Intake.ApplyAsync(changes, new ScimSourceReader(context.Source!, config.Kinds), ct).ConfigureAwait(false))
                        SyncLog.LastModifiedFailed(context.Log, r.Description);
                }
                since = started - TimeSpan.FromSeconds(5);
                shadows.SetCheckpoint(EngineCheckpoints.LastModifiedSince, since.ToString("O"));
                context.Health.Works();
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                context.Health.Fails(e.Message);
                SyncLog.LastModifiedFailed(context.Log, e.Message);
            }
        }
    }
}
