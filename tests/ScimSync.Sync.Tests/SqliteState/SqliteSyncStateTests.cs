using Microsoft.Data.Sqlite;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.SqliteState;

public sealed class SqliteSyncStateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-shadow-" + Guid.NewGuid().ToString("N")[..8]);
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_change_queued_while_its_key_is_being_applied_stays_queued()
    {
        using var store = SqliteSyncState.Open(_dir);
        store.Batch(w => w.Enqueue("app", "s1", false, Now));
        var taken = Assert.Single(store.Pending("app", 10));

        // While s1 is applied from the state it had, another change to it arrives (urgent this time).
        store.Batch(w => w.Enqueue("app", "s1", true, Now.AddSeconds(1)));
        store.Batch(w => w.Dequeue("app", taken));
        var again = Assert.Single(store.Pending("app", 10));
        Assert.True(again.Urgent);

        // Applied again, nothing new meanwhile: gone.
        store.Batch(w => w.Dequeue("app", again));
        Assert.Empty(store.Pending("app", 10));
    }

    [Fact]
    public void Urgent_keys_come_first_and_the_urgent_lane_sees_only_them()
    {
        using var store = SqliteSyncState.Open(_dir);
        store.Batch(w =>
        {
            w.Enqueue("app", "routine1", false, Now);
            w.Enqueue("app", "urgent1", true, Now.AddSeconds(1));
            w.Enqueue("app", "routine2", false, Now.AddSeconds(2));
        });
        Assert.Equal(["urgent1", "routine1", "routine2"], store.Pending("app", 10).Select(p => p.SourceId));
        Assert.Equal(["urgent1"], store.Pending("app", 10, urgentOnly: true).Select(p => p.SourceId));
    }

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

    [Fact]
    public async Task Group_commit_reports_a_failing_write_alone_and_commits_the_others()
    {
        using var store = SqliteSyncState.Open(_dir);
        var writes = Enumerable.Range(0, 200).Select(i => i == 100
            ? store.WriteAsync(_ => throw new InvalidOperationException("this write fails"))
            : store.WriteAsync(w => w.Enqueue("app", "s" + i, false, Now))).ToArray();
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => writes[100]);
        Assert.Equal("this write fails", failure.Message);
        await Task.WhenAll(writes.Where((_, i) => i != 100));
        Assert.Equal(199, store.Pending("app", 1000).Count);
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
