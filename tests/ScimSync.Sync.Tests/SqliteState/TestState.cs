using ScimSync.Secrets;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.SqliteState;

/// <summary>The engine's state for a configuration, as the command line opens it (a real SQLite file).</summary>
internal static class TestState
{
    public static ISyncState Open(SyncConfig config) =>
        SqliteSyncState.Open(config.StateDirectory, KeyRing.ForDirectory(config.StateDirectory, config.KeyFile));
}
