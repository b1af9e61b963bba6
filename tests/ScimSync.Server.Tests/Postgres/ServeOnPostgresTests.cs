using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// The real `scimsync serve` binary on the test PostgreSQL server: the store named by flag, SCIMSYNC_STORE or
/// the configuration file; two instances sharing it; the token and status commands reaching the same database;
/// a store that cannot be used refused before serving. The URL carries a password throughout (the test cluster
/// trusts loopback, so any password is accepted), and no output may contain it.
/// Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class ServeOnPostgresTests : IAsyncLifetime
{
    private const string AdminToken = "pg-serve-admin";
    private const string Password = "pw-9c1e4f7a-not-for-printing";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-pgserve-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly List<Process> _processes = [];
    private string _connectionString = "";

    /// <summary>The store as it must be shown: postgres://postgres@127.0.0.1:PORT/postgres?schema=NAME.</summary>
    private string _url = "";

    /// <summary>The same URL with a password in it, as operators give it.</summary>
    private string Secret => _url.Replace("postgres@", $"postgres:{Password}@", StringComparison.Ordinal);

    private string KeyFile => Path.Combine(_root, "shared.key");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        (_connectionString, _url) = await PostgresServer.NewSchemaAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            p.Dispose();
        }
        await PostgresServer.DropSchemaAsync(_connectionString);
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private sealed record Server(Process Process, HttpClient Client, ConcurrentQueue<string> Output)
    {
        public string Text => string.Join('\n', Output);
    }

    /// <summary>Starts `scimsync serve` in its own data directory and waits until /healthz answers.</summary>
    private async Task<Server> StartAsync(string name, Dictionary<string, string>? env, params string[] args)
    {
        var port = ServeProcess.FreePort();
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", Path.Combine(_root, name), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = AdminToken;
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        var output = new ConcurrentQueue<string>();
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(p);
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!output.Any(l => l.Contains("serving SCIM 2.0", StringComparison.Ordinal)))
        {
            if (p.HasExited) Assert.Fail($"scimsync serve exited with {p.ExitCode}: {string.Join('\n', output)}");
            if (DateTime.UtcNow > deadline) Assert.Fail("scimsync serve did not start within 60 s");
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        return new Server(p, client, output);
    }

    /// <summary>Runs `scimsync ARGS` to completion (killed after 60 s: a serve that was to refuse and did not).</summary>
    private static async Task<(int Code, string Out, string Err)> RunAsync(Dictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = AdminToken;
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"scimsync {string.Join(' ', args.Select(a => a.Replace(Password, "***", StringComparison.Ordinal)))} did not exit within 60 s");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    private async Task<long> UsersInDatabaseAsync()
    {
        await using var c = new NpgsqlConnection(_connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM resources WHERE type = 'User'", c);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [SkippableFact]
    public async Task The_store_flag_serves_from_postgres_and_no_output_shows_its_password()
    {
        var server = await StartAsync("flag", null, "--store", Secret, "--instance", "flagged", "--key-file", KeyFile);
        var serving = Assert.Single(server.Output, l => l.Contains("serving SCIM 2.0", StringComparison.Ordinal));
        Assert.Contains($"(store: {_url}, instance: flagged, ", serving);
        Assert.Contains(server.Output, l => l.Contains("the password in --store is visible to anyone who can list processes", StringComparison.Ordinal));

        var id = await server.Client.CreateUserAsync(Unique("pg-flag"));
        Assert.Equal(1, await UsersInDatabaseAsync());
        Assert.False(File.Exists(Path.Combine(_root, "flag", "scimsync.db")), "the SQLite file was created although --store named PostgreSQL");

        // The token and status commands reach the same database: a token created there is accepted by the server.
        var (code, secret, err) = await RunAsync(null, "token", "create", "--name", "reader", "--scopes", "scim:read", "--store", Secret);
        Assert.True(code == 0, err);
        using (var reader = new HttpClient { BaseAddress = server.Client.BaseAddress })
        {
            reader.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret.Trim());
            Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync($"Users/{id}")).StatusCode);
        }
        var (statusCode, status, statusErr) = await RunAsync(new() { ["SCIMSYNC_STORE"] = Secret }, "status", "--json");
        Assert.True(statusCode == 0, statusErr);
        var facts = JsonNode.Parse(status)!.AsObject();
        Assert.Equal("postgres", facts["engine"]!.GetValue<string>());
        Assert.Equal(_url, facts["database"]!.GetValue<string>());
        Assert.Equal(1, facts["users"]!.GetValue<long>());

        ServeProcess.Terminate(server.Process);
        await server.Process.WaitForExitAsync();
        Assert.Equal(0, server.Process.ExitCode);
        Assert.DoesNotContain(Password, server.Text + status + statusErr + err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_environment_and_the_configuration_file_name_the_store_and_two_instances_share_it()
    {
        var config = Path.Combine(_root, "second.json");
        await File.WriteAllTextAsync(config, new JsonObject { ["store"] = Secret, ["instance"] = "from-file", ["key-file"] = KeyFile }.ToJsonString());
        var first = await StartAsync("env", new() { ["SCIMSYNC_STORE"] = Secret, ["SCIMSYNC_INSTANCE"] = "from-env" }, "--key-file", KeyFile);
        var second = await StartAsync("file", null, "--config-file", config);
        Assert.Contains(first.Output, l => l.Contains($"(store: {_url}, instance: from-env, ", StringComparison.Ordinal));
        Assert.Contains(second.Output, l => l.Contains($"(store: {_url}, instance: from-file, ", StringComparison.Ordinal));

        // Written through one, read through the other, in both directions.
        var a = await first.Client.CreateUserAsync(Unique("pg-env"));
        var b = await second.Client.CreateUserAsync(Unique("pg-file"));
        Assert.Equal(HttpStatusCode.OK, (await second.Client.GetScimAsync($"Users/{a}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await first.Client.GetScimAsync($"Users/{b}")).Status);
        Assert.Equal(2, await UsersInDatabaseAsync());

        // "sqlite" is the default said out loud: the data directory's file, not the database.
        var local = await StartAsync("local", new() { ["SCIMSYNC_STORE"] = "sqlite" });
        Assert.Contains(local.Output, l => l.Contains($"(data: {Path.Combine(_root, "local", "scimsync.db")}, ", StringComparison.Ordinal));
        await local.Client.CreateUserAsync(Unique("local"));
        Assert.Equal(2, await UsersInDatabaseAsync());

        Assert.DoesNotContain(Password, first.Text + second.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(first.Output, l => l.Contains("visible to anyone", StringComparison.Ordinal));
        Assert.DoesNotContain(second.Output, l => l.Contains("visible to anyone", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task A_store_that_cannot_be_used_stops_the_start_in_one_line_without_the_password()
    {
        var data = Path.Combine(_root, "refused");
        var unreachable = $"postgres://scim:{Password}@127.0.0.1:{ServeProcess.FreePort()}/scim";
        (string[] Args, Dictionary<string, string>? Env, int Code, string Message)[] cases =
        [
            (["--store", $"mysql://scim:{Password}@127.0.0.1/scim"], null, 2, "--store must be sqlite or a postgres://"),
            ([], new() { ["SCIMSYNC_STORE"] = $"postgres://scim:{Password}@127.0.0.1/scim?colour=blue" }, 3, "SCIMSYNC_STORE is not a usable PostgreSQL URL: Unknown option \"colour\""),
            (["--durability", "normal"], new() { ["SCIMSYNC_STORE"] = Secret }, 2, "--durability is for SQLite"),
            ([], new() { ["SCIMSYNC_STORE"] = unreachable }, 3, $"cannot open the store postgres://scim@127.0.0.1:{new Uri(unreachable).Port}/scim: "),
        ];
        foreach (var (args, env, code, message) in cases)
        {
            var (exit, stdout, stderr) = await RunAsync(env, ["serve", "--urls", $"http://127.0.0.1:{ServeProcess.FreePort()}", "--data", data, .. args]);
            Assert.True(exit == code, $"exit {exit}, expected {code}: {stderr}");
            var line = stderr.Trim();
            Assert.DoesNotContain('\n', line);
            Assert.StartsWith("scimsync: ", line);
            Assert.Contains(message, line);
            Assert.DoesNotContain(Password, stdout + stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("serving", stdout);
        }
    }
}
