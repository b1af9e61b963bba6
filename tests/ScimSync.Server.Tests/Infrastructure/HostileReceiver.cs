using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// A push receiver on a loopback port that attacks its transmitter with its answers: huge or endless bodies,
/// a gzip bomb, a drip, silence, or error bodies of the wrong shape. It speaks HTTP/1.1 over a plain socket
/// (one request per connection) rather than through Kestrel, because it must know how much of an answer the
/// transmitter really took: a socket write fails once the transmitter hangs up, where Kestrel quietly
/// discards writes after a disconnect.
/// </summary>
public sealed class HostileReceiver : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Func<Answer, Task> _answer;
    private readonly Task _accepting;
    private long _bytes;
    private long _largest;
    private int _requests;
    private readonly System.Collections.Concurrent.ConcurrentQueue<long> _starts = new(); // Stopwatch timestamps of request arrivals

    private HostileReceiver(Func<Answer, Task> answer)
    {
        _answer = answer;
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/events";
        _accepting = AcceptAsync();
    }

    public string Url { get; }

    /// <summary>Requests received (each one a push attempt).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>
    /// The most requests that arrived within any span of <paramref name="window"/>. When every request stays open
    /// longer than the window (a silent receiver, a transmitter that waits out its timeout), those requests were all
    /// open together at the span's end: a count of concurrency that does not depend on when hang-ups are noticed.
    /// </summary>
    public int MostStartedWithin(TimeSpan window)
    {
        var starts = _starts.Order().ToArray();
        var span = (long)(window.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        var most = 0;
        for (int first = 0, last = 0; last < starts.Length; last++)
        {
            while (starts[last] - starts[first] >= span) first++;
            most = Math.Max(most, last - first + 1);
        }
        return most;
    }

    /// <summary>Answer bytes (head and body) the transmitter's socket accepted, over all requests.</summary>
    public long BytesSent => Interlocked.Read(ref _bytes);

    /// <summary>The most bytes one answer got out before the transmitter hung up (or the answer ended).</summary>
    public long LargestAnswerSent => Interlocked.Read(ref _largest);

    /// <summary>Never writes more than this per answer, so that a transmitter that reads everything still ends.</summary>
    public const long SafetyStop = 512L * 1024 * 1024;

    private static readonly byte[] Filler = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));

    /// <summary><paramref name="status"/> with <paramref name="prefix"/> followed by filler up to <paramref name="total"/> bytes.</summary>
    public static HostileReceiver Huge(int status, long total, string prefix = "{\"err\":\"invalid_request\",\"description\":\"") =>
        new(async a =>
        {
            await a.HeadAsync(status, ("Content-Type", "application/json"), ("Content-Length", total.ToString(CultureInfo.InvariantCulture)));
            await a.BodyAsync(Encoding.ASCII.GetBytes(prefix), total);
        });

    /// <summary><paramref name="status"/> and a body that never ends (delimited by the connection's end, which never comes).</summary>
    public static HostileReceiver Endless(int status) =>
        new(async a =>
        {
            await a.HeadAsync(status, ("Content-Type", "application/json"), ("Connection", "close"));
            await a.BodyAsync("{\"setErrs\":{\""u8.ToArray(), SafetyStop);
        });

    /// <summary>A 400 whose gzip-encoded body inflates to <paramref name="inflated"/> bytes.</summary>
    public static HostileReceiver GzipBomb(long inflated)
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            for (long n = 0; n < inflated; n += zeros.Length) gzip.Write(zeros);
        }
        var bomb = packed.ToArray();
        return new(async a =>
        {
            await a.HeadAsync(400, ("Content-Type", "application/json"), ("Content-Encoding", "gzip"), ("Content-Length", bomb.Length.ToString(CultureInfo.InvariantCulture)));
            await a.BodyAsync(bomb, bomb.Length);
        });
    }

    /// <summary>Headers at once, then one byte of body every <paramref name="interval"/>, for ever.</summary>
    public static HostileReceiver Drip(int status, TimeSpan interval) =>
        new(async a =>
        {
            await a.HeadAsync(status, ("Content-Type", "application/json"), ("Content-Length", "1000000"));
            while (await a.BodyAsync(" "u8.ToArray(), 1)) await Task.Delay(interval, a.Stopping);
        });

    /// <summary>Takes the request and never answers (holding the connection until the transmitter gives up).</summary>
    public static HostileReceiver Silent() => new(a => a.HangUpAsync());

    /// <summary>A fixed answer, e.g. 400 with <c>{"err": 1}</c>.</summary>
    public static HostileReceiver Answering(int status, string body, string contentType = "application/json") =>
        new(async a =>
        {
            var bytes = Encoding.UTF8.GetBytes(body);
            await a.HeadAsync(status, ("Content-Type", contentType), ("Content-Language", "en"), ("Content-Length", bytes.Length.ToString(CultureInfo.InvariantCulture)));
            await a.BodyAsync(bytes, bytes.Length);
        });

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stopping.Token);
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
            var answer = new Answer(client.GetStream(), this, _stopping.Token);
            try
            {
                if (!await ReadRequestAsync(client.GetStream(), _stopping.Token)) return;
                Interlocked.Increment(ref _requests);
                _starts.Enqueue(System.Diagnostics.Stopwatch.GetTimestamp());
                await _answer(answer);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // The transmitter hung up, or the receiver is stopping.
            }
        }
    }

    /// <summary>Reads one request: its head up to the blank line, then Content-Length bytes of body.</summary>
    private static async Task<bool> ReadRequestAsync(NetworkStream stream, CancellationToken ct)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, ct) == 0) return false;
            head.Add(one[0]);
        }
        var length = 0;
        foreach (var line in Encoding.ASCII.GetString([.. head]).Split("\r\n"))
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                length = int.Parse(line["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, ct);
        return true;
    }

    /// <summary>One answer being written; counts what the transmitter's socket accepted.</summary>
    public sealed class Answer(NetworkStream stream, HostileReceiver receiver, CancellationToken stopping)
    {
        private long _sent;

        public CancellationToken Stopping { get; } = stopping;

        /// <summary>Completes when the transmitter closes the connection.</summary>
        public async Task HangUpAsync()
        {
            var buffer = new byte[1024];
            while (await stream.ReadAsync(buffer, Stopping) > 0)
            {
            }
        }

        public Task HeadAsync(int status, params (string Name, string Value)[] headers)
        {
            var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} Whatever\r\n");
            foreach (var (name, value) in headers) text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
            // One request per connection: the transmitter must not reuse it.
            if (!headers.Any(h => h.Name == "Connection")) text.Append("Connection: close\r\n");
            text.Append("\r\n");
            return WriteAsync(Encoding.ASCII.GetBytes(text.ToString()));
        }

        /// <summary>Writes <paramref name="head"/> then filler up to <paramref name="total"/> bytes; false once the transmitter hung up.</summary>
        public async Task<bool> BodyAsync(byte[] head, long total)
        {
            try
            {
                var written = Math.Min(head.Length, total);
                await WriteAsync(head.AsMemory(0, (int)written));
                while (written < total && written < SafetyStop)
                {
                    var n = (int)Math.Min(Filler.Length, total - written);
                    await WriteAsync(Filler.AsMemory(0, n));
                    written += n;
                }
                return true;
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                return false;
            }
        }

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            await stream.WriteAsync(bytes, Stopping);
            _sent += bytes.Length;
            Interlocked.Add(ref receiver._bytes, bytes.Length);
            long seen;
            while (_sent > (seen = Interlocked.Read(ref receiver._largest)) && Interlocked.CompareExchange(ref receiver._largest, _sent, seen) != seen)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stopping.Dispose();
    }
}
