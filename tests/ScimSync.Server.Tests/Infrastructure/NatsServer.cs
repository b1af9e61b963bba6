using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// A private nats-server with JetStream (<c>-js</c>) on a free 127.0.0.1 port and a temporary store directory,
/// killed and removed at the end. Without nats-server on the PATH the test is skipped with a message saying so,
/// except under CI (CI=true), where that is a failure: .ci/run installs it. Shared by the server's and the
/// engine's tests (linked into both projects).
/// </summary>
public sealed class NatsServer : IAsyncDisposable
{
    private readonly string _store = Path.Combine(Path.GetTempPath(), "scimsync-nats-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly StringBuilder _output = new();
    private Process? _process;

    public int Port { get; }
    public string Url => $"nats://127.0.0.1:{Port}";

    private NatsServer(int port) => Port = port;

    /// <summary>nats-server's path, or null. Debian installs it in /usr/sbin, which is not on every PATH.</summary>
    public static string? Executable { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/sbin").Append("/usr/local/sbin")
        .Select(d => Path.Combine(d, "nats-server")).FirstOrDefault(File.Exists);

    /// <exception cref="Xunit.SkipException">No nats-server, outside CI.</exception>
    public static async Task<NatsServer> StartAsync()
    {
        if (Executable is null)
        {
            if (Environment.GetEnvironmentVariable("CI") is "true" or "1")
                throw new InvalidOperationException("nats-server is not installed; under CI the NATS tests must run (.ci/run installs it with apt-get install nats-server)");
            throw new SkipException("this test needs nats-server on the PATH (apt-get install nats-server, or https://github.com/nats-io/nats-server/releases)");
        }
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var server = new NatsServer(port);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts (again, after <see cref="StopAsync"/>) on the same port and store: the stream survives.</summary>
    public async Task StartAgainAsync()
    {
        var psi = new ProcessStartInfo(Executable!, ["-js", "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-sd", _store])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (p.HasExited) throw new InvalidOperationException($"nats-server exited with {p.ExitCode}: {Output}");
            lock (_output)
                if (_output.ToString().Contains("Server is ready", StringComparison.Ordinal)) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"nats-server did not become ready within 30 s: {Output}");
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(true);
            await p.WaitForExitAsync();
        }
        _process?.Dispose();
        _process = null;
        lock (_output) _output.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_store, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
