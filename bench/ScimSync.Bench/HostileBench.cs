using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue-11 isolation measurement: push throughput to a healthy subscriber while hostile receivers are active,
/// and the server's memory meanwhile. Two phases, each on a fresh server process, each with three push
/// subscriptions (one SET per request) fed the same backlog: "control", three well-behaved receivers; "hostile",
/// one well-behaved receiver beside one answering every request with a 500 and a huge body (its events are
/// retried, so it stays active all along) and one answering 202 and then dripping a byte a second. Equal
/// subscription counts, so that the difference is the hostility, not the fan-out of more subscriptions. The
/// backlog is journaled while the subscriptions are disabled; the clock runs from enabling them to the healthy
/// receiver's last SET.
/// </summary>
internal static class HostileBench
{
    /// <param name="phases">"control", "hostile" or both.</param>
    /// <param name="deadline">How long a drain may take before the phase reports what arrived by then.</param>
    public static async Task<string> RunAsync(string cli, string work, string lua, int backlog, int connections, int hugeMb, IReadOnlySet<string> phases, TimeSpan deadline)
    {
        var md = new StringBuilder();
        foreach (var hostile in new[] { false, true })
            if (phases.Contains(hostile ? "hostile" : "control"))
                md.AppendLine(await PhaseAsync(cli, Path.Combine(work, hostile ? "hostile-data" : "control-data"), lua, backlog, connections, hugeMb, hostile, deadline).ConfigureAwait(false));
        return md.ToString();
    }

    private static async Task<string> PhaseAsync(string cli, string dataDir, string lua, int backlog, int connections, int hugeMb, bool hostile, TimeSpan deadline)
    {
        const string token = "bench-token";
        await using var receivers = await SetReceivers.StartAsync();
        using var huge = new HostileSink(HostileSink.Mode.Huge, hugeMb * 1024L * 1024);
        using var drip = new HostileSink(HostileSink.Mode.Drip, 0);
        await using var server = await ServerProcess.StartAsync(cli, dataDir, token, ["--push-allow", "http://127.0.0.1:*"]);
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        async Task<string> Subscribe(string name, string url) => (await Api.SendAsync(http, HttpMethod.Post, "feeds/v1/subscriptions", new JsonObject
        {
            ["name"] = name, ["audience"] = "bench", ["payload"] = "notice", ["resourceTypes"] = new JsonArray("User"),
            ["delivery"] = "push", ["pushUrl"] = url,
        }))["id"]!.GetValue<string>();
        var others = hostile ? new[] { ("huge", huge.Url), ("drip", drip.Url) } : [("control-1", receivers.Url("control-1")), ("control-2", receivers.Url("control-2"))];
        var ids = new List<string> { await Subscribe("healthy", receivers.Url("healthy")) };
        foreach (var (name, url) in others) ids.Add(await Subscribe(name, url));
        foreach (var id in ids) await Api.SendAsync(http, HttpMethod.Patch, $"feeds/v1/subscriptions/{id}", new JsonObject { ["state"] = "disabled" });

        var have = 0;
        for (var round = 100; have < backlog; round++)
        {
            await Wrk.RunAsync("backlog", server.BaseUri, Path.Combine(lua, "create.lua"), [token, round.ToString(CultureInfo.InvariantCulture)], connections, TimeSpan.FromSeconds(Math.Max(2, (backlog - have) / 3000 + 1)));
            have = (await Api.SendAsync(http, HttpMethod.Get, "scim/v2/Users?count=0", null))["totalResults"]!.GetValue<int>();
        }

        var sink = receivers["healthy"];
        var (rssBefore, _) = server.Memory();
        var load = new LoadSample(server.Pid);
        var sw = Stopwatch.StartNew();
        // The others first, so that they are at work when the healthy one starts.
        foreach (var id in ids.Skip(1).Append(ids[0])) await Api.SendAsync(http, HttpMethod.Patch, $"feeds/v1/subscriptions/{id}", new JsonObject { ["state"] = "active" });
        long peakRss = 0;
        while (sink.Count < have && sw.Elapsed < deadline)
        {
            peakRss = Math.Max(peakRss, server.Memory().RssBytes);
            await Task.Delay(100);
        }
        var time = sw.Elapsed;
        var loadText = load.Describe();
        peakRss = Math.Max(peakRss, server.Memory().RssBytes);
        var (_, hwm) = server.Memory();

        var label = hostile
            ? $"**hostile**: healthy + `huge` (500 with a {hugeMb:N0} MB body to every request) + `drip` (202, then one byte a second)"
            : "**control**: healthy + two more well-behaved receivers";
        var line = new StringBuilder();
        line.AppendLine(CultureInfo.InvariantCulture, $"- {label}: backlog {have:N0} user creates; the healthy receiver got {sink.Count:N0}{(sink.Count < have ? $" (of {have:N0}, stopped at the deadline)" : "")} SETs in {time.TotalSeconds:F1} s: **{sink.Count / time.TotalSeconds:N0} events/s** (fan-out of three subscriptions included).");
        line.AppendLine(CultureInfo.InvariantCulture, $"  Server RSS {rssBefore / 1048576.0:N0} MB before enabling, **peak {peakRss / 1048576.0:N0} MB** during the drain (sampled every 100 ms; VmHWM over the process's life {hwm / 1048576.0:N0} MB). {loadText}.");
        if (hostile)
        {
            line.AppendLine(CultureInfo.InvariantCulture, $"  `huge` got {huge.Requests:N0} requests and managed to send {huge.BytesSent / 1048576.0:N0} MB in all, at most {huge.LargestAnswer / 1048576.0:N1} MB of one answer (of {hugeMb:N0} MB on offer); `drip` got {drip.Requests:N0} requests.");
            foreach (var (name, id) in others.Select((o, i) => (o.Item1, ids[i + 1])))
            {
                var s = await Api.SendAsync(http, HttpMethod.Get, $"feeds/v1/subscriptions/{id}", null);
                line.AppendLine(CultureInfo.InvariantCulture, $"  `{name}` at the end: state {s["state"]}, pending {s["stats"]!["pending"]}, in flight {s["stats"]!["inFlight"]}, dead letters {s["stats"]!["deadLetters"]}.");
            }
        }
        return line.ToString();
    }
}

