using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace ScimSync.Bench;

/// <summary>
/// A third-party SCIM server from the repository's test fixtures, as a real process on loopback: SCIMMY
/// (Node.js, tests/ThirdPartyTargets/scimmy) or the quirk target (tests/ScimSync.QuirkTarget). Both print
/// "listening &lt;port&gt;" when ready, take "down" / "up" on stdin (answering the same word), and expose the raw
/// stored users at /_admin/users. A compact equivalent of the tests' ThirdPartyTarget, which the bench does
/// not reference.
/// </summary>
internal sealed class ThirdPartyTargetProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _log = new();
    private readonly HttpClient _admin = new() { Timeout = TimeSpan.FromSeconds(30) };

    private ThirdPartyTargetProcess(string kind, string token, ProcessStartInfo psi)
    {
        Kind = kind;
        Token = token;
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _stdout.Writer.TryComplete(); return; }
            lock (_log) _log.AppendLine(e.Data);
            _stdout.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public string Kind { get; }
    public string Token { get; }
    public int Port { get; private set; }
    public int Pid => _process.Id;
    public Uri BaseUri => new($"http://127.0.0.1:{Port}/");

    /// <summary>CPU time the target process has used so far.</summary>
    public TimeSpan Cpu
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Starts the given kind ("scimmy" or "quirk"); fails with what to do when its prerequisites are missing.</summary>
    public static async Task<ThirdPartyTargetProcess> StartAsync(string kind, string repoRoot, string token)
    {
        ProcessStartInfo psi;
        if (kind == "scimmy")
        {
            var dir = Path.Combine(repoRoot, "tests", "ThirdPartyTargets", "scimmy");
            await EnsureNodeModulesAsync(dir);
            psi = new ProcessStartInfo("node", ["server.mjs", "--port", "0", "--token", token]) { WorkingDirectory = dir };
        }
        else if (kind == "quirk")
        {
            var dll = QuirkDll(repoRoot);
            if (!File.Exists(dll)) throw new InvalidOperationException($"build the quirk target first: dotnet build tests/ScimSync.QuirkTarget -c Release ({dll} missing)");
            psi = new ProcessStartInfo("dotnet", [dll, "--port", "0", "--token", token]) { WorkingDirectory = Path.GetDirectoryName(dll)! };
            psi.Environment["DOTNET_gcServer"] = "0";
        }
        else
        {
            throw new ArgumentException($"unknown target kind {kind}", nameof(kind));
        }
        var target = new ThirdPartyTargetProcess(kind, token, psi);
        try
        {
            target._process.Start();
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"{kind}: could not start {psi.FileName}: {e.Message}", e);
        }
        target._process.BeginOutputReadLine();
        target._process.BeginErrorReadLine();
        try
        {
            var line = await target.WaitForLineAsync(l => l.StartsWith("listening ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "listening <port>");
            target.Port = int.Parse(line["listening ".Length..], CultureInfo.InvariantCulture);
            return target;
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
    }

    public static string QuirkDll(string repoRoot) => Path.Combine(repoRoot, "tests/ScimSync.QuirkTarget/bin/Release/net10.0/ScimSync.QuirkTarget.dll");

    /// <summary>Stops listening and cuts open connections (state kept); returns once the target says "down".</summary>
    public Task DownAsync() => CommandAsync("down");

    /// <summary>Listens again on the same port; returns once the target says "up".</summary>
    public Task UpAsync() => CommandAsync("up");

    private async Task CommandAsync(string command)
    {
        if (_process.HasExited) throw new InvalidOperationException($"{Kind}: the target process has exited ({_process.ExitCode})\n{Output}");
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        await WaitForLineAsync(l => l == command, TimeSpan.FromSeconds(20), command);
    }

    private string Output
    {
        get { lock (_log) return _log.ToString(); }
    }

    private async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string expected)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await _stdout.Reader.WaitToReadAsync(cts.Token))
                while (_stdout.Reader.TryRead(out var line))
                {
                    if (match(line)) return line;
                    if (line.StartsWith("error ", StringComparison.Ordinal) || line.StartsWith("unknown command", StringComparison.Ordinal))
                        throw new InvalidOperationException($"{Kind}: expected '{expected}', got '{line}'\n{Output}");
                }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{Kind}: no '{expected}' within {timeout.TotalSeconds:0} s\n{Output}");
        }
        throw new InvalidOperationException($"{Kind}: the process ended before '{expected}'\n{Output}");
    }

    /// <summary>
    /// The raw stored users (GET /_admin/users), reduced to what the bench checks: externalId (the source
    /// id), active and title. Parsed with JsonDocument, not a DOM, to keep a poll of 3,000 users short.
    /// </summary>
    public async Task<List<(string? ExternalId, bool? Active, string? Title)>> StoredUsersAsync(CancellationToken ct = default)
    {
        using var response = await _admin.GetAsync(new Uri(BaseUri, "_admin/users"), ct);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{Kind}: /_admin/users answered {(int)response.StatusCode}");
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var doc = await JsonDocument.ParseAsync(stream, cancellationToken: ct);
        var users = new List<(string?, bool?, string?)>(doc.RootElement.GetArrayLength());
        foreach (var u in doc.RootElement.EnumerateArray())
            {
            bool? active = u.TryGetProperty("active", out var a) && a.ValueKind is JsonValueKind.True or JsonValueKind.False ? a.GetBoolean() : null;
            users.Add((Text(u, "externalId"), active, Text(u, "title")));
        }
        return users;
        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
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
            // Never started or already gone.
        }
        _admin.Dispose();
        _process.Dispose();
    }

    private static bool Installed(string dir) =>
        File.Exists(Path.Combine(dir, "node_modules", ".package-lock.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "scimmy", "package.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "scimmy-routers", "package.json"))
        && File.Exists(Path.Combine(dir, "node_modules", "express", "package.json"));

    /// <summary>Runs `npm ci` in the SCIMMY folder when its node_modules is missing.</summary>
    private static async Task EnsureNodeModulesAsync(string dir)
    {
        if (Installed(dir)) return;
        Console.WriteLine($"node_modules missing in {dir}: running npm ci");
        var psi = new ProcessStartInfo("npm", ["ci", "--prefix", dir, "--no-audit", "--no-fund"]) { RedirectStandardOutput = true, RedirectStandardError = true };
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
            throw new InvalidOperationException($"the SCIMMY target needs Node.js 20 and npm (could not start npm: {e.Message}); or run `npm ci --prefix tests/ThirdPartyTargets/scimmy` yourself", e);
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"npm ci --prefix {dir} did not finish within 5 minutes:\n{output}");
        }
        if (p.ExitCode != 0 || !Installed(dir))
            throw new InvalidOperationException($"npm ci --prefix {dir} failed (exit code {p.ExitCode}); the SCIMMY target cannot run:\n{output}");
    }
}
