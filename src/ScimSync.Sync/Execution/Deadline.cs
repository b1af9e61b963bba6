namespace ScimSync.Sync.Execution;

/// <summary>
/// A cancellation token that also expires after a while (on the engine's <see cref="TimeProvider"/>):
/// every read, plan and run of a target has one, so a target that answers slowly forever costs bounded time
/// and fails only its own work, with a message that says which deadline passed.
/// </summary>
public sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public Deadline(TimeSpan after, TimeProvider time, CancellationToken ct)
    {
        After = after;
        _timer = new CancellationTokenSource(after, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _timer.Token);
    }

    public TimeSpan After { get; }

    public CancellationToken Token => _linked.Token;

    /// <summary>The deadline passed (as opposed to the caller cancelling).</summary>
    public bool Expired => _timer.IsCancellationRequested;

    public override string ToString() => After.TotalMinutes >= 1 ? $"{After.TotalMinutes:0.#} min" : $"{After.TotalSeconds:0.#} s";

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
