using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Intake;

/// <summary>
/// How the source is doing as the change sources find it: since when its feed or queries have been failing
/// (null while they work), and the SETs the engine refused. Readiness asks from the listener's threads while
/// the feed loop writes, hence the lock; the refused SETs are kept in the state, so `sync status` sees them.
/// </summary>
internal sealed class SourceHealth(ISyncState shadows, TimeProvider time, ILogger log)
{
    private readonly Lock _gate = new();
    private DateTimeOffset? _failingSince;
    private string? _failure;

    public (DateTimeOffset Since, string? Reason)? Failing
    {
        get
        {
            lock (_gate) return _failingSince is { } since ? (since, _failure) : null;
        }
    }

    public void Works()
    {
        lock (_gate) _failingSince = null;
    }

    public void Fails(string reason)
    {
        lock (_gate)
        {
            _failure = reason;
            _failingSince ??= time.GetUtcNow();
        }
    }

    /// <summary>A SET (or the change it carries) the engine will not apply: logged, and counted in the state with the last one.</summary>
    public void Refused(RefusedSet refused)
    {
        SyncLog.SetRefused(log, refused.Jti, refused.Err, refused.Description);
        var before = RefusedEvents.Read(shadows.GetCheckpoint(EngineCheckpoints.RefusedEvents));
        var record = new JsonObject
        {
            ["count"] = (before?.Count ?? 0) + 1, ["at"] = time.GetUtcNow().ToString("O"), ["jti"] = refused.Jti, ["reason"] = refused.SetErr,
        };
        shadows.SetCheckpoint(EngineCheckpoints.RefusedEvents, record.ToJsonString());
    }
}

/// <summary>The SETs from the source the engine refused (reported to the source as errors), as `sync status` shows them.</summary>
/// <param name="LastJti">The last one refused, under the jti the source's dead letters list it by.</param>
public sealed record RefusedEvents(int Count, DateTimeOffset LastAt, string LastJti, string LastReason)
{
    internal static RefusedEvents? Read(string? saved)
    {
        if (saved is null || JsonNode.Parse(saved) is not JsonObject o) return null;
        return new RefusedEvents(o["count"]?.GetValue<int>() ?? 0, EngineCheckpoints.Time(o["at"]?.GetValue<string>()) ?? default,
            o["jti"]?.GetValue<string>() ?? "", o["reason"]?.GetValue<string>() ?? "");
    }
}
