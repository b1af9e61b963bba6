using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ScimSync.Bench;

/// <summary>The real `scimsync serve` process, on a free loopback port, with its own data directory.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    /// <summary>CPU time the server has used so far (user and system).</summary>
    public TimeSpan Cpu
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    private readonly LogCount _log;

    private ServerProcess(Process process, Uri baseUri, string dataDir, LogCount log)
    {
        _process = process;
        _log = log;
        BaseUri = baseUri;
        DataDirectory = dataDir;
    }

    public Uri BaseUri { get; }
    public string DataDirectory { get; }
    public int Pid => _process.Id;

    /// <summary>Lines and characters the server has written to standard error so far (its log).</summary>
    public (long Lines, long Chars) Stderr => (Interlocked.Read(ref _log.Lines), Interlocked.Read(ref _log.Chars));

    private sealed class LogCount
    {
        public long Lines;
        public long Chars;
    }

    /// <param name="onError">Sees each line the server writes to standard error (its log), as it comes.</param>
    /// <param name="environment">Variables set for the server besides SCIMSYNC_ADMIN_TOKEN (OTEL_*, ...).</param>
    /// <param name="echoStderr">false: the server's log is counted (<see cref="Stderr"/>) but not echoed, for runs that may log every request.</param>
    public static async Task<ServerProcess> StartAsync(string cliDll, string dataDir, string token, string[]? extraArgs = null,
        Action<string>? onError = null, IReadOnlyDictionary<string, string>? environment = null, bool echoStderr = true)
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        var psi = new ProcessStartInfo("dotnet", [cliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", dataDir, .. extraArgs ?? []])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = token;
        psi.Environment["DOTNET_gcServer"] = "0";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start scimsync");
        var log = new LogCount();
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Interlocked.Increment(ref log.Lines);
            Interlocked.Add(ref log.Chars, e.Data.Length + 1);
            if (echoStderr) Console.Error.WriteLine("[server] " + e.Data);
            onError?.Invoke(e.Data);
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var uri = new Uri($"http://127.0.0.1:{port}/");
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await probe.GetAsync(new Uri(uri, "healthz")).ConfigureAwait(false)).IsSuccessStatusCode)
                    return new ServerProcess(p, uri, dataDir, log);
            }
            // Refused while starting, or slower than the probe's 2 s on a busy machine: ask again.
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(100).ConfigureAwait(false);
        }
        p.Kill(true);
        throw new TimeoutException("scimsync serve did not become healthy in 60 s");
    }

    /// <summary>Resident and peak resident memory of the server, from /proc.</summary>
    public (long RssBytes, long PeakBytes) Memory()
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kb(line);
        }
        return (rss, peak);
        static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process.Dispose();
    }
}
