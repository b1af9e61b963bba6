using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Postgres;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Postgres;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// The postgres:// URL, libpq's way: a <c>host</c> in the query that is a directory names PostgreSQL's Unix socket,
/// for a database on the same machine (no TCP on the way). The last test connects through the test server's own
/// socket. Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class PostgresUrlTests
{
    [Fact]
    public void A_host_in_the_query_is_the_socket_directory_and_is_shown_there_never_the_password()
    {
        var b = new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString("postgres://scim:s3cret@:5433/idm?host=/run/postgresql&schema=people"));
        Assert.Equal(("/run/postgresql", 5433, "idm", "scim", "s3cret", "people"), (b.Host, b.Port, b.Database, b.Username, b.Password, b.SearchPath));
        Assert.Equal("postgres://scim@:5433/idm?host=/run/postgresql&schema=people", PostgresUrl.Describe(b));

        // The query's host wins over the URL's, as in libpq; without either, localhost.
        Assert.Equal("/tmp/pg", new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString("postgres://db.example:5432/idm?host=/tmp/pg")).Host);
        Assert.Equal("localhost", new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString("postgresql:///idm")).Host);
        Assert.Equal("postgres://u@db.example:5432/idm", PostgresUrl.Describe("postgres://u:pw@db.example/idm"));
        Assert.Throws<ArgumentException>(() => PostgresUrl.ToConnectionString("postgres://db.example/idm?hostaddr=10.0.0.1"));
        // An '@' in the query is not a user: the host stays the URL's.
        Assert.Equal(("db", "a@:b"), new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString("postgres://db:5432?application_name=a@:b")) is var q ? (q.Host, q.ApplicationName) : default);
    }

    [SkippableFact]
    public async Task The_store_works_through_the_unix_socket_the_url_names()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        string directory;
        int port;
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')::int", c);
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            (directory, port) = (r.GetString(0).Trim(), r.GetInt32(1));
        }
        Assert.NotEmpty(directory); // .ci/postgres gives every cluster one, in its own directory
        var schema = new NpgsqlConnectionStringBuilder(cs).SearchPath!;
        try
        {
            await using var store = new PostgresResourceStore($"postgres://postgres@:{port}/postgres?host={Uri.EscapeDataString(directory)}&schema={schema}");
            await store.InitializeAsync(default);
            var users = SchemaRegistry.CreateDefault().User;
            await using (var s = await store.BeginWriteAsync(default))
            {
                await s.InsertAsync(users, "u-socket", new JsonObject { ["schemas"] = new JsonArray(users.Schema), ["userName"] = "via-socket" }, null, null, DateTimeOffset.UtcNow, default);
                await s.CommitAsync(default);
            }
            Assert.Contains("via-socket", (await store.FindAsync(users, "u-socket", LoadOptions.None, default))!.Data);
            // It really was the socket: PostgreSQL reports no client address for a Unix-socket connection.
            await using var check = new NpgsqlConnection(PostgresUrl.ToConnectionString($"postgres://postgres@:{port}/postgres?host={Uri.EscapeDataString(directory)}"));
            await check.OpenAsync();
            await using var addr = new NpgsqlCommand("SELECT inet_client_addr() IS NULL", check);
            Assert.True((bool)(await addr.ExecuteScalarAsync())!);
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }
}
