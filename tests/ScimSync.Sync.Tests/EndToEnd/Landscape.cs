using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Client;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>One real `scimsync serve` process on a loopback port, with a client for seeding and assertions.</summary>
public sealed class Server : IAsyncDisposable
{
    private readonly string[] _args;
    private Process? _process;

    public string Name { get; }
    public int Port { get; private set; }
    public string Token { get; }
    public string DataDir { get; }
    public Uri ScimUrl => new($"http://127.0.0.1:{Port}/scim/v2/");
    public ScimClient Client { get; private set; }

    /// <summary>Everything the process printed (its log).</summary>
    public StringBuilder Output { get; } = new();

    private Server(string name, string root, string[] args)
    {
        Name = name;
        Token = "token-" + name;
        DataDir = Path.Combine(root, name);
        _args = args;
        MoveToFreePort();
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Client))]
    private void MoveToFreePort()
    {
        Port = Cli.FreePort();
        Client?.Dispose();
        Client = new ScimClient(new ScimClientOptions { BaseUri = ScimUrl, Auth = new ScimAuth.Bearer(Token), MaxRetries = 20 });
    }

    /// <summary>
    /// Starts a server on a free port. The port can be taken between <see cref="Cli.FreePort"/> and the server's bind
    /// (tests start many servers at once): the server then exits, and for a moment another test's server may be what
    /// answers on that port. A first start that loses its port moves to another one.
    /// </summary>
    public static async Task<Server> StartAsync(string name, string root, params string[] args)
    {
        var s = new Server(name, root, args);
        for (var attempt = 1; !await s.TryStartAsync(); attempt++)
        {
            if (attempt == 3) throw new InvalidOperationException($"{name}: scimsync serve exited three times ({s._process!.ExitCode}): {s.Output}");
            s.MoveToFreePort();
        }
        return s;
    }

    /// <summary>Starts the server again on its port (after <see cref="StopAsync"/>): the engine's configuration names it.</summary>
    public async Task StartAsync()
    {
        if (!await TryStartAsync()) throw new InvalidOperationException($"{Name}: scimsync serve exited with {_process!.ExitCode}");
    }

    /// <returns>True once this process answers; false when it exited (its port was taken, or it refused to start).</returns>
    private async Task<bool> TryStartAsync()
    {
        _process = Cli.Start(["serve", "--urls", $"http://127.0.0.1:{Port}", "--data", DataDir, .. _args], new() { ["SCIMSYNC_ADMIN_TOKEN"] = Token }, Output);
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // With this server's token: a server of another test answering on the same port refuses it (401).
        probe.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await probe.GetAsync($"{ScimUrl}Users?count=0")).StatusCode == HttpStatusCode.OK && !_process.HasExited) return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (_process.HasExited) return false;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{Name} did not answer within 60 s");
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(true);
            await _process.WaitForExitAsync();
        }
    }

    public async Task<List<JsonObject>> UsersAsync()
    {
        var all = new List<JsonObject>();
        await foreach (var page in Client.ListAsync("Users", new ListOptions(), CancellationToken.None)) all.AddRange(page.Resources);
        return all;
    }

    public async Task<List<JsonObject>> GroupsAsync()
    {
        var all = new List<JsonObject>();
        await foreach (var page in Client.ListAsync("Groups", new ListOptions(), CancellationToken.None)) all.AddRange(page.Resources);
        return all;
    }

    public Task<JsonObject> CreateUserAsync(string userName, string? kind = null, string? userType = null, string? department = null, DateTimeOffset? endDate = null, bool active = true)
    {
        var schemas = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User");
        var doc = new JsonObject
        {
            ["userName"] = userName,
            ["active"] = active,
            ["name"] = new JsonObject { ["givenName"] = userName.Split('@')[0], ["familyName"] = "Test" },
            ["emails"] = new JsonArray(new JsonObject { ["value"] = userName.Contains('@') ? userName : userName + "@example.com", ["type"] = "work" }),
        };
        if (userType is not null) doc["userType"] = userType;
        if (kind is not null || endDate is not null)
        {
            schemas.Add("urn:scimsync:params:scim:schemas:extension:account:2.0:User");
            var ext = new JsonObject();
            if (kind is not null) ext["kind"] = kind;
            if (endDate is { } e) ext["endDate"] = e.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ");
            doc["urn:scimsync:params:scim:schemas:extension:account:2.0:User"] = ext;
        }
        if (department is not null)
        {
            schemas.Add("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
            doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = new JsonObject { ["department"] = department };
        }
        doc["schemas"] = schemas;
        return Client.CreateAsync("Users", doc, CancellationToken.None);
    }

    public Task<JsonObject?> PatchAsync(string endpoint, string id, params JsonObject[] ops) => Client.PatchAsync(endpoint, id, ops, null, CancellationToken.None);

    public static JsonObject Replace(string path, JsonNode? value) => new() { ["op"] = "replace", ["path"] = path, ["value"] = value };

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Client.Dispose();
    }
}

