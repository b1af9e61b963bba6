using Npgsql;
using ScimSync.Protocol.Errors;

namespace ScimSync.Store.Postgres;

/// <summary>
/// What a PostgreSQL failure means to the server. Concurrent writers from several instances can meet in ways a
/// single SQLite writer never does: PostgreSQL then aborts one transaction (a deadlock between two sessions
/// locking the same rows in opposite orders). That request gets a 503 to retry rather than a 500; nothing of it
/// was written.
/// </summary>
internal static class PostgresErrors
{
    public static async Task<T> Guard<T>(Func<Task<T>> work)
    {
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
        {
            throw new ScimException(503, null, "A concurrent write to the same resources got in the way; nothing was written. Retry the request.");
        }
    }

    public static async Task Guard(Func<Task> work) => await Guard(async () => { await work().ConfigureAwait(false); return 0; }).ConfigureAwait(false);

    /// <summary>
    /// A pooled connection for a request. No free connection within the connection string's Timeout (every one
    /// busy with other requests), or a database that does not answer in that time, is a 503 to retry, like any
    /// other "busy for now", rather than a 500: nothing was done.
    /// </summary>
    public static async Task<NpgsqlConnection> OpenAsync(this NpgsqlDataSource source, CancellationToken ct)
    {
        try
        {
            return await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        }
        catch (NpgsqlException e) when (e.InnerException is TimeoutException)
        {
            throw new ScimException(503, null, "The database gave no connection in time (every pooled connection is busy, or it does not answer); nothing was done. Retry the request.");
        }
    }
}
