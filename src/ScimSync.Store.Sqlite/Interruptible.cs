using Microsoft.Data.Sqlite;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Cancellation that reaches a running statement. Microsoft.Data.Sqlite's <c>SqliteCommand.Cancel()</c>
/// does nothing and its async methods only look at the token before they start, so a cancelled request
/// would otherwise keep its query running to the end. sqlite3_interrupt, which SQLite documents as safe to
/// call from another thread, makes the running statement stop at its next step with SQLITE_INTERRUPT.
/// </summary>
internal static class Interruptible
{
    private const int SqliteInterrupt = 9;

    public static T Run<T>(SqliteConnection connection, CancellationToken ct, Func<SqliteConnection, T> work)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            // Disposed before the caller returns the connection to the pool (Dispose waits for a callback
            // in progress), so an interrupt never lands on the next user's statement. An interrupt that
            // arrives when no statement runs is a no-op in SQLite.
            using (ct.UnsafeRegister(static c => SQLitePCL.raw.sqlite3_interrupt(((SqliteConnection)c!).Handle), connection))
                return work(connection);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == SqliteInterrupt && ct.IsCancellationRequested)
        {
            throw new OperationCanceledException("The query was interrupted", e, ct);
        }
    }
}
