using Microsoft.Data.Sqlite;
using ScimSync.Feed.Subscriptions;
using ScimSync.Server.Tests.Feed;
using ScimSync.Store.Journal;
using static ScimSync.Server.Tests.Feed.FeedHarness;

namespace ScimSync.Server.Tests.Storage;

/// <summary>
/// A database written by the version-2 build opens in this one, journal and subscriptions intact; the columns added
/// since (the journal's urgency in version 3, its writer in version 4) are added in place.
/// </summary>
public sealed class SchemaUpgradeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", "upgrade-" + Guid.NewGuid().ToString("N"));

    public SchemaUpgradeTests() => ScimSync.Secrets.PrivateFiles.EnsureDirectory(_dir, "data directory");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        File.Delete(ScimSync.Secrets.KeyRing.DefaultPathFor(_dir));
    }

    private static readonly (string Id, string Operation, string Attributes, string? Data, bool Urgent)[] V2Journal =
    [
        ("u1", "create", """["userName","active"]""", """{"userName":"u1","active":true}""", false),
        ("u1", "patch", """["title"]""", """{"userName":"u1","active":true,"title":"t"}""", false),
        ("u1", "patch", """["active"]""", """{"userName":"u1","active":false,"title":"t"}""", true),
        ("u2", "patch", """["active"]""", """{"userName":"u2","active":true}""", false),
        ("u2", "patch", """["PASSWORD"]""", """{"userName":"u2","active":true}""", true),
        ("u3", "delete", "[]", null, true),
    ];

    private string CreateV2Database()
    {
        var path = Path.Combine(_dir, "v2.db");
        ScimSync.Secrets.PrivateFiles.CreateFile(path); // as `chmod 600` after an upgrade: the new build refuses files open to others
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Storage", "schema-v2.sql")) + """
            INSERT INTO schema_info(version) VALUES (2);
            INSERT INTO subscriptions(id, name, config, state, signing_key, fanout_position, created)
            VALUES ('sub1', 'old', '{"audience":"https://receiver.test","resourceTypes":["User"],"signing":"none"}', 'active',
                    '{"algorithm":"none","keyId":""}', 1, 0);
            """;
        cmd.ExecuteNonQuery();
        foreach (var (id, op, attributes, data, _) in V2Journal)
        {
            cmd.CommandText = """
                INSERT INTO journal(txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time)
                VALUES ('t', 'User', @id, @op, 1, @attrs, @data, NULL, 'a', 0)
                """;
            cmd.Parameters.Clear();
            cmd.Parameters.AddWithValue("@id", id);
            cmd.Parameters.AddWithValue("@op", op);
            cmd.Parameters.AddWithValue("@attrs", attributes);
            cmd.Parameters.AddWithValue("@data", (object?)data ?? DBNull.Value);
            cmd.ExecuteNonQuery();
        }
        return path;
    }

    private static object? Scalar(string path, string sql)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    [Fact]
    public async Task A_version_2_database_is_upgraded_with_urgency_backfilled_and_fans_out_with_look_ahead()
    {
        var path = CreateV2Database();
        await using (var h = await StartAsync(fanoutBatch: 2, path))
        {
            Assert.Equal(4L, Scalar(path, "SELECT version FROM schema_info"));
            Assert.Equal(1L, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'ix_journal_urgent'"));
            var urgent = await h.Store.ReadUrgentJournalAsync(0, 100, default);
            Assert.Equal(Enumerable.Range(1, V2Journal.Length).Where(p => V2Journal[p - 1].Urgent).Select(p => (long)p), urgent.Select(u => u.Position));
            Assert.Equal(urgent.Select(u => u.Position), (await h.Store.ReadJournalAsync(0, 100, default)).Where(global::ScimSync.Feed.Events.ScimEventBuilder.IsUrgent).Select(e => e.Position));

            var sub = (await h.Subscriptions.FindAsync("old", default))!;
            Assert.Equal(1, sub.FanoutPosition);
            Assert.Equal(0, sub.AheadPosition);
            await h.Worker.RunOnceAsync(sub, default);
            // Looked ahead to the deletion at 6 (and the changes before it), in order from position 2 to 3.
            var first = await h.ReceiveAsync(sub, 2);
            Assert.Equal([2L, 3L], first.Select(d => d.Position));
            await h.FanOutAllAsync(sub);
            var rest = await h.ReceiveAsync(sub);
            Assert.Equal([2L, 3L, 4L, 5L, 6L], first.Concat(rest).Select(d => d.Position).Order());

            // New entries get their flag from the writer, and name it; those journaled before never named one.
            var p = await h.AppendAsync(Change("u4", JournalOperation.Delete, 2, null) with { Writer = "hr-portal" });
            Assert.Equal(p[0], (await h.Store.ReadUrgentJournalAsync(6, 10, default)).Single().Position);
            Assert.Equal([.. V2Journal.Select(_ => (string?)null), "hr-portal"], (await h.Store.ReadJournalAsync(0, 100, default)).Select(e => e.Change.Writer));
        }
        // Opening a version-4 database again changes nothing.
        await using (var again = await StartAsync(fanoutBatch: 2, path))
            Assert.Equal(4, (await again.Store.ReadUrgentJournalAsync(0, 100, default)).Count);
        Assert.Equal(4L, Scalar(path, "SELECT version FROM schema_info"));
    }
}
