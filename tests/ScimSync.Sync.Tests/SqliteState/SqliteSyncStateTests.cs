using Microsoft.Data.Sqlite;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.SqliteState;

public sealed class SqliteSyncStateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-shadow-" + Guid.NewGuid().ToString("N")[..8]);
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_queue_written_by_an_earlier_build_gets_its_change_counter()
    {
        ScimSync.Secrets.PrivateFiles.EnsureDirectory(_dir, "state directory");
        ScimSync.Secrets.PrivateFiles.CreateFile(Path.Combine(_dir, "sync.db")); // as `chmod 600` after an upgrade
        using (var db = new SqliteConnection($"Data Source={Path.Combine(_dir, "sync.db")};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE pending (target TEXT NOT NULL, source_id TEXT NOT NULL, urgent INTEGER NOT NULL, enqueued INTEGER NOT NULL,
                    PRIMARY KEY (target, source_id)) WITHOUT ROWID;
                INSERT INTO pending VALUES ('app', 's1', 0, 1);
                """;
            cmd.ExecuteNonQuery();
        }
        using var store = SqliteSyncState.Open(_dir);
        var old = Assert.Single(store.Pending("app", 10));
        Assert.Equal(("s1", 0L), (old.SourceId, old.Changes));
        store.Batch(w => w.Dequeue("app", old));
        Assert.Empty(store.Pending("app", 10));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
