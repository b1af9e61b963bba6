using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Group commit. With synchronous=FULL every COMMIT waits for the disk (fsync), so one transaction per request
/// would cap writes at one request per fsync. Instead, requests that want to write while another is writing
/// join one SQLite transaction, one after the other on the single writer connection (SQLite has one writer
/// anyway), each inside its own savepoint; the last member to finish, finding nobody waiting to join, commits
/// them all with one COMMIT and one fsync. Every member's CommitAsync completes only after that COMMIT, so a
/// request is acknowledged only once its write is on disk.
/// <list type="bullet">
/// <item>Isolation: a member whose work fails (a 409, a 412, a bug) rolls back to its savepoint, which undoes its
/// writes and nothing else; the others commit. A member's journal entries are written inside its savepoint,
/// so a change and its journal entry are kept or undone together (DESIGN.md invariant 1).</item>
/// <item>Whole-group failure: an I/O error or a full disk at COMMIT, or an error after which SQLite rolls
/// back the whole transaction, fails every member still waiting, none of which was acknowledged.</item>
/// <item>Reads: a member reads what earlier members of its group wrote, as it would have after their own
/// commits. A member that changed nothing (a no-op PUT, a 404) still waits for the group's commit, so no
/// answer shows a state before it is durable.</item>
/// <item>Ordering: journal positions are taken in order inside the one transaction, which commits atomically,
/// so readers still see positions appear strictly in order (invariant 2).</item>
/// </list>
/// All group state below is touched only by whoever holds the writer gate.
/// </summary>
internal sealed partial class SqliteConnectionPool
{
    /// <summary>
    /// Members per transaction at most: a bound on how long the first member of a group waits when joiners
    /// keep coming. 32 connections never reach it; it matters only with more concurrent writers than that.
    /// </summary>
    public const int MaxGroupMembers = 128;

    private const string Savepoint = "request";

    private readonly StoreMetrics _metrics;
    private readonly List<TaskCompletionSource> _groupMembers = [];
    private SqliteTransaction? _group;

    // Sessions waiting for the writer in order to join. A member that finds one hands the writer on instead of
    // committing; the joiner is then bound to commit or hand on in its turn, which is why its wait is not
    // cancellable (a joiner that gave up would leave the group waiting for nobody).
    private int _joining;

    /// <summary>Waits for the writer and starts a member: the group's transaction (opened if none is) and a savepoint.</summary>
    public async Task<(SqliteConnection Connection, SqliteTransaction Transaction)> JoinGroupAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _joining);
        try
        {
            await _writerGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _joining);
        }
        try
        {
            ct.ThrowIfCancellationRequested();
            _writer ??= OpenConfigured(cacheKib: 32768);
            // IMMEDIATE takes the write lock now, so a member's read-modify-write cannot fail half-way with SQLITE_BUSY.
            _group ??= _writer.BeginTransaction(deferred: false);
            Exec($"SAVEPOINT {Savepoint}");
            return (_writer, _group);
        }
        catch
        {
            HandOn();
            throw;
        }
    }

    /// <summary>
    /// Ends the current member, keeping its writes or undoing them, and hands the writer on. The task completes
    /// when the group's COMMIT is done (faulted if the group failed).
    /// </summary>
    public Task EndMember(bool keep)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            if (_group is null || raw.sqlite3_get_autocommit(_writer!.Handle) != 0)
            {
                // SQLite itself rolled the transaction back (I/O error, disk full): every member's work is gone.
                var lost = new InvalidOperationException("SQLite rolled back the write transaction after an error; nothing in it was committed");
                FailGroup(lost);
                done.SetException(lost);
                return done.Task;
            }
            Exec(keep ? $"RELEASE {Savepoint}" : $"ROLLBACK TO {Savepoint}; RELEASE {Savepoint}");
            _groupMembers.Add(done);
        }
        catch (Exception e)
        {
            FailGroup(e);
            done.TrySetException(e);
        }
        finally
        {
            HandOn();
        }
        return done.Task;
    }

    /// <summary>Leaves the group open for a waiting joiner, or commits it; then releases the writer.</summary>
    private void HandOn()
    {
        try
        {
            if (Volatile.Read(ref _joining) == 0 || _groupMembers.Count >= MaxGroupMembers) CommitGroup();
        }
        finally
        {
            _writerGate.Release();
        }
    }

    /// <summary>Commits the open group, if any, and completes its members. Called with the writer gate held.</summary>
    private void CommitGroup()
    {
        if (_group is null) return;
        var tx = _group;
        var members = _groupMembers.ToArray();
        _group = null;
        _groupMembers.Clear();
        try
        {
            tx.Commit();
        }
        catch (Exception e)
        {
            Discard(tx);
            foreach (var m in members) m.TrySetException(e);
            return;
        }
        tx.Dispose();
        _metrics.Committed(members.Length);
        foreach (var m in members) m.TrySetResult();
    }

    private void FailGroup(Exception e)
    {
        if (_group is not null) Discard(_group);
        _group = null;
        foreach (var m in _groupMembers) m.TrySetException(e);
        _groupMembers.Clear();
    }

    /// <summary>Rolls back what SQLite has not already rolled back, and forgets the transaction.</summary>
    private void Discard(SqliteTransaction tx)
    {
        try
        {
            if (raw.sqlite3_get_autocommit(_writer!.Handle) == 0) tx.Rollback();
        }
        catch (SqliteException)
        {
            // Nothing more can be done for this transaction; the next one starts from what is on disk.
        }
        try
        {
            tx.Dispose();
        }
        catch (SqliteException)
        {
        }
    }

    private void Exec(string sql) => PreparedCommands.Get(_writer!, sql, _group).ExecuteNonQuery();
}
