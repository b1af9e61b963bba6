using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Secrets;
using ScimSync.Server;
using ScimSync.Server.Hosting;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// A real server on a loopback port with a real SQLite file in a fresh directory: the same host
/// `scimsync serve` builds, reached over real HTTP. With SCIMSYNC_TEST_STORE=postgres the same server runs on a
/// fresh schema of the test PostgreSQL server instead (PostgresServer), so the HTTP suite can be run against
/// either store; fixtures that build their own store (StoreFactory) keep it.
/// </summary>
public class ScimServerFixture : IAsyncLifetime
{
    public const string AdminToken = "test-admin-token";

    private WebApplication? _app;
    private string? _postgresSchema;

    /// <summary>"sqlite" (default) or "postgres", from SCIMSYNC_TEST_STORE.</summary>
    public static string StoreKind => Environment.GetEnvironmentVariable("SCIMSYNC_TEST_STORE") is { Length: > 0 } kind ? kind : "sqlite";

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "scimsync-tests", Guid.NewGuid().ToString("N"));

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    /// <summary>Runs before the server starts: a derived fixture may place files in the data directory.</summary>
    protected virtual void Prepare(string dataDirectory)
    {
    }

    /// <summary>Override to change server options (limits, timeouts) for a test class.</summary>
    protected virtual ScimServerOptions Configure(ScimServerOptions options) => options;

    /// <summary>Override to replace services, e.g. the TimeProvider with a fake clock.</summary>
    protected virtual void ConfigureBuilder(WebApplicationBuilder builder)
    {
    }

    public async Task InitializeAsync()
    {
        PrivateFiles.EnsureDirectory(DataDirectory, "data directory");
        Prepare(DataDirectory);
        var options = Configure(new ScimServerOptions { DataDirectory = DataDirectory, AdminToken = AdminToken, EventIssuer = "https://scimsync.test" });
        if (StoreKind == "postgres" && options.StoreFactory is null && options.Store is null)
        {
            var (connectionString, url) = await PostgresServer.NewSchemaAsync();
            _postgresSchema = connectionString;
            options = options with { Store = url };
        }
        _app = ScimServerHost.Build(options, ["--urls", "http://127.0.0.1:0"], ConfigureBuilder);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.TrimEnd('/') + "/scim/v2/");
        Client = CreateClient(AdminToken);
    }

    /// <summary>
    /// Takes the store away under the running server until the result is disposed: SQLite's file is moved away
    /// (as a careless cleanup would: pooled connections still read the old file, but the next start would begin
    /// empty); PostgreSQL's schema is renamed (as a mistaken migration would: the tables are gone by name).
    /// </summary>
    public async Task<IAsyncDisposable> TakeStoreAwayAsync()
    {
        if (_postgresSchema is null)
        {
            var db = Path.Combine(DataDirectory, "scimsync.db");
            File.Move(db, db + ".moved");
            return new Restore(() => { File.Move(db + ".moved", db); return Task.CompletedTask; });
        }
        var schema = new Npgsql.NpgsqlConnectionStringBuilder(_postgresSchema).SearchPath!;
        await PostgresServer.ExecuteAsync($"ALTER SCHEMA \"{schema}\" RENAME TO \"{schema}_away\"");
        return new Restore(() => PostgresServer.ExecuteAsync($"ALTER SCHEMA \"{schema}_away\" RENAME TO \"{schema}\""));
    }

    /// <summary>
    /// A second handle on the server's store, as another process (`scimsync token revoke`) opens it: its own
    /// connection to the SQLite file, or its own pool on the PostgreSQL schema.
    /// </summary>
    public async Task<Store.IResourceStore> OpenOtherHandleAsync()
    {
        Store.IResourceStore store = _postgresSchema is null
            ? new Store.Sqlite.SqliteResourceStore(Path.Combine(DataDirectory, "scimsync.db"))
            : new Store.Postgres.PostgresResourceStore(_postgresSchema);
        await store.InitializeAsync(default);
        return store;
    }

    /// <summary>
    /// Everything the store has written, as bytes, for tests that look for what must not be there: SQLite's
    /// database and write-ahead log files; every row of every table of the PostgreSQL schema, as text.
    /// </summary>
    public async Task<byte[]> StoredBytesAsync()
    {
        if (_postgresSchema is null)
        {
            var db = Path.Combine(DataDirectory, "scimsync.db");
            var wal = db + "-wal";
            return [.. await File.ReadAllBytesAsync(db), .. File.Exists(wal) ? await File.ReadAllBytesAsync(wal) : []];
        }
        await using var c = new Npgsql.NpgsqlConnection(_postgresSchema);
        await c.OpenAsync();
        var tables = new List<string>();
        await using (var list = new Npgsql.NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()", c))
        await using (var r = await list.ExecuteReaderAsync())
            while (await r.ReadAsync()) tables.Add(r.GetString(0));
        var text = new System.Text.StringBuilder();
        foreach (var t in tables)
        {
            await using var dump = new Npgsql.NpgsqlCommand($"SELECT coalesce(string_agg(x::text, E'\\n'), '') FROM \"{t}\" x", c);
            text.Append(await dump.ExecuteScalarAsync()).Append('\n');
        }
        return System.Text.Encoding.UTF8.GetBytes(text.ToString());
    }

    private sealed class Restore(Func<Task> undo) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await undo();
    }

    public HttpClient CreateClient(string? token)
    {
        var c = new HttpClient { BaseAddress = BaseAddress };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return c;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
        File.Delete(KeyRing.DefaultPathFor(DataDirectory));
        if (_postgresSchema is not null) await PostgresServer.DropSchemaAsync(_postgresSchema);
    }
}
