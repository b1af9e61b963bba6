using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// `scimsync serve` starting and stopping as an operator sees it: every refusal before serving is one line and
/// exit 3; one server per data directory; settings from flag, environment and file in that order; SIGTERM
/// under load loses no acknowledged write; https from PEM files that are reloaded without a restart.
/// </summary>
public sealed class ServeLifecycleTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-life-" + Guid.NewGuid().ToString("N")[..12]);

    public ServeLifecycleTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Data(string name) => Path.Combine(_root, name);

    private static void AssertOneLine(string stderr, string expected)
    {
        var message = stderr.Trim();
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("scimsync: ", message);
        Assert.Contains(expected, message);
        Assert.DoesNotContain("   at ", message);
    }

    [Fact]
    public async Task A_busy_port_is_one_line_and_exit_3_and_nothing_is_printed_as_serving()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var (code, stdout, stderr) = await ServeProcess.RunCliInAsync(new Dictionary<string, string> { ["SCIMSYNC_ADMIN_TOKEN"] = "x" }, null,
            "serve", "--urls", $"http://127.0.0.1:{port}", "--data", Data("busy"));
        Assert.Equal(3, code);
        AssertOneLine(stderr, "address already in use");
        Assert.DoesNotContain("serving", stdout);
    }

    [Fact]
    public async Task Https_without_a_certificate_and_a_bad_certificate_are_one_line_and_exit_3()
    {
        var port = ServeProcess.FreePort();
        var (code, _, stderr) = await ServeProcess.RunCliAsync("serve", "--urls", $"https://127.0.0.1:{port}", "--data", Data("nocert"));
        Assert.Equal(3, code);
        AssertOneLine(stderr, "needs a certificate");

        var garbage = Path.Combine(_root, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        (code, _, stderr) = await ServeProcess.RunCliAsync("serve", "--urls", $"https://127.0.0.1:{port}", "--tls-cert", garbage, "--tls-key", garbage, "--data", Data("badcert"));
        Assert.Equal(3, code);
        AssertOneLine(stderr, garbage);

        // A certificate with somebody else's key.
        var (cert, _) = WritePem(Path.Combine(_root, "a"), "a");
        var (_, otherKey) = WritePem(Path.Combine(_root, "b"), "b");
        (code, _, stderr) = await ServeProcess.RunCliAsync("serve", "--urls", $"https://127.0.0.1:{port}", "--tls-cert", cert, "--tls-key", otherKey, "--data", Data("mismatch"));
        Assert.Equal(3, code);
        AssertOneLine(stderr, "cannot use the TLS certificate");
    }

    [Fact]
    public async Task A_second_server_on_the_same_data_directory_refuses()
    {
        var data = Data("shared");
        var port = ServeProcess.FreePort();
        var first = await ServeProcess.StartAsync(data, port, "first");
        try
        {
            var (code, stderr) = await ServeProcess.StartExpectingRefusalAsync(data);
            Assert.Equal(3, code);
            AssertOneLine(stderr, $"{data} is in use by scimsync serve at http://127.0.0.1:{port} (pid {first.Id}");
            // Tokens are still managed beside the running server.
            var (tokenCode, _, tokenErr) = await ServeProcess.RunCliAsync("token", "create", "--name", "beside", "--data", data);
            Assert.True(tokenCode == 0, tokenErr);
        }
        finally
        {
            first.Kill(true);
            await first.WaitForExitAsync();
        }
        // The lock went with the process (kill -9 included): the directory can be served again.
        var again = await ServeProcess.StartAsync(data, ServeProcess.FreePort(), "again");
        again.Kill(true);
        await again.WaitForExitAsync();
    }

    [Fact]
    public async Task Settings_come_from_the_flag_else_the_environment_else_the_file()
    {
        var file = Path.Combine(_root, "scimsync.json");
        // Relative paths in the file are taken from the file's directory.
        await File.WriteAllTextAsync(file, """{ "max-results": 7, "data": "from-file", "disable": ["bulk"] }""");

        async Task<JsonNode> Config(Dictionary<string, string> env, params string[] args)
        {
            var port = ServeProcess.FreePort();
            var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--config-file", file, .. args])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = _root,
            };
            psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = "precedence";
            foreach (var (k, v) in env) psi.Environment[k] = v;
            using var p = Process.Start(psi)!;
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            try
            {
                using var c = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "precedence");
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (true)
                {
                    try
                    {
                        return JsonNode.Parse(await c.GetStringAsync($"http://127.0.0.1:{port}/scim/v2/ServiceProviderConfig"))!;
                    }
                    catch (HttpRequestException) when (DateTime.UtcNow < deadline && !p.HasExited)
                    {
                        await Task.Delay(100);
                    }
                }
            }
            finally
            {
                ServeProcess.Terminate(p);
                await p.WaitForExitAsync();
            }
        }

        var fromFile = await Config([]);
        Assert.Equal(7, fromFile["pagination"]!["maxPageSize"]!.GetValue<int>());
        Assert.False(fromFile["bulk"]!["supported"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(_root, "from-file", "scimsync.db")));
        var fromEnv = await Config(new() { ["SCIMSYNC_MAX_RESULTS"] = "8", ["SCIMSYNC_DISABLE"] = "patch" });
        Assert.Equal(8, fromEnv["pagination"]!["maxPageSize"]!.GetValue<int>());
        Assert.True(fromEnv["bulk"]!["supported"]!.GetValue<bool>()); // the variable replaced the file's list
        Assert.False(fromEnv["patch"]!["supported"]!.GetValue<bool>());
        var fromFlag = await Config(new() { ["SCIMSYNC_MAX_RESULTS"] = "8" }, "--max-results", "9");
        Assert.Equal(9, fromFlag["pagination"]!["maxPageSize"]!.GetValue<int>());

        // A value that cannot be used names where it came from: configuration (3) unless typed as a flag (2).
        var (envCode, _, envErr) = await ServeProcess.RunCliInAsync(new Dictionary<string, string> { ["SCIMSYNC_MAX_RESULTS"] = "many" }, _root, "serve", "--config-file", file);
        Assert.Equal(3, envCode);
        AssertOneLine(envErr, "SCIMSYNC_MAX_RESULTS needs a whole number");
        await File.WriteAllTextAsync(file, """{ "max-result": 7 }""");
        var (fileCode, _, fileErr) = await ServeProcess.RunCliInAsync(null, _root, "serve", "--config-file", file);
        Assert.Equal(3, fileCode);
        AssertOneLine(fileErr, "unknown setting \"max-result\" (did you mean \"max-results\"?)");
        await File.WriteAllTextAsync(file, """{ "max-results": 7, }""");
        (fileCode, _, fileErr) = await ServeProcess.RunCliInAsync(null, _root, "serve", "--config-file", file);
        Assert.Equal(3, fileCode);
        AssertOneLine(fileErr, file);
    }

    [Fact]
    public async Task Sigterm_under_writes_drains_and_exits_0_with_every_acknowledged_write_kept()
    {
        var data = Data("drain");
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(data, port, "drain");
        var acknowledged = new ConcurrentBag<string>();
        var refusedOrAborted = 0;
        using var stopWriting = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        async Task WriteAsync(int writer)
        {
            // A fresh connection per request, as a busy client pool would open: some land while the server drains.
            using var c = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/scim/v2/"), Timeout = TimeSpan.FromSeconds(30) };
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "drain");
            for (var i = 0; !stopWriting.IsCancellationRequested; i++)
            {
                try
                {
                    using var resp = await c.PostAsync("Users", new StringContent($$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"w{{writer}}-{{i}}"}""", Encoding.UTF8, "application/scim+json"));
                    if (resp.StatusCode == HttpStatusCode.Created) acknowledged.Add(JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
                    else Interlocked.Increment(ref refusedOrAborted);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // Refused (not listening any more) or cut: not acknowledged, so nothing is owed.
                    Interlocked.Increment(ref refusedOrAborted);
                    if (server.HasExited) return;
                }
            }
        }
        var writers = Enumerable.Range(0, 8).Select(WriteAsync).ToArray();
        while (acknowledged.Count < 100 && !stopWriting.IsCancellationRequested) await Task.Delay(20);
        ServeProcess.Terminate(server);
        using (var waited = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await server.WaitForExitAsync(waited.Token);
        await stopWriting.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Equal(0, server.ExitCode);

        var again = await ServeProcess.StartAsync(data, ServeProcess.FreePort(), "drain");
        try
        {
            var url = new Uri(new Uri($"http://127.0.0.1:{ServePort(again)}/scim/v2/"), "Users?count=0");
            using var c = new HttpClient();
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "drain");
            var ids = acknowledged.ToArray();
            var total = JsonNode.Parse(await c.GetStringAsync(url))!["totalResults"]!.GetValue<int>();
            Assert.True(total >= ids.Length, $"{ids.Length} creates acknowledged, {total} stored");
            foreach (var id in ids)
                Assert.Equal(HttpStatusCode.OK, (await c.GetAsync(new Uri(url, $"/scim/v2/Users/{id}"))).StatusCode);
        }
        finally
        {
            again.Kill(true);
            await again.WaitForExitAsync();
        }
    }

    private static int ServePort(Process p) => int.Parse(p.StartInfo.ArgumentList[p.StartInfo.ArgumentList.IndexOf("--urls") + 1].Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Https_serves_the_pem_certificate_and_a_new_connection_gets_a_replaced_one()
    {
        var (cert, key) = WritePem(Path.Combine(_root, "tls"), "first.scimsync.test");
        var first = X509Certificate2.CreateFromPemFile(cert).Thumbprint;
        var port = ServeProcess.FreePort();
        var psi = new ProcessStartInfo("dotnet", [ServeProcess.CliDll, "serve", "--urls", $"https://127.0.0.1:{port}", "--tls-cert", cert, "--tls-key", key, "--data", Data("tls-data")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["SCIMSYNC_ADMIN_TOKEN"] = "tls";
        var output = new StringBuilder();
        using var server = Process.Start(psi)!;
        server.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        server.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            // Each probe is a new connection, so it sees the certificate the server would give any new client.
            async Task<string?> ServedThumbprint()
            {
                string? seen = null;
                using var handler = new SocketsHttpHandler
                {
                    SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => { seen = c is null ? null : new X509Certificate2(c).Thumbprint; return true; } },
                };
                using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
                try
                {
                    using var resp = await client.GetAsync($"https://127.0.0.1:{port}/healthz");
                    return resp.StatusCode == HttpStatusCode.OK ? seen : null;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return null;
                }
            }
            async Task<string> WaitFor(Func<string?, bool> done)
            {
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (true)
                {
                    var thumbprint = await ServedThumbprint();
                    if (thumbprint is not null && done(thumbprint)) return thumbprint;
                    Assert.False(server.HasExited, $"scimsync serve exited: {output}");
                    Assert.True(DateTime.UtcNow < deadline, $"the expected certificate was not served within 60 s; last {thumbprint}: {output}");
                    await Task.Delay(100);
                }
            }

            Assert.Equal(first, await WaitFor(_ => true));
            lock (output) Assert.Contains($"serving SCIM 2.0 at https://127.0.0.1:{port}/scim/v2", output.ToString());

            // A renewal: new files renamed over the old ones, as certbot and cert-manager do.
            var (newCert, newKey) = WritePem(Path.Combine(_root, "renewed"), "second.scimsync.test");
            var second = X509Certificate2.CreateFromPemFile(newCert).Thumbprint;
            File.Move(newKey, key, overwrite: true);
            File.Move(newCert, cert, overwrite: true);
            Assert.Equal(second, await WaitFor(t => t != first));
            ServeProcess.Terminate(server);
            await server.WaitForExitAsync();
            Assert.Equal(0, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited) server.Kill(true);
        }
    }

    /// <summary>A self-signed certificate for 127.0.0.1 and its key, as PEM files named DIR.crt and DIR.key.</summary>
    private static (string Cert, string Key) WritePem(string stem, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(stem + ".crt", cert.ExportCertificatePem());
        File.WriteAllText(stem + ".key", key.ExportPkcs8PrivateKeyPem());
        return (stem + ".crt", stem + ".key");
    }
}
