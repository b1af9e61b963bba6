using System.Threading.Channels;

namespace ScimSync.Sync.State;

/// <summary>
/// Group commit for a state adapter's <see cref="ISyncState.WriteAsync"/>: units of work are queued, one writer
/// applies everything queued so far in one transaction (the adapter's <c>Batch</c>), and each caller's task
/// completes once that transaction has committed. Callers never block a thread on the store: with 16 operations
/// in flight, blocking had been what bounded an initial load. The rule is the same whatever the database, so it
/// lives here once and each adapter brings only its transaction.
/// </summary>
public sealed class GroupCommit : IDisposable
{
    /// <summary>Units of work one transaction carries at most.</summary>
    public const int MaxGroup = 2000;

    private readonly Channel<(Action<IStateWriter> Work, TaskCompletionSource Done)> _writes =
        Channel.CreateUnbounded<(Action<IStateWriter>, TaskCompletionSource)>(new() { SingleReader = true });
    private readonly Action<Action<IStateWriter>> _batch;
    private readonly string _owner;
    private readonly Task _writer;

    /// <param name="batch">Runs its argument in one transaction and commits it, or rolls it back and throws.</param>
    /// <param name="owner">Named in the exception a write queued after <see cref="Dispose"/> gets.</param>
    public GroupCommit(Action<Action<IStateWriter>> batch, string owner)
    {
        _batch = batch;
        _owner = owner;
        _writer = Task.Run(WriteLoopAsync);
    }

    public Task WriteAsync(Action<IStateWriter> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_writes.Writer.TryWrite((work, done))) throw new ObjectDisposedException(_owner);
        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var group = new List<(Action<IStateWriter> Work, TaskCompletionSource Done)>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < MaxGroup && _writes.Reader.TryRead(out var item)) group.Add(item);
            try
            {
                _batch(w =>
                {
                    foreach (var (work, _) in group) work(w);
                });
                foreach (var (_, done) in group) done.TrySetResult();
            }
            catch (Exception) when (group.Count > 1)
            {
                // One write failed and the group was rolled back: each is applied alone, so that only the
                // failing one reports it.
                foreach (var (work, done) in group)
                {
                    try
                    {
                        _batch(work);
                        done.TrySetResult();
                    }
                    catch (Exception e)
                    {
                        done.TrySetException(e);
                    }
                }
            }
            catch (Exception e)
            {
                group[0].Done.TrySetException(e);
            }
        }
    }

    /// <summary>Commits what is queued and stops; the adapter closes its connections after this.</summary>
    public void Dispose()
    {
        _writes.Writer.TryComplete();
        _writer.GetAwaiter().GetResult();
    }
}
