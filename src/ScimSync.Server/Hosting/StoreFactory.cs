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
    /// The server's store. With PostgreSQL, other instances' commits wake this one's fan-out and long polls (the
    /// signals come from <paramref name="services"/> when given).
    /// </summary>
    public static IResourceStore Create(ScimServerOptions options, KeyRing keys, IServiceProvider? services = null)
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
