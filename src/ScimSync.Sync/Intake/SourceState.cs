using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Intake;

/// <summary>
/// The engine's copy of the source: read whole (a full run, watch mode's periodic comparison), then kept
/// current by the change sources. While a full read runs beside the feed, the changes the feed applies are
/// noted (the overlay) and laid over the read when it ends: the read may have fetched an account before its
/// change, and must not put the older state back. Every swap happens under one lock, so the later state is
/// the one that stays.
/// </summary>
internal sealed class SourceState(SyncConfig config, ScimClient? source, TimeProvider time)
{
    private readonly Lock _gate = new();
    private SourceSnapshot? _snapshot;
    private Dictionary<string, SourceAccount?>? _userOverlay;
    private Dictionary<string, SourceGroup?>? _groupOverlay;
    private int _readers;

    /// <summary>The current copy; null before the first read.</summary>
    public SourceSnapshot? Current => Volatile.Read(ref _snapshot);

    /// <summary>When the read behind <see cref="Current"/> started (lastModified queries look back from there).</summary>
    public DateTimeOffset Started { get; private set; }

    /// <summary>For a file source: the write time of the export <see cref="Current"/> was imported from.</summary>
    public DateTime FileStamp { get; private set; }

    public async Task<SourceSnapshot> ReadAsync(IProgress<SyncProgress>? progress, CancellationToken ct)
    {
        var p = progress is null ? null : new Progress<long>(n => progress.Report(new SyncProgress("source", "read", n, 0)));
        var started = time.GetUtcNow();
        if (source is null)
            lock (_gate)
            {
                // Read and swapped under the lock, like the file source's imports: the later read is the one that stays.
                if (File.Exists(config.Source.FilePath)) FileStamp = File.GetLastWriteTimeUtc(config.Source.FilePath);
                var imported = FileSource.Read(config.Source.FilePath!, config.Source.Format, config.Kinds);
                Volatile.Write(ref _snapshot, imported);
                Started = started;
                return imported;
            }

        lock (_gate)
        {
            _readers++;
            _userOverlay ??= new Dictionary<string, SourceAccount?>(StringComparer.Ordinal);
            _groupOverlay ??= new Dictionary<string, SourceGroup?>(StringComparer.Ordinal);
        }
        SourceSnapshot? read = null;
        using var deadline = new Deadline(config.Source.Endpoint!.Limits.ReadDeadline, time, ct);
        try
        {
            read = await new ScimSourceReader(source, config.Kinds).ReadAsync(p, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.Expired && !ct.IsCancellationRequested)
        {
            throw new ScimClientException(0, null, $"reading the source did not finish within {deadline} (source.limits.readTimeout)");
        }
        finally
        {
            lock (_gate)
            {
                if (read is not null)
                {
                    read = read.With(_userOverlay!.Values.OfType<SourceAccount>(), _userOverlay.Where(kv => kv.Value is null).Select(kv => kv.Key),
                        _groupOverlay!.Values.OfType<SourceGroup>(), _groupOverlay.Where(kv => kv.Value is null).Select(kv => kv.Key), null);
                    Volatile.Write(ref _snapshot, read);
                    Started = started;
                }
                if (--_readers == 0)
                {
                    _userOverlay = null;
                    _groupOverlay = null;
                }
            }
        }
        return read;
    }

    /// <summary>Lays a batch of changes over the copy (and over any full read in progress); returns the copy before and after.</summary>
    public (SourceSnapshot Was, SourceSnapshot Now) Apply(IReadOnlyCollection<SourceAccount> upserts, IReadOnlyCollection<string> deletes,
        IReadOnlyCollection<SourceGroup> groupUpserts, IReadOnlyCollection<string> groupDeletes)
    {
        lock (_gate)
        {
            var was = _snapshot!;
            var now = was.With(upserts, deletes, groupUpserts, groupDeletes, null);
            Volatile.Write(ref _snapshot, now);
            if (_userOverlay is not null)
            {
                foreach (var u in upserts) _userOverlay[u.Id] = u;
                foreach (var d in deletes) _userOverlay[d] = null;
            }
            if (_groupOverlay is not null)
            {
                foreach (var g in groupUpserts) _groupOverlay[g.Id] = g;
                foreach (var d in groupDeletes) _groupOverlay[d] = null;
            }
            return (was, now);
        }
    }

    /// <summary>
    /// A file source's new export: read, compared and swapped under the lock, so that a periodic full comparison
    /// reading the file at the same time cannot put an older import back after this one.
    /// </summary>
    /// <returns>The import before, the new one, and the keys that differ between them.</returns>
    public (SourceSnapshot Previous, SourceSnapshot Next, IReadOnlyCollection<string> Changed) Reimport(string path, DateTime stamp)
    {
        lock (_gate)
        {
            var previous = _snapshot!;
            var next = FileSource.Read(path, config.Source.Format, config.Kinds);
            var changed = FileSource.Diff(previous, next);
            Volatile.Write(ref _snapshot, next);
            FileStamp = stamp;
            return (previous, next, changed);
        }
    }
}
