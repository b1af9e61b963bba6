using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// `scimsync serve` under a <c>Type=notify</c> unit (deploy/systemd/scimsync.service), with this test in systemd's
/// place: it binds the unix datagram socket that NOTIFY_SOCKET names and reads what the real process sends.
/// systemd marks the unit started on READY=1, so READY=1 must mean "listening"; and a start that fails must never
/// send it, or the unit would look started while nothing listens.
/// </summary>
public sealed class SystemdNotifyTests : IDisposable
{
    // Short: a unix socket's path is limited to 107 bytes.
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ssn-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly Socket _notify = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public SystemdNotifyTests()
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

    private Process StartServe(int port)
    {
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", Path.Combine(_root, "data")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
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
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await serve.WaitForExitAsync(exited.Token);
        Assert.Equal(3, serve.ExitCode);
        // Whatever it sent before exiting is queued in the socket by now.
        Assert.Null(await NextMessageAsync(serve, TimeSpan.FromSeconds(1)));
    }
}
