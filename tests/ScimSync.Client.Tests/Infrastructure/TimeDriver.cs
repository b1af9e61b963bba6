using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Client.Transport;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>
/// Fake time for a client: every wait the client starts is recorded and then paid by advancing the fake
/// clock by exactly that much, so retries and rate limits run instantly and the delays can be asserted.
/// </summary>
public sealed class TimeDriver
{
    private readonly Channel<(TimeSpan Delay, string Reason)> _waits = Channel.CreateUnbounded<(TimeSpan, string)>();
    private readonly List<(TimeSpan Delay, string Reason)> _paid = [];

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    public IReadOnlyList<(TimeSpan Delay, string Reason)> Waits => _paid;

    public ScimClient Attach(ScimClient client)
    {
        client.WaitObserver = (delay, reason) => _waits.Writer.TryWrite((delay, reason.ToString()));
        return client;
    }

    /// <summary>The next wait the client starts, without advancing the clock (the test decides).</summary>
    public async Task<(TimeSpan Delay, string Reason)> NextWaitAsync() =>
        await _waits.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Runs <paramref name="call"/>, advancing the clock for each wait, until it completes.</summary>
    public async Task<T> RunAsync<T>(Task<T> call)
    {
        await DriveAsync(call);
        return await call;
    }

    public async Task DriveAsync(Task call)
    {
        using var done = new CancellationTokenSource();
        _ = call.ContinueWith(_ => done.Cancel(), TaskScheduler.Default);
        while (!call.IsCompleted)
        {
            (TimeSpan Delay, string Reason) wait;
            try
            {
                wait = await _waits.Reader.ReadAsync(done.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (OperationCanceledException) when (call.IsCompleted)
            {
                break;
            }
            _paid.Add(wait);
            Time.Advance(wait.Delay);
        }
    }
}
