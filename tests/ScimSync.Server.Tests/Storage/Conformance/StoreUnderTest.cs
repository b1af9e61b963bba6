using ScimSync.Secrets;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Postgres;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Storage.Conformance;

/// <summary>
/// One fresh store of one kind for one test class: a SQLite file in a private directory, or a schema of its own on
/// the test PostgreSQL server (PostgresServer). The conformance suites take one of these and nothing else, so
/// they run unchanged against both.
/// </summary>
public abstract class StoreUnderTest : IAsyncDisposable
{
    protected string Directory { get; } = Path.Combine(Path.GetTempPath(), "scimsync-tests", "store-" + Guid.NewGuid().ToString("N"));

    /// <summary>The key ring a server would have: a key file beside the private directory.</summary>
    protected KeyRing Keys { get; }

    protected StoreUnderTest()
    {
        PrivateFiles.EnsureDirectory(Directory, "data directory");
        Keys = KeyRing.ForDirectory(Directory, null);
    }

    public abstract string Kind { get; }

    /// <summary>Opens (and initializes) another handle on the same store: a second instance of a server.</summary>
    public abstract Task<IResourceStore> OpenAsync();

    public virtual ValueTask DisposeAsync()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        File.Delete(KeyRing.DefaultPathFor(Directory));
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    public static async Task<StoreUnderTest> CreateAsync(string kind) => kind switch
    {
        "sqlite" => new SqliteUnderTest(),
        "postgres" => await PostgresUnderTest.CreateAsync(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private sealed class SqliteUnderTest : StoreUnderTest
    {
        public override string Kind => "sqlite";

        public override async Task<IResourceStore> OpenAsync()
        {
            var store = new SqliteResourceStore(Path.Combine(Directory, "scimsync.db"), keys: Keys);
            await store.InitializeAsync(default);
            return store;
        }
    }

    private sealed class PostgresUnderTest(string connectionString) : StoreUnderTest
    {
        public override string Kind => "postgres";

        public static async Task<PostgresUnderTest> CreateAsync() => new((await PostgresServer.NewSchemaAsync()).ConnectionString);

        public override async Task<IResourceStore> OpenAsync()
        {
            var store = new PostgresResourceStore(connectionString, Keys);
            await store.InitializeAsync(default);
            return store;
        }

        public override async ValueTask DisposeAsync()
        {
            await PostgresServer.DropSchemaAsync(connectionString);
            await base.DisposeAsync();
        }
    }
}
