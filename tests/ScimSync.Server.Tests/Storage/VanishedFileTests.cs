using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Store;
using ScimSync.Store.Resources;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Storage;

/// <summary>
/// The database file moved away (or deleted) under a running store: a request that needs a new connection
/// fails with a 503, and no new, empty database appears under the old name for the next start to take as the
/// data. Moving the file back makes the store whole again.
/// </summary>
public sealed class VanishedFileTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", "vanished-" + Guid.NewGuid().ToString("N"));
    private readonly ResourceTypeDefinition _user = SchemaRegistry.CreateDefault().User;
    private SqliteResourceStore _store = null!;
    private string Db => Path.Combine(_dir, "scimsync.db");

    public async Task InitializeAsync()
    {
        PrivateFiles.EnsureDirectory(_dir, "data directory");
        _store = new SqliteResourceStore(Db);
        await _store.InitializeAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_connection_opened_while_the_file_is_away_fails_and_creates_nothing()
    {
        File.Move(Db, Db + ".away");

        // Initialisation used only the writer, so this read is the first reader: it opens a new connection.
        var e = await Assert.ThrowsAsync<ScimException>(() => _store.FindAsync(_user, Guid.NewGuid().ToString(), LoadOptions.None, default));
        Assert.Equal(503, e.Status);
        Assert.Contains("cannot be opened", e.Detail);
        Assert.False(File.Exists(Db), "a new database file was created under the moved one's name");

        File.Move(Db + ".away", Db);
        Assert.Null(await _store.FindAsync(_user, Guid.NewGuid().ToString(), LoadOptions.None, default));
        await _store.ProbeAsync(default);
    }
}
