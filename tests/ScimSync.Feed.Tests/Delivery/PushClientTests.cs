using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Feed.Delivery;

namespace ScimSync.Feed.Tests.Delivery;

/// <summary>The push client against a receiver made of a bare socket on loopback.</summary>
public sealed class PushClientTests : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly FakeTimeProvider _time = new();

    public PushClientTests() => _listener.Start();

    private string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/events";

    private PushClient Client() => new(new FeedOptions { Issuer = "test", PushAllowList = ["http://127.0.0.1:*"], PushTimeout = TimeSpan.FromSeconds(10) }, _time);

    private static StringContent Set() => new("a.b.c", Encoding.ASCII, "application/secevent+jwt");

    /// <summary>Takes one request, then lets <paramref name="answer"/> write; returns how many bytes the socket took.</summary>
    private Task<long> ServeOnceAsync(Func<NetworkStream, Task<long>> answer, TaskCompletionSource? requestRead = null) => Task.Run(async () =>
    {
        using var client = await _listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one) > 0) head.Append((char)one[0]);
        var length = int.Parse(head.ToString().Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await stream.ReadExactlyAsync(new byte[length]);
        requestRead?.SetResult();
        return await answer(stream);
    });

    private static async Task<long> WriteEndlessly(NetworkStream stream, string head)
    {
        long sent = 0;
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            var chunk = new byte[64 * 1024];
            chunk.AsSpan().Fill((byte)'x');
            while (sent < 1L << 30)
            {
                await stream.WriteAsync(chunk);
                sent += chunk.Length;
            }
        }
        catch (IOException)
        {
        }
        return sent;
    }

    [Fact]
    public async Task An_answer_is_read_up_to_the_cap_and_the_connection_dropped_instead_of_drained()
    {
        using var client = Client();
        var server = ServeOnceAsync(s => WriteEndlessly(s, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"));
        var answer = await client.SendAsync(new Uri(Url), Set(), 1000, default);
        Assert.Equal(400, answer.Status);
        Assert.True(answer.Truncated);
        Assert.Equal(1000, answer.Body.Length);
        // What loopback buffers hold, not the gigabyte on offer.
        Assert.InRange(await server, 0, 32L * 1024 * 1024);
    }

    [Fact]
    public async Task A_body_without_a_length_is_capped_the_same_way()
    {
        using var client = Client();
        var server = ServeOnceAsync(s => WriteEndlessly(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"));
        var answer = await client.SendAsync(new Uri(Url), Set(), 5000, default);
        Assert.True(answer.Truncated);
        Assert.Equal(5000, answer.Body.Length);
        Assert.InRange(await server, 0, 32L * 1024 * 1024);
    }

    [Fact]
    public async Task An_answer_within_the_cap_is_read_whole_with_its_status_and_encoding()
    {
        using var client = Client();
        var body = """{"err":"invalid_key","description":"rotated"}""";
        _ = ServeOnceAsync(async s =>
        {
            await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
            return body.Length;
        });
        var answer = await client.SendAsync(new Uri(Url), Set(), 1000, default);
        Assert.False(answer.Truncated);
        Assert.Equal("invalid_key: rotated", answer.RefusalReason());
    }

    [Fact]
    public async Task A_receiver_that_takes_the_request_and_never_answers_times_out_on_the_push_clock()
    {
        using var client = Client();
        var requestRead = new TaskCompletionSource();
        var hangUp = new TaskCompletionSource<long>();
        _ = ServeOnceAsync(_ => hangUp.Task, requestRead);
        var sending = client.SendAsync(new Uri(Url), Set(), 1000, default);
        await requestRead.Task;
        _time.Advance(TimeSpan.FromSeconds(10));
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => sending);
        Assert.Contains("10 s", timeout.Message, StringComparison.Ordinal);
        hangUp.SetResult(0);
    }

    [Fact]
    public async Task A_name_resolving_to_an_address_the_allow_list_does_not_name_is_refused_before_any_byte_is_sent()
    {
        using var client = new PushClient(new FeedOptions { Issuer = "test", PushAllowList = ["http://localhost:*"] }, _time);
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        var accepted = _listener.AcceptTcpClientAsync();
        await Assert.ThrowsAsync<PushRefusedException>(() => client.SendAsync(new Uri($"http://localhost:{port}/events"), Set(), 1000, default));
        Assert.False(accepted.IsCompleted);
    }

    public ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }
}
