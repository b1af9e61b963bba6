using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Memory per oversized request (issue 11): each attack runs against its own fresh `scimsync serve` process,
/// so that the growth of its peak resident memory (VmHWM) is what that one kind of request cost. A JSON
/// array of zeros is the cheapest body to send and the most expensive to hold as a DOM (two bytes per node).
/// </summary>
internal static class OversizedBench
{
    private sealed record Attack(string Name, string Token, string Path, Func<byte[]> Body);

    /// <param name="expectContinue">
    /// Send Expect: 100-continue, as a polite client does: a body refused from its Content-Length is then
    /// never sent and the client reads the 413. Without it the server answers 413 and closes the connection
    /// while the client is still sending, and the client only sees the connection close.
    /// </param>
    public static async Task<string> RunAsync(string cli, string work, int repeat, bool expectContinue)
    {
        const string admin = "bench-token";
        var md = new StringBuilder();
        md.AppendLine("| request | body | status | server peak RSS growth | RSS after | time per request |");
        md.AppendLine("|---|---:|---|---:|---:|---:|");
        var load = new LoadSample(Environment.ProcessId);
        var names = new[] { "poll", "search", "bigUser", "bulk" };
        foreach (var name in names)
        {
            var dataDir = Path.Combine(work, "oversized-" + name);
            Directory.CreateDirectory(dataDir);
            var readOnly = await CreateTokenAsync(cli, dataDir, "scim:read");
            await using var server = await ServerProcess.StartAsync(cli, dataDir, admin);
            using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromMinutes(5) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
            var sub = await Api.SendAsync(http, HttpMethod.Post, "feeds/v1/subscriptions",
                new JsonObject { ["name"] = "oversized", ["audience"] = "bench", ["payload"] = "notice" });
            var attack = name switch
            {
                "poll" => new Attack("POST /feeds/v1/subscriptions/{id}/poll (poll token)", sub["pollToken"]!.GetValue<string>(),
                    $"feeds/v1/subscriptions/{sub["id"]!.GetValue<string>()}/poll", () => ZeroArray(16 << 20)),
                "search" => new Attack("POST /scim/v2/Users/.search (read-only token)", readOnly, "scim/v2/Users/.search", () => ZeroArray(16 << 20)),
                "bigUser" => new Attack("POST /scim/v2/Users, a 12 MB user (admin)", admin, "scim/v2/Users", () => BigUser(12_000_000)),
                _ => new Attack("POST /scim/v2/Bulk, 4 MiB with an array of zeros in one operation (admin)", admin, "scim/v2/Bulk", () => BulkWithZeros(4 << 20)),
            };
            // Warm up: JIT, connection, first allocations; then measure from the settled peak.
            for (var i = 0; i < 3; i++) await Api.SendAsync(http, HttpMethod.Get, "scim/v2/Users?count=1", null);
            var (_, peakBefore) = server.Memory();
            var body = attack.Body();
            var statuses = new List<int>();
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < repeat; i++)
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, attack.Path) { Content = new ByteArrayContent(body) };
                req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/scim+json");
                req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", attack.Token);
                req.Headers.ExpectContinue = expectContinue;
                try
                {
                    using var resp = await http.SendAsync(req);
                    statuses.Add((int)resp.StatusCode);
                }
                catch (HttpRequestException)
                {
                    // The server may close the connection after refusing a body it will not read.
                    statuses.Add(0);
                }
            }
            var perRequest = sw.Elapsed.TotalMilliseconds / repeat;
            var (rssAfter, peakAfter) = server.Memory();
            var status = string.Join(", ", statuses.Distinct().Select(s => s == 0 ? "connection closed" : s.ToString(CultureInfo.InvariantCulture)));
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {attack.Name} | {body.Length / 1048576.0:F1} MiB | {status} | {(peakAfter - peakBefore) / 1048576.0:F0} MB | {rssAfter / 1048576.0:F0} MB | {perRequest:F0} ms |");
            Console.WriteLine($"{name}: status {status}, peak +{(peakAfter - peakBefore) / 1048576.0:F0} MB, RSS {rssAfter / 1048576.0:F0} MB, {perRequest:F0} ms");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Each request sent {repeat} times, one at a time, {(expectContinue ? "with" : "without")} Expect: 100-continue, to a fresh server per row; {load.DescribeMachine()} (the benchmark process included).");
        return md.ToString();
    }

    private static byte[] ZeroArray(int bytes)
    {
        // "[0,0,…,0]", padded with a space before the bracket when the length is even: valid JSON of any length.
        var b = new byte[bytes];
        b.AsSpan().Fill((byte)' ');
        b[0] = (byte)'[';
        var i = 1;
        for (; i + 3 < bytes; i += 2) { b[i] = (byte)'0'; b[i + 1] = (byte)','; }
        b[i] = (byte)'0';
        b[bytes - 1] = (byte)']';
        return b;
    }

    private static byte[] BigUser(int bytes) => Encoding.UTF8.GetBytes(
        $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big","title":"{{new string('x', bytes)}}"}""");

    private static byte[] BulkWithZeros(int bytes)
    {
        const string head = """{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulkbig","x":""";
        const string tail = "}}]}";
        var zeros = ZeroArray(bytes - head.Length - tail.Length - 16);
        return [.. Encoding.UTF8.GetBytes(head), .. zeros, .. Encoding.UTF8.GetBytes(tail)];
    }

    private static async Task<string> CreateTokenAsync(string cli, string dataDir, string scopes)
    {
        var psi = new ProcessStartInfo("dotnet", [cli, "token", "create", "--name", "bench-" + scopes.Replace(':', '-'), "--scopes", scopes, "--data", dataDir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not run scimsync token create");
        var secret = (await p.StandardOutput.ReadToEndAsync()).Trim();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException("token create failed: " + await p.StandardError.ReadToEndAsync());
        return secret;
    }
}
