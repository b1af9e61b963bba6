using System.Net.Http.Headers;
using System.Text.Json.Nodes;
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
using ScimSync.Sync.Tests.Observability;

using ScimSync.Sync.Tests.SqliteState;

namespace ScimSync.Sync.Tests.Runs;

/// <summary>
/// A contractor whose end date passes after a full run planned them as active, but before watch mode's first
/// expiry check, is deactivated by that check: the run tells the check from when end dates still need looking
/// at. Time is a fake clock; the target is a real server on loopback.
/// </summary>
public sealed class ExpiryAfterRunTests : IAsyncLifetime
{
    private const string Token = "expiry-test-admin";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-expiry-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly DateTimeOffset _start = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
    private WebApplication? _target;
    private HttpClient? _http;
    private string _config = "";

    public async Task InitializeAsync()
    {
        var data = Path.Combine(_root, "target");
        PrivateFiles.EnsureDirectory(data, "data directory");
        _target = ScimServerHost.Build(new ScimServerOptions { DataDirectory = data, AdminToken = Token }, ["--urls", "http://127.0.0.1:0"]);
        await _target.StartAsync();
        var url = _target.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/scim/v2/";
        _http = new HttpClient { BaseAddress = new Uri(url) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        // Ends half a minute after the run; the engine only starts watching a minute after it.
        var end = _start.AddSeconds(30).ToString("yyyy-MM-ddTHH:mm:ssZ");
        File.WriteAllText(Path.Combine(_root, "hr.csv"), $"""
            id,userName,givenName,familyName,email,kind,endDate,active
            e1,ann@example.com,Ann,Lee,ann@example.com,employee,,true
            c1,cat@example.com,Cat,Roe,cat@example.com,contractor,{end},true
            """ + "\n");
        _config = Path.Combine(_root, "sync.yaml");
        File.WriteAllText(_config, $"""
            state: ./state
            source: {"{"} type: file, path: hr.csv {"}"}
            targets:
              - name: app
                url: {url}
                auth: {"{"} type: bearer, token: {Token} {"}"}
            """);
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_target is not null) await _target.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task An_end_date_between_the_run_and_the_first_expiry_check_is_acted_on()
    {
        var time = new FakeTimeProvider(_start);
        var config = ConfigLoader.Load(_config);
        using var engine = new SyncEngine(config, TestState.Open(config), time, NullLoggerFactoryFor.Tests);
        var run = await engine.RunAsync(confirm: false, null, default);
        Assert.True(run.Succeeded, string.Join("; ", run.Targets.Select(t => t.Error)));
        Assert.True(await ActiveAsync("cat@example.com"));

        time.Advance(TimeSpan.FromMinutes(1));
        using var stop = new CancellationTokenSource();
        var watching = engine.WatchAsync(null, stop.Token);
        try
        {
            // The expiry check runs once a second of the engine's clock; the queue applies what it finds.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (await ActiveAsync("cat@example.com"))
            {
                Assert.True(DateTime.UtcNow < deadline, "the contractor is still active on the target a minute after their end date");
                Assert.False(watching.IsCompleted, "watch mode ended early");
                time.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(50);
            }
            Assert.True(await ActiveAsync("ann@example.com"));
        }
        finally
        {
            await stop.CancelAsync();
            await watching;
        }
    }

    private async Task<bool> ActiveAsync(string userName)
    {
        var list = JsonNode.Parse(await _http!.GetStringAsync($"Users?filter=userName%20eq%20%22{userName}%22"))!;
        return list["Resources"]![0]!["active"]!.GetValue<bool>();
    }
}
