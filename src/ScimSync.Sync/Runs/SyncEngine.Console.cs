using ScimSync.Sync.Configuration;
using ScimSync.Sync.Inquiry;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// What the operator console asks of a watching engine beside the operator verbs: one person across every target
/// (the answer of <c>sync user</c>, by the same <see cref="PersonInquiry"/>), how the source's changes arrive,
/// how fast each target works, and the audit entry of a decision a person made there.
/// </summary>
public sealed partial class SyncEngine
{
    /// <summary>The configuration the engine runs with (the console reads its <c>console</c> section and the targets' names).</summary>
    public SyncConfig Config => _config;

    /// <summary>
    /// One person across every target, as <c>sync user</c> answers (<see cref="PersonInquiry"/>): the engine's state and
    /// one read of the person at the source, through the engine's own source connection; no target is called.
    /// </summary>
    /// <returns>Null when neither the source nor the state knows the person.</returns>
    public Task<PersonReport?> AskAboutAsync(string who, int history, CancellationToken ct)
    {
        IPersonSource people = _source is not null
            ? new ScimPersonSource(_source, _config.Kinds)
            : new FilePersonSource(_config.Source.FilePath!, _config.Source.Format, _config.Kinds);
        return new PersonInquiry(_config, _shadows, people, _time).AskAsync(who, history, ct);
    }

    /// <summary>
    /// How the source is doing: whether its changes arrive (failing since when, and why), and the newest change applied
    /// from its feed: its journal position, when it was made at the source and when the engine applied it (the lag).
    /// </summary>
    public SourceStatus SourceStatus()
    {
        var newest = _shadows.Log(new AuditQuery(Limit: 50)).FirstOrDefault(r => r.JournalPosition is not null);
        return new SourceStatus(_config.Source.Type == SourceType.Scim ? _config.Source.Feed.ToString() : "file", _sourceHealth.Failing?.Since, _sourceHealth.Failing?.Reason,
            newest?.JournalPosition, newest?.EventTime, newest?.Time, _status.Refused?.Count ?? 0,
            EngineCheckpoints.Time(_shadows.GetCheckpoint(EngineCheckpoints.LastRun)));
    }

    /// <summary>Operations on a target in the last <paramref name="window"/>, per minute, by result (from the provisioning log's time index).</summary>
    public IReadOnlyDictionary<string, double> OperationsPerMinute(string target, TimeSpan window)
    {
        var counts = _shadows.OperationCounts(Slot(target).Config.Name, _time.GetUtcNow() - window);
        return counts.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(1, window.TotalMinutes), StringComparer.Ordinal);
    }

    /// <summary>The verb of a person's decision in the provisioning log (<see cref="RecordDecision"/>; <see cref="IProvisioningLog.OperationCounts"/> leaves these out).</summary>
    public const string DecisionVerb = "decision";

    /// <summary>
    /// Writes a person's decision (confirming a hold, provisioning on demand, ...) to the provisioning log, with who made it:
    /// the operations it released are logged apart, under their own cause.
    /// </summary>
    public void RecordDecision(string target, string decision, string who, string result, string? detail)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(who);
        var entry = new AuditRecord(_time.GetUtcNow(), "console:" + who, target, DecisionVerb, decision, null, null, result, null, 0, detail) { Writer = who };
        _shadows.Batch(w => w.Audit(entry));
    }
}

/// <summary>How the source's changes reach the engine (<see cref="SyncEngine.SourceStatus"/>).</summary>
/// <param name="Mode">Poll (the source's event feed), LastModified (queries), or file.</param>
/// <param name="LastPosition">The journal position of the newest change applied from the feed.</param>
/// <param name="LastChangeAt">When that change was made at the source.</param>
/// <param name="LastAppliedAt">When the engine applied it: the lag is the difference.</param>
public sealed record SourceStatus(string Mode, DateTimeOffset? FailingSince, string? Failure, long? LastPosition, DateTimeOffset? LastChangeAt,
    DateTimeOffset? LastAppliedAt, long RefusedEvents, DateTimeOffset? LastRun)
{
    public TimeSpan? Lag => LastAppliedAt - LastChangeAt;
}