/// <summary>
/// A hostile push receiver on a bare socket (one request per connection), counting what the server's socket
/// accepted: <see cref="Mode.Huge"/> answers 500 with a body of the given size, <see cref="Mode.Drip"/>
/// answers 202 and then sends a byte a second.
/// </summary>
internal sealed class HostileSink : IDisposable
{
    public enum Mode { Huge, Drip }

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Mode _mode;
    private readonly long _size;
    private long _bytes;
    private long _largest;
    private int _requests;

    public HostileSink(Mode mode, long size)
    {
        _mode = mode;
        _size = size;
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/events";
        _ = AcceptAsync();
    }

    public string Url { get; }
    public int Requests => Volatile.Read(ref _requests);
    public long BytesSent => Interlocked.Read(ref _bytes);
    public long LargestAnswer => Interlocked.Read(ref _largest);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
                _ = Task.Run(() => ServeAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            long sent = 0;
            try
            {
                var head = new StringBuilder();
                var one = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                {
                    if (await stream.ReadAsync(one, _stop.Token).ConfigureAwait(false) == 0) return;
                    head.Append((char)one[0]);
                }
                var length = head.ToString().Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                    .Select(l => int.Parse(l[15..].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
                await stream.ReadExactlyAsync(new byte[length], _stop.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _requests);
                if (_mode == Mode.Huge)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: {_size}\r\nConnection: close\r\n\r\n"), _stop.Token).ConfigureAwait(false);
                    var chunk = new byte[64 * 1024];
                    chunk.AsSpan().Fill((byte)'x');
                    while (sent < _size)
                    {
                        var n = (int)Math.Min(chunk.Length, _size - sent);
                        await stream.WriteAsync(chunk.AsMemory(0, n), _stop.Token).ConfigureAwait(false);
                        sent += n;
                        Interlocked.Add(ref _bytes, n);
                    }
                }
                else
                {
                    await stream.WriteAsync("HTTP/1.1 202 Accepted\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token).ConfigureAwait(false);
                    while (true)
                    {
                        await stream.WriteAsync(" "u8.ToArray(), _stop.Token).ConfigureAwait(false);
                        sent++;
                        Interlocked.Increment(ref _bytes);
                        await Task.Delay(1000, _stop.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server hung up (what it refused to read is the point), or the benchmark is over.
            }
            long seen;
            while (sent > (seen = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, sent, seen) != seen)
            {
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