/// <summary>Runs the real `scimsync` program (the build copied next to the tests).</summary>
public static class Cli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "scimsync.dll");

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static Process Start(IEnumerable<string> args, Dictionary<string, string>? env = null, StringBuilder? output = null)
    {
        var psi = new ProcessStartInfo("dotnet", [Dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        psi.Environment["NO_COLOR"] = "1";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Sends SIGTERM, as systemd and `kill` do (Process.Kill sends SIGKILL). `dotnet scimsync.dll` runs the program in
    /// its own process, so the signal reaches the engine itself.
    /// </summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -TERM {process.Id} exited with {kill.ExitCode}");
    }

    /// <summary>
    /// Runs to completion (at most <paramref name="timeout"/>) and returns the exit code and everything printed: standard
    /// output first, then standard error, so that a log line written while `--json` output streams cannot land inside it.
    /// </summary>
    public static async Task<(int Code, string Output)> RunAsync(TimeSpan timeout, params string[] args)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var psi = new ProcessStartInfo("dotnet", [Dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(true);
            lock (stdout) lock (stderr) throw new TimeoutException($"scimsync {string.Join(' ', args)} did not finish in {timeout}: {stdout}{stderr}");
        }
        p.WaitForExit();
        lock (stdout) lock (stderr) return (p.ExitCode, stdout.ToString() + stderr);
    }

    /// <summary>The first JSON value in a command's output (RunAsync's: standard output comes first), ignoring what follows it.</summary>
    public static JsonNode Json(string output)
    {
        var starts = new[] { output.IndexOf('{', StringComparison.Ordinal), output.IndexOf('[', StringComparison.Ordinal) }.Where(i => i >= 0).ToArray();
        if (starts.Length == 0) throw new FormatException("no JSON in the output: " + output);
        var reader = new System.Text.Json.Utf8JsonReader(Encoding.UTF8.GetBytes(output[starts.Min()..]));
        using var doc = System.Text.Json.JsonDocument.ParseValue(ref reader);
        return JsonNode.Parse(doc.RootElement.GetRawText())!;
    }
}

/// <summary>
/// The field scenario on loopback: an HR source and three applications with different limits. The
/// helpdesk caps pages at 100 and rate-limits with 429; the support desk has no PATCH; expenses is plain.
/// </summary>
public sealed class Landscape : IAsyncDisposable
{
    public required string Root { get; init; }
    public required Server Source { get; init; }
    public required Server Helpdesk { get; init; }
    public required Server Support { get; init; }
    public required Server Expenses { get; init; }
    public IEnumerable<Server> Targets => [Helpdesk, Support, Expenses];
    public string ConfigPath => Path.Combine(Root, "sync.yaml");

    public static async Task<Landscape> StartAsync(int helpdeskRate = 300)
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-e2e-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var servers = await Task.WhenAll(
            Server.StartAsync("hr", root),
            Server.StartAsync("helpdesk", root, "--max-results", "100", "--rate-limit", helpdeskRate.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Server.StartAsync("support", root, "--disable", "patch,bulk"),
            Server.StartAsync("expenses", root));
        return new Landscape { Root = root, Source = servers[0], Helpdesk = servers[1], Support = servers[2], Expenses = servers[3] };
    }

    /// <summary>Writes the engine configuration for this landscape; <paramref name="extra"/> is appended to every target.</summary>
    public string WriteConfig(string helpdeskExtra = "", string supportExtra = "", string expensesExtra = "", string sourceExtra = "")
    {
        var yaml = $"""
            state: ./state
            source:
              type: scim
              url: {Source.ScimUrl}
              auth: {"{"} type: bearer, token: {Source.Token} {"}"}
              pollInterval: 200ms
            {sourceExtra}
            targets:
              - name: helpdesk
                url: {Helpdesk.ScimUrl}
                auth: {"{"} type: bearer, token: {Helpdesk.Token} {"}"}
                limits: {"{"} maxPageSize: 100, maxRequestsPerSecond: 250, concurrency: 8 {"}"}
                scope: {"{"} kinds: [employee, contractor] {"}"}
                correlation: [externalId, userName]
                protected: {"{"} userNames: [admin] {"}"}
            {helpdeskExtra}
              - name: support
                url: {Support.ScimUrl}
                auth: {"{"} type: bearer, token: {Support.Token} {"}"}
                dialect: {"{"} usePut: true {"}"}
                scope:
                  filter: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Support"'
                  also: [named.person@example.com]
                protected: {"{"} kinds: [customer], userNames: [admin] {"}"}
            {supportExtra}
              - name: expenses
                url: {Expenses.ScimUrl}
                auth: {"{"} type: bearer, token: {Expenses.Token} {"}"}
                scope: {"{"} groups: [Expenses] {"}"}
                groups: {"{"} names: [Expenses], batchSize: 50 {"}"}
            {expensesExtra}
            """;
        File.WriteAllText(ConfigPath, yaml);
        return ConfigPath;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in new[] { Source, Helpdesk, Support, Expenses }) await s.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
