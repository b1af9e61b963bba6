using System.Collections.Concurrent;
using ScimSync.Sync.Execution;

namespace ScimSync.Sync.Lanes;

/// <summary>
/// Where the change last queued for each key came from (its cause, journal position and trace): written by the
/// change sources as they queue, read by the lanes for the audit, the logs and the trace of the operation that
/// applies it. Kept in memory only: a key queued by an earlier process is applied as "watch".
/// </summary>
internal sealed class ChangeOrigins
{
    private readonly ConcurrentDictionary<string, ChangeOrigin> _origins = new(StringComparer.Ordinal);

    public void Note(string key, ChangeOrigin origin) => _origins[key] = origin;

    public ChangeOrigin? Of(string key) => _origins.TryGetValue(key, out var origin) ? origin : null;
}
