using ScimSync.Client;

namespace ScimSync.Sync.Execution;

/// <summary>
/// Whether a target answers, as the engine last found out. An operation that gets no answer (connection
/// refused, a timeout, a gateway error) marks the target down; its other operations are then not tried
/// one by one (each would wait out its own retries), and in watch mode a prober asks the target a cheap
/// question about once a second until it answers, which resumes its queue at once. Per-operation backoff
/// is for targets that answer with errors, not for targets that do not answer.
/// </summary>
public sealed class TargetHealth(TimeProvider time)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _up = Completed();
    private TaskCompletionSource _down = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsDown { get; private set; }

    public DateTimeOffset? DownSince { get; private set; }

    /// <summary>The failure that marked the target down, or the last one seen.</summary>
    public string? LastError { get; private set; }

    /// <summary>A failure that says the target did not answer at all, as opposed to answering with an error.</summary>
    public static bool IsUnreachable(ScimClientException e) => e.Status is 0 or 502 or 504;

    /// <summary>Raised once per outage, when the target is first marked down, with the reason.</summary>
    public event Action<string>? WentDown;

    public void MarkDown(string reason)
    {
        lock (_gate)
        {
            LastError = reason;
            if (IsDown) return;
            IsDown = true;
            DownSince = time.GetUtcNow();
            _up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _down.TrySetResult();
        }
        WentDown?.Invoke(reason);
    }

    /// <returns>How long the target was down, or null when it was not.</returns>
    public TimeSpan? MarkUp()
    {
        TaskCompletionSource up;
        TimeSpan outage;
        lock (_gate)
        {
            if (!IsDown) return null;
            IsDown = false;
            outage = time.GetUtcNow() - DownSince!.Value;
            DownSince = null;
            up = _up;
            _down = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        up.TrySetResult();
        return outage;
    }

    /// <summary>Completes at once when the target is up, else when it comes back.</summary>
    public Task WhenUpAsync(CancellationToken ct)
    {
        lock (_gate) return _up.Task.WaitAsync(ct);
    }

    /// <summary>Completes when the target is marked down.</summary>
    public Task WhenDownAsync(CancellationToken ct)
    {
        lock (_gate) return IsDown ? Task.CompletedTask : _down.Task.WaitAsync(ct);
    }

    /// <summary>
    /// While the target is down, asks it a cheap question about once a second (with jitter, so that many
    /// engines do not probe in step) and marks it up as soon as it answers. Runs until cancelled.
    /// </summary>
    public async Task ProbeWhileDownAsync(ScimClient client, Action<TimeSpan> cameBack, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await WhenDownAsync(ct).ConfigureAwait(false);
            while (IsDown && !ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(800 + Random.Shared.Next(400)), time, ct).ConfigureAwait(false);
                if (await client.ProbeAsync(ProbeTimeout, ct).ConfigureAwait(false) && MarkUp() is { } outage) cameBack(outage);
            }
        }
    }

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.TrySetResult();
        return done;
    }
}
