using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// The store's telemetry (docs/telemetry.md). Metrics: how well group commit groups (SQLite write transactions
/// of request writes committed, and the request write sessions they carried: their ratio is the mean group
/// size), and how long reads take, by kind, lists tagged with whether they scan. Spans (only while a tracer
/// listens): store.find, store.query, journal.append and store.commit, beneath the request that caused them.
/// </summary>
internal sealed class StoreMetrics : IDisposable
{
    public const string MeterName = "ScimSync.Store";

    public static readonly ActivitySource Source = new(MeterName, typeof(StoreMetrics).Assembly.GetName().Version?.ToString(3));

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _commits;
    private readonly Counter<long> _members;
    private readonly Histogram<double> _reads;

    public StoreMetrics()
    {
        _commits = _meter.CreateCounter<long>("scimsync.store.group_commits", description: "SQLite transactions committed for request writes (one fsync each with synchronous=FULL)");
        _members = _meter.CreateCounter<long>("scimsync.store.group_members", description: "Request write sessions those transactions carried");
        _reads = _meter.CreateHistogram<double>("scimsync.store.read.duration", "s",
            "Time a read took, waiting for a reader connection included: find (one resource by id), query (a list or search; scan says whether no index narrowed it)");
    }

    public void Committed(int members)
    {
        if (members == 0) return;
        _commits.Add(1);
        _members.Add(members);
    }

    public void Read(string kind, long startedTimestamp) =>
        _reads.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("kind", kind));

    public void Query(bool scans, long startedTimestamp) =>
        _reads.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>("kind", "query"), new KeyValuePair<string, object?>("scan", scans));

    public void Dispose() => _meter.Dispose();
}
