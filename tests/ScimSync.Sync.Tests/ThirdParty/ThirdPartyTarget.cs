using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace ScimSync.Sync.Tests.ThirdParty;

/// <summary>
/// A SCIM service provider written by someone else, run as a real separate process on loopback: SCIMMY
/// (Node.js, tests/ThirdPartyTargets/scimmy) or the quirk target (tests/ScimSync.QuirkTarget, imitating
/// python scim2-server and SimpleIdServer). Both pick a free port, answer under /scim/v2, expose the raw
/// stored resources at /_admin, and take "down" / "up" on stdin to simulate an outage of the application.
/// </summary>
public sealed class ThirdPartyTarget : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private static readonly SemaphoreSlim NpmGate = new(1, 1);

    private readonly Process _process;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _log = new();
    private readonly SemaphoreSlim _commands = new(1, 1);

    public string Name { get; }
    public string Token { get; }
    public int Port { get; private set; }
    public Uri ScimUrl => new($"http://127.0.0.1:{Port}/scim/v2/");
    /// <summary>Bearer token set, base address the SCIM root: use relative paths such as "Users?count=10".</summary>
    public HttpClient Http { get; private set; } = null!;

    private ThirdPartyTarget(string name, string token, ProcessStartInfo psi)
    {
        Name = name;
        Token = token;
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _stdout.Writer.TryComplete(); return; }
            lock (_log) _log.AppendLine(e.Data);
            _stdout.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
    }

    /// <summary>Everything the process printed so far (for failure messages).</summary>
    public string Output
    {
        get { lock (_log) return _log.ToString(); }
    }

    public static async Task<ThirdPartyTarget> StartScimmyAsync(string name)
    {
        var dir = Path.Combine(RepoRoot, "tests", "ThirdPartyTargets", "scimmy");
        await EnsureNodeModulesAsync(dir);
        var token = NewToken(name);
        var psi = new ProcessStartInfo("node", ["server.mjs", "--port", "0", "--token", token]) { WorkingDirectory = dir };
        return await LaunchAsync(name, token, psi, "node (is Node.js installed and on PATH?)");
    }

    public static async Task<ThirdPartyTarget> StartQuirkAsync(string name, int pageCap = 50)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "ScimSync.QuirkTarget.dll");
        var runtimeConfig = Path.ChangeExtension(dll, ".runtimeconfig.json");
        if (!File.Exists(dll) || !File.Exists(runtimeConfig))
            throw new InvalidOperationException($"{dll} or its runtimeconfig is missing: build tests/ScimSync.Sync.Tests (it references ScimSync.QuirkTarget).");
        var token = NewToken(name);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var psi = new ProcessStartInfo(dotnet, [dll, "--port", "0", "--token", token, "--page-cap", pageCap.ToString(CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = AppContext.BaseDirectory,
        };
        return await LaunchAsync(name, token, psi, "dotnet");
    }

    private static string NewToken(string name) => $"token-{name}-{Guid.NewGuid():N}";

    private static async Task<ThirdPartyTarget> LaunchAsync(string name, string token, ProcessStartInfo psi, string what)
    {
        var target = new ThirdPartyTarget(name, token, psi);
        try
        {
            target._process.Start();
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"{name}: could not start {what}: {e.Message}", e);
        }
        target._process.BeginOutputReadLine();
        target._process.BeginErrorReadLine();
        try
        {
            var line = await target.WaitForLineAsync(l => l.StartsWith("listening ", StringComparison.Ordinal), StartTimeout, "listening <port>");
            target.Port = int.Parse(line["listening ".Length..], CultureInfo.InvariantCulture);
            target.Http = new HttpClient
            {
                BaseAddress = target.ScimUrl,
                Timeout = TimeSpan.FromSeconds(60),
            };
            target.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return target;
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
    }

    /// <summary>Reads stdout lines until one satisfies <paramref name="match"/>; fails on exit or timeout.</summary>
    private async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string expected)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                if (!await _stdout.Reader.WaitToReadAsync(cts.Token)) break;
                while (_stdout.Reader.TryRead(out var line))
                {
                    if (match(line)) return line;
                    if (line.StartsWith("error ", StringComparison.Ordinal) || line.StartsWith("unknown command", StringComparison.Ordinal))
                        throw new InvalidOperationException($"{Name}: expected '{expected}', got '{line}'\n{Output}");
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{Name}: no '{expected}' within {timeout.TotalSeconds:0} s\n{Output}");
        }
        var code = _process.HasExited ? _process.ExitCode.ToString(CultureInfo.InvariantCulture) : "?";
        throw new InvalidOperationException($"{Name}: the process ended (exit code {code}) before '{expected}'\n{Output}");
    }

    /// <summary>The application goes away: the listening socket closes and open connections are cut.</summary>
    public Task DownAsync() => CommandAsync("down");

    /// <summary>The application is back on the same port, with the same data.</summary>
    public Task UpAsync() => CommandAsync("up");

    private async Task CommandAsync(string command)
    {
        await _commands.WaitAsync();
        try
        {
            if (_process.HasExited) throw new InvalidOperationException($"{Name}: the process has exited ({_process.ExitCode})\n{Output}");
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            await WaitForLineAsync(l => l == command, CommandTimeout, command);
        }
        finally
        {
            _commands.Release();
        }
    }

    // ---- raw HTTP helpers (paths relative to the SCIM root, e.g. "Users/abc" or "Groups?count=5") ----

    public Task<(int Status, JsonNode? Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path, null);
    public Task<(int Status, JsonNode? Body)> PostAsync(string path, JsonObject body) => SendAsync(HttpMethod.Post, path, body);
    public Task<(int Status, JsonNode? Body)> PutAsync(string path, JsonObject body) => SendAsync(HttpMethod.Put, path, body);
    public Task<(int Status, JsonNode? Body)> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path, null);

    public Task<(int Status, JsonNode? Body)> PatchAsync(string path, params JsonObject[] ops) =>
        SendAsync(HttpMethod.Patch, path, new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
            ["Operations"] = new JsonArray(ops.Select(o => (JsonNode)o.DeepClone()).ToArray()),
        });

    /// <summary>One request; the body is parsed when there is one (null for 204 or an empty body).</summary>
    public async Task<(int Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, JsonNode? body)
    {
        using var response = await SendRawAsync(method, path, body);
        var text = await response.Content.ReadAsStringAsync();
        JsonNode? parsed = null;
        if (text.Length > 0)
        {
            try
            {
                parsed = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                parsed = JsonValue.Create(text);
            }
        }
        return ((int)response.StatusCode, parsed);
    }

    /// <summary>One request with the whole response (headers included); the caller disposes it.</summary>
    public Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, JsonNode? body)
    {
        var request = new HttpRequestMessage(method, new Uri(ScimUrl, path.TrimStart('/')));
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/scim+json");
        return Http.SendAsync(request);
    }

    /// <summary>Every stored user, raw (the application's own table; no SCIM paging involved).</summary>
    public Task<List<JsonObject>> StoredUsersAsync() => AdminAsync("users");

    /// <summary>Every stored group, raw.</summary>
    public Task<List<JsonObject>> StoredGroupsAsync() => AdminAsync("groups");

    private async Task<List<JsonObject>> AdminAsync(string what)
    {
        using var response = await Http.GetAsync(new Uri($"http://127.0.0.1:{Port}/_admin/{what}"));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{Name}: /_admin/{what} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsArray().Select(n => n!.AsObject()).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or Win32Exception)
        {
            // Never started, already gone, or stuck: nothing more a test can do about it.
        }
        Http?.Dispose();
        _process.Dispose();
        _commands.Dispose();
    }

    // ---- locating things and preparing the Node.js target ----

    /// <summary>The folder holding ScimSync.slnx, found by walking up from the test assembly.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ScimSync.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no ScimSync.slnx above {AppContext.BaseDirectory}");
    }

    private static bool Installed(string dir) =>
        File.Exists(Path.Combine(dir, "node_modules", ".package-lock.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "scimmy", "package.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "scimmy-routers", "package.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "express", "package.json"));

    /// <summary>
    /// Runs `npm ci` once when node_modules is missing (.ci/run normally did it already). A process-wide
    /// gate serialises test classes in this process, a file lock other test processes.
    /// </summary>
    private static async Task EnsureNodeModulesAsync(string dir)
    {
        if (Installed(dir)) return;
        await NpmGate.WaitAsync();
        try
        {
            if (Installed(dir)) return;
            using var fileLock = await LockFileAsync(Path.Combine(dir, ".npm-ci.lock"), TimeSpan.FromMinutes(5));
            if (Installed(dir)) return;
            var (code, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], dir, TimeSpan.FromMinutes(5),
                "npm (install Node.js 20 with npm, or run `npm ci --prefix tests/ThirdPartyTargets/scimmy`)");
            if (code != 0 || !Installed(dir))
                throw new InvalidOperationException($"`npm ci` in {dir} failed with exit code {code}; the SCIMMY target cannot run:\n{output}");
        }
        finally
        {
            NpmGate.Release();
        }
    }

    private static async Task<FileStream> LockFileAsync(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // Another test process is installing: poll until it is done.
                await Task.Delay(200);
            }
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, string dir, TimeSpan timeout, string what)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        try
        {
            p.Start();
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"could not start {what}: {e.Message}", e);
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout}:\n{output}");
        }
        p.WaitForExit();
        lock (output) return (p.ExitCode, output.ToString());
    }
}
