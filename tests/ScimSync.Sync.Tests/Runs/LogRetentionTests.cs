using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Secrets;
using ScimSync.Server;
using ScimSync.Server.Hosting;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Runs;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;
using ScimSync.Sync.Tests.Observability;
using ScimSync.Sync.Tests.SqliteState;

namespace ScimSync.Sync.Tests.Runs;

/// <summary>
/// The provisioning log keeps its entries for <c>log.keepDays</c>: older ones are removed in bounded steps after a
/// run and hourly while watching. Time is a fake clock; the state is a real SQLite file, the target a real server
/// on loopback.
/// </summary>
public sealed class LogRetentionTests : IAsyncLifetime
{
    private const string Token = "retention-test-admin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-retention-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly DateTimeOffset _start = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
    private WebApplication? _target;
    private string _url = "";

    private string StateDir => Path.Combine(_root, "state");

    public async Task InitializeAsync()
    {
        var data = Path.Combine(_root, "target");
        PrivateFiles.EnsureDirectory(data, "data directory");
        _target = ScimServerHost.Build(new ScimServerOptions { DataDirectory = data, AdminToken = Token }, ["--urls", "http://127.0.0.1:0"]);
        await _target.StartAsync();
        _url = _target.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/scim/v2/";
        File.WriteAllText(Path.Combine(_root, "hr.csv"), """
            id,userName,givenName,familyName,email,kind,endDate,active
            e1,ann@example.com,Ann,Lee,ann@example.com,employee,,true
            """ + "\n");
    }

    public async Task DisposeAsync()
    {
        if (_target is not null) await _target.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static AuditRecord Entry(DateTimeOffset at, string sourceId) =>
        new(at, "run:old", "app", "update", $"user {sourceId} [t-{sourceId}]", "t-" + sourceId, sourceId, "ok", null, 1, null) { UserName = sourceId };

    private SqliteSyncState OpenState() => SqliteSyncState.Open(StateDir);

    [Fact]
    public void A_pass_removes_only_what_is_older_than_the_retention_and_at_most_its_steps()
    {
        var time = new FakeTimeProvider(_start);
        using var state = OpenState();
        state.Batch(w =>
        {
            for (var i = 0; i < 250; i++) w.Audit(Entry(_start.AddDays(-100).AddMinutes(i), "old" + i));
            w.Audit(Entry(_start.AddDays(-89), "recent"));
        });
        var retention = new LogRetention(state, TimeSpan.FromDays(90), time, NullLoggerFactoryFor.Tests.CreateLogger("test")) { StepSize = 50, MaxSteps = 3 };

        // Bounded: three steps of 50, the oldest first; the rest waits for the next pass.
        Assert.Equal(150, retention.Prune());
        var left = state.Log(new AuditQuery(Limit: 1000));
        Assert.Equal(101, left.Count);
        Assert.Equal(_start.AddDays(-100).AddMinutes(150), left.Min(e => e.Time));

        Assert.Equal(100, retention.Prune());
        Assert.Equal(["recent"], state.Log(new AuditQuery(Limit: 1000)).Select(e => e.SourceId));
        Assert.Equal(0, retention.Prune());

        // A day and a bit later the recent entry is past 90 days too.
        time.Advance(TimeSpan.FromDays(1.5));
        Assert.Equal(1, retention.Prune());
        Assert.Empty(state.Log(new AuditQuery()));
    }

    [Fact]
    public async Task The_engine_prunes_after_a_run_and_hourly_while_watching()
    {
        var config = Path.Combine(_root, "sync.yaml");
        File.WriteAllText(config, $$"""
            state: ./state
            source: { type: file, path: hr.csv }
            log: { keepDays: 30 }
            targets:
              - name: app
                url: {{_url}}
                auth: { type: bearer, token: {{Token}} }
            """);
        using (var before = OpenState())
            before.Batch(w =>
            {
                w.Audit(Entry(_start.AddDays(-45), "gone1"));
                w.Audit(Entry(_start.AddDays(-31), "gone2"));
                w.Audit(Entry(_start.AddDays(-20), "kept"));
            });

        var time = new FakeTimeProvider(_start);
        var logs = new CapturedLogs();
        var loaded = ConfigLoader.Load(config);
        using var engine = new SyncEngine(loaded, TestState.Open(loaded), time, logs);
        var run = await engine.RunAsync(confirm: false, null, default);
        Assert.True(run.Succeeded, string.Join("; ", run.Targets.Select(t => t.Error)));

        string[] Sources() => [.. engine.Shadows.Log(new AuditQuery(Limit: 100)).Select(e => e.SourceId ?? "(none)").Order()];
        // The run's own create of ann (source id e1) is written; what is older than 30 days is gone.
        Assert.Equal(["e1", "kept"], Sources());
        var pruned = Assert.Single(logs.WithId(3010));
        Assert.Equal(2, pruned["Removed"]);

        // Watching: eleven days on, the entry of 20 days ago is past 30 days, and the hourly pass removes it.
        using var stop = new CancellationTokenSource();
        var watching = engine.WatchAsync(null, stop.Token);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            time.Advance(TimeSpan.FromDays(11));
            while (Sources().Contains("kept"))
            {
                Assert.True(DateTime.UtcNow < deadline, "the entry past its retention is still in the log while watching");
                Assert.False(watching.IsCompleted, "watch mode ended early");
                time.Advance(LogRetention.Interval);
                await Task.Delay(50);
            }
            Assert.Equal(["e1"], Sources());
        }
        finally
        {
            await stop.CancelAsync();
            await watching;
        }
    }
}
