using Microsoft.Data.Sqlite;
using ScimSync.Protocol.Resources;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Storage;

/// <summary>A file whose userName keys were computed by the earlier rule (NFKC and case folding) is re-keyed at start.</summary>
public sealed class IdentifierKeyUpgradeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", "rekey-" + Guid.NewGuid().ToString("N"));

    public IdentifierKeyUpgradeTests() => ScimSync.Secrets.PrivateFiles.EnsureDirectory(_dir, "data directory");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static object? Exec(string path, string sql)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    [Fact]
    public async Task Keys_from_the_earlier_rule_are_recomputed_once()
    {
        var path = Path.Combine(_dir, "old.db");
        await using (var store = new SqliteResourceStore(path))
            await store.InitializeAsync(default);
        // As the previous build wrote it: the key NFKC-folded, no record of the rule.
        Exec(path, """
            INSERT INTO resources(id, type, user_name_key, user_name_fold, created, modified, version, data)
            VALUES ('u1', 'User', 'fix', 'ﬁx', 0, 0, 1, '{"userName":"ﬁx"}'),
                   ('u2', 'User', 'user0', 'ｕｓｅｒ０', 0, 0, 1, '{"userName":"ＵＳＥＲ０"}');
            DROP TABLE store_meta;
            """);

        await using (var store = new SqliteResourceStore(path))
            await store.InitializeAsync(default);

        Assert.Equal(ScimText.UniquenessKey("ﬁx"), Exec(path, "SELECT user_name_key FROM resources WHERE id = 'u1'"));
        Assert.Equal("user0", Exec(path, "SELECT user_name_key FROM resources WHERE id = 'u2'"));
        Assert.Equal("rfc8265-usernamecasemapped", Exec(path, "SELECT value FROM store_meta WHERE key = 'identifier_key_rule'"));
    }
}
