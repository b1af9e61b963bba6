using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// The units of deploy/systemd and the real process under them. For `serve`, this test stands in for systemd: it
/// binds the unix datagram socket that NOTIFY_SOCKET names, runs the unit's own ExecStart and reads what the
/// process sends. systemd marks a Type=notify unit started on READY=1, so READY=1 must mean "listening"; a start
/// that fails must never send it, or the unit would look started while nothing listens.
/// </summary>
public sealed class SystemdUnitTests : IDisposable
{
    // Short: a unix socket's path is limited to 107 bytes.
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ssn-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly Socket _notify = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public SystemdUnitTests()
    {
        Directory.CreateDirectory(_root);
        _notify.Bind(new UnixDomainSocketEndPoint(SocketPath));
    }

    private string SocketPath => Path.Combine(_root, "notify");

    public void Dispose()
    {
        _notify.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// scimsync.service's ExecStart, with the state root in this test's directory (created 0700 for the user, as
    /// StateDirectory= is) and the address from the environment, as the unit's EnvironmentFile gives it.
    /// </summary>
    private Process StartServe(int port)
    {
        var state = Path.Combine(_root, "state");
        var stateDirectory = Path.Combine(state, SystemdUnit.Load("scimsync.service")["StateDirectory"]!);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(stateDirectory);
        else Directory.CreateDirectory(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, .. SystemdUnit.Load("scimsync.service").Arguments(stateRoot: state)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_URLS"] = $"http://127.0.0.1:{port}";
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = "notify";
        psi.Environment["NOTIFY_SOCKET"] = SocketPath;
        var p = Process.Start(psi)!;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>The next datagram, or null when none came within the time or the process exited first.</summary>
    private async Task<string?> NextMessageAsync(Process p, TimeSpan within)
    {
        var buffer = new byte[4096];
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            // Short receives, so that a process that died is noticed rather than waited for.
            using var slice = new CancellationTokenSource(TimeSpan.FromMilliseconds(250));
            try
            {
                var n = await _notify.ReceiveAsync(buffer, SocketFlags.None, slice.Token);
                return Encoding.UTF8.GetString(buffer, 0, n);
            }
            catch (OperationCanceledException)
            {
                // A datagram is in the socket's queue as soon as it is sent: once the process has exited, none is coming.
                if (p.HasExited && _notify.Available == 0) return null;
            }
        }
        return null;
    }

    private static bool Listening(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Serve_sends_ready_once_listening_and_stopping_on_sigterm()
    {
        var port = ServeProcess.FreePort();
        using var serve = StartServe(port);
        try
        {
            Assert.Equal("READY=1", await NextMessageAsync(serve, TimeSpan.FromSeconds(60)));
            // Sent after the bind: a client told "started" by systemd can connect at once.
            Assert.True(Listening(port), "READY=1 came before the server listened");

            ServeProcess.Terminate(serve);
            Assert.Equal("STOPPING=1", await NextMessageAsync(serve, TimeSpan.FromSeconds(60)));
            using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await serve.WaitForExitAsync(exited.Token);
            Assert.Equal(0, serve.ExitCode);
            Assert.Equal(0, _notify.Available);
        }
        finally
        {
            if (!serve.HasExited) serve.Kill(true);
        }
    }

    [Fact]
    public async Task A_serve_that_cannot_bind_never_says_ready()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        using var serve = StartServe(port);
        try
        {
            using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await serve.WaitForExitAsync(exited.Token);
            Assert.Equal(3, serve.ExitCode);
            // Whatever it sent before exiting is queued in the socket by now.
            Assert.Null(await NextMessageAsync(serve, TimeSpan.FromSeconds(1)));
        }
        finally
        {
            // A server that bound after all is not left running.
            if (!serve.HasExited) serve.Kill(true);
        }
    }

    [Theory]
    [InlineData("scimsync.service", "serve")]
    [InlineData("scimsync-sync.service", "sync watch")]
    public async Task Each_unit_is_a_hardened_notify_service_running_options_the_verb_has(string name, string verb)
    {
        var unit = SystemdUnit.Load(name);
        Assert.Equal("notify", unit["Type"]);
        Assert.Equal("scimsync", unit["User"]);
        Assert.Equal("yes", unit["NoNewPrivileges"]);
        Assert.Equal("strict", unit["ProtectSystem"]);
        Assert.Equal("yes", unit["PrivateTmp"]);
        Assert.Equal("SIGTERM", unit["KillSignal"]);
        Assert.NotNull(unit["TimeoutStopSec"]);
        Assert.Equal("on-failure", unit["Restart"]);
        // 2 (usage) and 3 (configuration) fail the same way on every restart (README, "Exit codes").
        var noRestart = (unit["RestartPreventExitStatus"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("2", noRestart);
        Assert.Contains("3", noRestart);
        // Under ProtectSystem=strict only the listed paths are writable: the state directory must be one of them.
        var state = unit["StateDirectory"];
        Assert.NotNull(state);
        Assert.Contains($"%S/{state}", unit.All("ReadWritePaths").SelectMany(v => v.Split(' ')));

        Assert.Equal("/usr/local/bin/scimsync", unit.Program);
        var args = unit.Arguments();
        var words = verb.Split(' ');
        Assert.Equal(words, args[..words.Length]);
        var (code, help, err) = await ServeProcess.RunCliAsync([.. words, "--help"]);
        Assert.True(code == 0, err);
        foreach (var option in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
            Assert.Contains($"  {option} ", help);
        // A data directory the process could not write would stop every start with exit 3.
        for (var i = 0; i < args.Length - 1; i++)
            if (args[i] == "--data") Assert.StartsWith($"/var/lib/{state}/", args[i + 1]);
    }

    [Fact]
    public async Task The_engine_unit_command_line_parses_and_stops_at_its_configuration()
    {
        // The unit's command line with a configuration file that does not exist: a wrong option or value would be a
        // usage error (2) before the file is read; past the parser, the missing file is a configuration error (3).
        var unit = SystemdUnit.Load("scimsync-sync.service");
        var args = unit.Arguments();
        var missing = Path.Combine(_root, "sync.yaml");
        args[Array.IndexOf(args, "--config") + 1] = missing;
        var (code, stdout, stderr) = await ServeProcess.RunCliAsync(args);
        Assert.True(code == 3, $"exit {code}: {stdout} {stderr}");
        Assert.Contains(missing, stderr);
    }
}
