using System.Diagnostics.Metrics;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// How well group commit groups: SQLite write transactions of request writes committed, and the request
/// write sessions they carried (their ratio is the mean group size). Exported on the server's /metrics as
/// scimsync_store_group_commits_total and scimsync_store_group_members_total.
/// </summary>
internal sealed class StoreMetrics : IDisposable
{
    public const string MeterName = "ScimSync.Store";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _commits;
    private readonly Counter<long> _members;

    public StoreMetrics()
    {
        _commits = _meter.CreateCounter<long>("scimsync.store.group_commits", description: "SQLite transactions committed for request writes (one fsync each with synchronous=FULL)");
        _members = _meter.CreateCounter<long>("scimsync.store.group_members", description: "Request write sessions those transactions carried");
    }

    public void Committed(int members)
    {
        if (members == 0) return;
        _commits.Add(1);
        _members.Add(members);
    }

    public void Dispose() => _meter.Dispose();
}
