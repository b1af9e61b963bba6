using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Cli;

/// <summary>
/// Where the command line gets the engine's state: the one place that chooses its implementation (today the SQLite
/// file in the configuration's <c>state</c> directory, sealed with its <c>keyFile</c>).
/// </summary>
internal static class EngineState
{
    public static ISyncState Open(SyncConfig config) => Open(config, KeyRing.ForDirectory(config.StateDirectory, config.KeyFile));

    /// <param name="keys">The key ring sealing the state's secrets: key rotation adds a key to it while the state is open.</param>
    /// <param name="exclusive">For key rotation: fail if any other process has the state open.</param>
    public static ISyncState Open(SyncConfig config, KeyRing keys, bool exclusive = false) =>
        SqliteSyncState.Open(config.StateDirectory, keys, exclusive);
}
