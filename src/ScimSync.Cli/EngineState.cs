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
        if (exclusive) throw CliException.Usage("key rotation of a PostgreSQL state is not supported by this command yet");
        return PostgresSyncState.Open(state, keys, instance);
    }

    /// <summary>
    /// The leases of engines sharing a PostgreSQL state; null for the SQLite state (one engine does every target).
    /// Without an instance (`sync status`) it only reads the leases: only `sync watch` runs it, and it needs a name.
    /// </summary>
    public static TargetOwnership? Ownership(ISyncState state, string? instance, ILoggerFactory loggers) =>
        state is PostgresSyncState shared
            ? new TargetOwnership(new PostgresTargetLeases(shared, instance ?? "status"), TimeProvider.System, loggers.CreateLogger<TargetOwnership>())
            : null;
}
