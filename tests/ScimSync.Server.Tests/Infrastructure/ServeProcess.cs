using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>Starts the real `scimsync serve` process (the build copied next to the tests) on a free loopback port.</summary>
public static class ServeProcess
{
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "scimsync.dll");

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Starts the server and waits (at most 60 s) until /healthz answers 200.</summary>
    public static async Task<Process> StartAsync(string dataDir, int port, string adminToken, params string[] extraArgs)
    {
        var psi = new ProcessStartInfo("dotnet", [CliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", dataDir, .. extraArgs])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = adminToken;
        var p = Process.Start(psi)!;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await probe.GetAsync($"http://127.0.0.1:{port}/healthz")).StatusCode == HttpStatusCode.OK) return p;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (p.HasExited) throw new InvalidOperationException($"scimsync serve exited with {p.ExitCode}");
            await Task.Delay(100);
        }
        p.Kill(true);
        throw new TimeoutException("scimsync serve did not answer /healthz within 60 s");
    }

    /// <summary>Runs `scimsync ARGS` to completion: exit code, stdout, stderr.</summary>
    public static Task<(int Code, string Out, string Err)> RunCliAsync(params string[] args) => RunCliInAsync(null, null, args);

    /// <summary>Runs `scimsync ARGS` in <paramref name="workingDirectory"/> with <paramref name="env"/> added to the environment.</summary>
    public static async Task<(int Code, string Out, string Err)> RunCliInAsync(IReadOnlyDictionary<string, string>? env, string? workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [CliDll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Sends SIGTERM, as systemd and `kill` do (Process.Kill sends SIGKILL). The process started by `dotnet
    /// scimsync.dll` is the application itself: the muxer runs it in its own process.
    /// </summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -TERM {process.Id} exited with {kill.ExitCode}");
    }

    /// <summary>
    /// Starts `scimsync serve` where it is expected to refuse: waits (at most 60 s) for it to exit, and fails if
    /// it answers /healthz first, i.e. serves.
    /// </summary>
    public static async Task<(int Code, string Err)> StartExpectingRefusalAsync(string dataDir, params string[] extraArgs)
    {
        var port = FreePort();
        var psi = new ProcessStartInfo("dotnet", [CliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", dataDir, .. extraArgs])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = "refused";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!p.HasExited && DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await probe.GetAsync($"http://127.0.0.1:{port}/healthz")).StatusCode == HttpStatusCode.OK)
                {
                    p.Kill(true);
                    Assert.Fail($"scimsync serve served on {dataDir} instead of refusing it");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(100);
        }
        if (!p.HasExited)
        {
            p.Kill(true);
            Assert.Fail("scimsync serve neither served nor exited within 60 s");
        }
        return (p.ExitCode, await stderr);
    }
}
