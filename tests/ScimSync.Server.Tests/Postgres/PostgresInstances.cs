using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScimSync.Secrets;
using ScimSync.Server.Hosting;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// Several server instances on one PostgreSQL schema, as operators run them: each its own data directory, one key
/// file shared by all (the signing keys sealed in the database must open on every instance). In-process hosts
/// built by ScimServerHost, or real `scimsync serve --store` processes where a test must kill one with SIGKILL.
/// </summary>
internal sealed class PostgresInstances : IAsyncDisposable
{
    public const string AdminToken = "pg-admin-token";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-tests", "pg-" + Guid.NewGuid().ToString("N"));
    private readonly List<WebApplication> _apps = [];
    private readonly List<Process> _processes = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, System.Collections.Concurrent.ConcurrentQueue<string>> _output = new();

    public string ConnectionString { get; private set; } = "";
    public string Url { get; private set; } = "";
    public string Tag { get; } = Guid.NewGuid().ToString("N")[..8];
    public List<HttpClient> Clients { get; } = [];
    public List<IServiceProvider> Services { get; } = [];

    private string KeyFile => Path.Combine(_root, "shared.key");

    public static async Task<PostgresInstances> CreateAsync()
    {
        var i = new PostgresInstances();
        PrivateFiles.EnsureDirectory(i._root, "test root");
        (i.ConnectionString, i.Url) = await PostgresServer.NewSchemaAsync();
        return i;
    }

    public string InstanceName(int i) => $"{Tag}-{i}";

    private string DataDirectory(int i)
    {
        var dir = Path.Combine(_root, "data" + i);
        PrivateFiles.EnsureDirectory(dir, "data directory");
        return dir;
    }

    /// <summary>Starts an in-process instance; returns its index.</summary>
    public async Task<int> StartInProcessAsync()
    {
        var i = Clients.Count;
        var options = new ScimServerOptions
        {
            DataDirectory = DataDirectory(i),
            KeyFile = KeyFile,
            AdminToken = AdminToken,
            EventIssuer = "https://scimsync.test",
            Store = Url,
            InstanceName = InstanceName(i),
        };
        var app = ScimServerHost.Build(options, ["--urls", "http://127.0.0.1:0"]);
        await app.StartAsync();
        _apps.Add(app);
        Services.Add(app.Services);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Clients.Add(Client(new Uri(address.TrimEnd('/') + "/scim/v2/")));
        return i;
    }

    /// <summary>Starts a real server process (`scimsync serve`) and waits until it answers; returns its index.</summary>
    public async Task<(int Index, Process Process)> StartProcessAsync(params string[] extra)
    {
        var i = Clients.Count;
        var port = ServeProcess.FreePort();
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, "serve", "--urls", $"http://127.0.0.1:{port}",
            "--data", DataDirectory(i), "--key-file", KeyFile, "--store", Url, "--instance", InstanceName(i), .. extra])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = AdminToken;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(p);
        _output[i] = output;
        var client = Client(new Uri($"http://127.0.0.1:{port}/scim/v2/"));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await client.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK) break;
            }
            catch (HttpRequestException) { }
            if (p.HasExited) throw new InvalidOperationException($"scimsync serve exited with {p.ExitCode}: {string.Join('\n', output)}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException("scimsync serve did not answer /healthz within 60 s");
            await Task.Delay(100);
        }
        Clients.Add(client);
        return (i, p);
    }

    /// <summary>What the process of instance <paramref name="i"/> has written so far (stdout and stderr, by line).</summary>
    public IReadOnlyList<string> Output(int i) => _output.TryGetValue(i, out var lines) ? [.. lines] : [];

    private static HttpClient Client(Uri baseAddress)
    {
        var c = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return c;
    }

    /// <summary>Which instance's lease session holds the lease <paramref name="name"/> now, or null.</summary>
    public async Task<string?> LeaseHolderAsync(string name)
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(current_schema() || '/' || $1, 0)
            """, c) { Parameters = { new() { Value = name } } };
        return await cmd.ExecuteScalarAsync() is string app ? app["scimsync-lease:".Length..] : null;
    }

    /// <summary>POST to the feed API of instance <paramref name="i"/>.</summary>
    public async Task<JsonObject> PostFeedAsync(int i, string path, JsonObject body)
    {
        using var content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var r = await Clients[i].PostAsync("/feeds/v1/subscriptions" + path, content);
        var text = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)r.StatusCode} from {path}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            p.Dispose();
        }
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        foreach (var c in Clients) c.Dispose();
        await PostgresServer.DropSchemaAsync(ConnectionString);
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
