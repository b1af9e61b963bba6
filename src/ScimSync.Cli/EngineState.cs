using Microsoft.Extensions.Logging;
using ScimSync.Postgres;
using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Leases;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Postgres;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Cli;

/// <summary>
/// Where the command line gets the engine's state: the one place that chooses its implementation. The SQLite file in
/// the configuration's <c>state</c> directory, or, with <c>--state postgres://…</c>, a PostgreSQL schema that several
/// engine processes share (then the targets are divided between them by leases: <see cref="Ownership"/>). Either is
/// sealed with the configuration's <c>keyFile</c> (default: beside the state directory).
/// </summary>
internal static class EngineState
{
    /// <summary>`--state`: a PostgreSQL database for the state instead of the configuration's directory.</summary>
    public static readonly System.CommandLine.Option<string?> StateOption = new("--state")
    {
        Description = "The engine's state in PostgreSQL (postgres://USER@HOST:PORT/DB?schema=NAME), shared by several `sync watch` processes; default: the configuration's state directory",
        HelpName = "URL",
    };

    /// <summary>`--instance`: this engine's name among those sharing a PostgreSQL state.</summary>
    public static readonly System.CommandLine.Option<string?> InstanceOption = new("--instance")
    {
        Description = "With --state postgres://… (required there): this engine's name among those sharing the state, the same across restarts; `sync status` shows owners by it",
        HelpName = "NAME",
    };

    public static ISyncState Open(SyncConfig config, string? state = null) => Open(config, KeyRing.ForDirectory(config.StateDirectory, config.KeyFile), state: state);

    /// <param name="keys">The key ring sealing the state's secrets: key rotation adds a key to it while the state is open.</param>
    /// <param name="exclusive">For key rotation: fail if any other process has the state open.</param>
    /// <param name="state">A <c>postgres://</c> URL, or null for the configuration's directory.</param>
    public static ISyncState Open(SyncConfig config, KeyRing keys, bool exclusive = false, string? state = null, string? instance = null)
    {
        if (state is null) return SqliteSyncState.Open(config.StateDirectory, keys, exclusive);
        if (!PostgresUrl.IsUrl(state)) throw CliException.Usage($"--state takes a postgres:// URL, not \"{state}\"");
        var shared = PostgresSyncState.Open(state, keys, instance);
        if (!exclusive) return shared;
        try
        {
            RefuseWhileInUse(shared);
        }
        catch
        {
            shared.Dispose();
            throw;
        }
        return shared;
    }

    /// <summary>
    /// The leases of engines sharing a PostgreSQL state; null for the SQLite state (one engine does every target).
    /// Without an instance (`sync status`) it only reads the leases: only `sync watch` runs it, and it needs a name.
    /// </summary>
    /// <summary>
    /// Key rotation of a shared state needs every engine stopped: each keeps the key file it loaded at start and would
    /// not open what is sealed with the new key. Asked before the rotation and again before the old key is retired.
    /// </summary>
    public static void RefuseWhileInUse(ISyncState state)
    {
        if (InUseBy(state) is { Count: > 0 } live)
            throw CliException.Configuration($"{((PostgresSyncState)state).Display} is in use by {string.Join(", ", live)}: stop every engine and command on it before rotating its key, since each keeps the key file it loaded at start");
    }

    /// <summary>Where the state is, as people may see it: the directory, or the PostgreSQL schema (no password).</summary>
    public static string Describe(SyncConfig config, ISyncState state) => state is PostgresSyncState shared ? shared.Display : config.StateDirectory;

    /// <summary>Who uses a shared state now (live engines, lease holders); empty for the SQLite state, which the rotation locks.</summary>
    public static IReadOnlyList<string> InUseBy(ISyncState state) => state is PostgresSyncState shared ? shared.LiveHolders() : [];

    /// <summary>
    /// For a command that changes targets (plan, run, reconcile, confirm): its leases on a shared PostgreSQL state,
    /// named after the verb, this host and this process; null for the SQLite state, which the command owns whole.
    /// </summary>
    public static PostgresTargetClaims? Claims(ISyncState state, string verb) =>
        state is PostgresSyncState shared ? new PostgresTargetClaims(shared, $"sync {verb}@{Environment.MachineName}:{Environment.ProcessId}") : null;

    public static TargetOwnership? Ownership(ISyncState state, string? instance, ILoggerFactory loggers) =>
        state is PostgresSyncState shared
            ? new TargetOwnership(new PostgresTargetLeases(shared, instance ?? "status"), TimeProvider.System, loggers.CreateLogger<TargetOwnership>())
            : null;
}
