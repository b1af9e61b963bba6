using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>A file source: when the export changes, the accounts that differ from the previous import are queued.</summary>
internal sealed class FileChangeSource(IntakeContext context) : IChangeSource
{
    public async Task FollowAsync(CancellationToken ct)
    {
        var path = context.Config.Source.FilePath!;
        var stamp = context.State.FileStamp; // as of the import the engine holds: a file replaced since then is read at once
        DateTime rejected = default;
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(context.Config.Source.PollInterval, context.Time, ct).ConfigureAwait(false);
            var now = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : default;
            if (now == stamp) continue;
            try
            {
                var (previous, next, changed) = context.State.Reimport(path, now);
                SyncLog.FileImported(context.Log, path, changed.Count);
                var at = context.Time.GetUtcNow();
                // Leavers first: an account gone from the export, or no longer active in it.
                bool Urgent(string key) => !key.StartsWith("group:", StringComparison.Ordinal) &&
                    (next.Users.GetValueOrDefault(key) is not { } after || !after.ActiveAt(at) && (previous.Users.GetValueOrDefault(key)?.ActiveAt(at) ?? false));
                context.Shadows.Batch(w =>
                {
                    foreach (var key in changed) context.Lanes.QueueEverywhere(w, key, Urgent(key), at);
                });
                context.Lanes.Wake(changed.Any(Urgent));
                stamp = now;
            }
            catch (Exception e) when (e is SourceFileRejectedException or IOException)
            {
                // Read again next time (a file caught half-written becomes whole); said once per version of the file.
                if (now != rejected) SyncLog.FileRejected(context.Log, path, e.Message);
                rejected = now;
            }
        }
    }
}
