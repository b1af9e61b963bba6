using Microsoft.Extensions.DependencyInjection;
using ScimSync.Feed.Delivery;
using ScimSync.Secrets;
using ScimSync.Store;
using ScimSync.Store.Journal;
using ScimSync.Store.Postgres;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Hosting;

/// <summary>
/// Which store a server runs on, from <see cref="ScimServerOptions.Store"/>: the embedded SQLite file in the data
/// directory (the default), or a PostgreSQL database (<c>postgres://…</c>) that several instances share. The one
/// place that knows both; everything else sees <see cref="IResourceStore"/>.
/// </summary>
public static class StoreFactory
{
    /// <summary>Whether <paramref name="store"/> names a PostgreSQL database (a postgres:// or postgresql:// URL).</summary>
    public static bool IsPostgres(string? store) =>
        store is not null && (store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Refuses a store setting that cannot name a database before anything starts: a URL that does not parse or
    /// has an option the store does not know. The message never repeats the URL (it may hold a password).
    /// </summary>
    /// <exception cref="FormatException">Not a usable postgres:// URL.</exception>
    public static void Check(string store)
    {
        if (!IsPostgres(store)) throw new FormatException("must be sqlite or a postgres://user@host:port/database URL");
        try
        {
            PostgresResourceStore.Describe(store);
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException or OverflowException)
        {
            throw new FormatException($"is not a usable PostgreSQL URL: {e.Message}", e);
        }
    }

    /// <summary>The store as logs and the start-up line show it: the SQLite file, or the PostgreSQL URL without its password.</summary>
    public static string Describe(ScimServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return IsPostgres(options.Store) ? PostgresResourceStore.Describe(options.Store!) : options.DatabasePath;
    }

    /// <summary>
    /// The server's store. With PostgreSQL, other instances' commits wake this one's fan-out and long polls (the
    /// signals come from <paramref name="services"/> when given). Without <paramref name="keys"/> the store holds
    /// no sealed secret (the token and status commands need none).
    /// </summary>
    public static IResourceStore Create(ScimServerOptions options, KeyRing? keys, IServiceProvider? services = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.StoreFactory is { } custom) return custom(options);
        if (!IsPostgres(options.Store))
        {
            if (options.Store is not null && options.Store != options.DatabasePath)
                throw new ArgumentException($"--store must be a postgres:// URL (SQLite lives in the data directory), not \"{options.Store}\"");
            return new SqliteResourceStore(options.DatabasePath, options.Durability, keys);
        }
        var journal = services?.GetService<ChangeSignal>();
        var deliveries = services?.GetService<DeliverySignal>();
        return new PostgresResourceStore(options.Store!, keys,
            journal is null ? null : journal.Notify,
            deliveries is null ? null : deliveries.Signal.Notify,
            instance: options.InstanceName,
            time: services?.GetService<TimeProvider>());
    }
}

/// <summary>
/// The store could not be opened at start (a database that does not answer, refuses the login, or has a schema
/// this build does not know): the server must not start. The message names the store without credentials.
/// </summary>
public sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);
