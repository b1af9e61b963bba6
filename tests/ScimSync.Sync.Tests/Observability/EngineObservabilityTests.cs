using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Cli;
using ScimSync.Secrets;
using ScimSync.Server;
using ScimSync.Server.Hosting;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Runs;

using ScimSync.Sync.Tests.SqliteState;

namespace ScimSync.Sync.Tests.Observability;

/// <summary>
/// The engine against a real target (our server, in-process on loopback) fed by an HR file: what it logs, with
/// which fields; what it records when the target stops answering; how `sync status` and the watch listener's
/// readiness judge that by the configured time; and the listener's metrics under their documented names.
/// </summary>
public sealed class EngineObservabilityTests : IAsyncLifetime
{
    private const string Token = "engine-test-admin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-engine-obs-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication? _target;
    private string _config = "";

    public async Task InitializeAsync()
    {
        var data = Path.Combine(_root, "target");
        PrivateFiles.EnsureDirectory(data, "data directory");
        _target = ScimServerHost.Build(new ScimServerOptions { DataDirectory = data, AdminToken = Token }, ["--urls", "http://127.0.0.1:0"]);
        await _target.StartAsync();
        var url = _target.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/scim/v2";
        File.WriteAllText(Path.Combine(_root, "hr.csv"), """
            id,userName,givenName,familyName,email,kind,active
            e1,ann@example.com,Ann,Lee,ann@example.com,employee,true
            e2,bob@example.com,Bob,Ray,bob@example.com,employee,true
            """ + "\n");
        _config = Path.Combine(_root, "sync.yaml");
        File.WriteAllText(_config, $"""
            state: ./state
            source: {"{"} type: file, path: hr.csv {"}"}
            targets:
              - name: app
                url: {url}
                auth: {"{"} type: bearer, token: {Token} {"}"}
            health: {"{"} unreachableFor: 5m {"}"}
            """);
    }

    public async Task DisposeAsync()
    {
        if (_target is not null) await _target.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Operations_and_an_outage_are_logged_with_their_fields_and_judged_by_the_configured_time()
    {
        var config = ConfigLoader.Load(_config);
        var logs = new CapturedLogs(LogLevel.Debug);
        DateTimeOffset down;
        using (var engine = new SyncEngine(config, TestState.Open(config), TimeProvider.System, logs))
        {
            var first = await engine.RunAsync(confirm: false, null, default);
            Assert.True(first.Succeeded, string.Join("; ", first.Targets.Select(t => t.Error)));

            // Each applied operation: an entry with the fields a JSON log carries (Debug in a full run).
            var created = logs.WithId(3500).Where(e => (string?)e["Operation"] == "create").ToArray();
            Assert.Equal(2, created.Length);
            Assert.All(created, e =>
            {
                Assert.Equal(LogLevel.Debug, e.Level);
                Assert.Equal(("app", "ok"), (e["Target"], e["Result"]));
                Assert.StartsWith("run:", (string)e["Cause"]!);
                Assert.NotNull(e["TargetId"]);
            });
            Assert.Equal(["e1", "e2"], created.Select(e => (string)e["SourceId"]!).Order());
            Assert.Single(logs.WithId(3001), e => (string?)e["Target"] == "app");
            Assert.Empty(engine.Status().Single().Attention);

            // The target stops answering.
            await _target!.StopAsync();
            var second = await engine.RunAsync(confirm: false, null, default);
            Assert.NotNull(second.Targets.Single().Error);
            var outage = Assert.Single(logs.WithId(3200));
            Assert.Equal(LogLevel.Warning, outage.Level);
            Assert.Equal("app", outage["Target"]);
            Assert.False(string.IsNullOrEmpty((string?)outage["Reason"]));
            // The client said why it retried, naming the target.
            Assert.Contains(logs.WithId(4000), e => (string?)e["Client"] == "app");
            Assert.Single(logs.WithId(3002), e => (string?)e["Target"] == "app");

            var status = engine.Status().Single();
            down = status.UnreachableSince ?? throw new InvalidOperationException("no outage recorded");
            // Down for less than health.unreachableFor (5 minutes): that alone needs no person yet; the read it
            // cut short does (nothing is removed on the target until a complete one).
            Assert.StartsWith("the last read", Assert.Single(status.Attention));
        }

        // Another process (`sync status`, the next engine) reads the outage from the state and judges it by its own clock.
        var later = new FakeTimeProvider(down + TimeSpan.FromMinutes(1));
        using (var engine = new SyncEngine(config, TestState.Open(config), later, NullLoggerFactoryFor.Tests))
        {
            Assert.DoesNotContain(engine.Status().Single().Attention, a => a.StartsWith("not answering", StringComparison.Ordinal));
            later.Advance(TimeSpan.FromMinutes(5));
            var status = engine.Status().Single();
            Assert.True(status.NeedsAttention);
            Assert.Contains(status.Attention, a => a.StartsWith("not answering since", StringComparison.Ordinal));
            Assert.False(engine.Readiness().Ready);

            await using var listener = await EngineListener.StartAsync(engine, "127.0.0.1:0", null, otlp: false, default);
            using var http = new HttpClient { BaseAddress = listener.Address };
            var ready = await http.GetAsync("/healthz/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!;
            Assert.Equal("Unhealthy", body["status"]!.GetValue<string>());
            Assert.Contains("app: not answering since", body["checks"]!["engine"]!["description"]!.GetValue<string>());
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz/live")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

            var metrics = await http.GetStringAsync("/metrics");
            Assert.Matches("target_info\\{[^}]*service_name=\"scimsync-engine\"", metrics);
            Assert.Matches("scimsync_engine_target_up\\{[^}]*target=\"app\"[^}]*\\} 0", metrics);
            foreach (var name in new[] { "scimsync_engine_queue_depth", "scimsync_engine_queue_oldest_age_seconds", "scimsync_engine_guard_held", "scimsync_engine_last_complete_run_time_seconds" })
                Assert.Matches(name + "\\{[^}]*target=\"app\"", metrics);
        }
    }

    [Fact]
    public async Task The_operations_counter_is_scraped_under_its_documented_name()
    {
        var config = ConfigLoader.Load(_config);
        using var engine = new SyncEngine(config, TestState.Open(config), TimeProvider.System, NullLoggerFactoryFor.Tests);
        // Listening before the run: counters count what happens while a meter listener exists.
        await using var listener = await EngineListener.StartAsync(engine, "127.0.0.1:0", null, otlp: false, default);
        Assert.True((await engine.RunAsync(confirm: false, null, default)).Succeeded);
        using var http = new HttpClient { BaseAddress = listener.Address };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Matches("scimsync_engine_operations_total\\{(?=[^}]*operation=\"create\")(?=[^}]*result=\"ok\")(?=[^}]*target=\"app\")[^}]*\\} 2", metrics);
        Assert.Matches("scimsync_engine_operation_duration_seconds_count\\{[^}]*target=\"app\"", metrics);
        Assert.Matches("scimsync_engine_target_up\\{[^}]*target=\"app\"[^}]*\\} 1", metrics);
        Assert.Matches("http_client_request_duration_seconds_count\\{", metrics);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz/ready")).StatusCode);
    }
}

internal static class NullLoggerFactoryFor
{
    public static ILoggerFactory Tests => Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
}
