using Npgsql;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Postgres;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// Every pooled connection busy: a request that gets none within the pool's wait is told 503 (busy, retry), not
/// 500, and nothing of it is done. Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI
/// (PostgresServer).
/// </summary>
public sealed class PoolExhaustionTests
{
    [SkippableFact]
    public async Task A_request_that_finds_every_connection_busy_is_answered_503()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        // One connection, waited for one second.
        var small = new NpgsqlConnectionStringBuilder(cs) { MaxPoolSize = 1, Timeout = 1 }.ConnectionString;
        await using var store = new PostgresResourceStore(small);
        await store.InitializeAsync(default);
        try
        {
            var users = SchemaRegistry.CreateDefault().User;
            await using (var held = await store.BeginWriteAsync(default))
            {
                var refused = await Assert.ThrowsAsync<ScimException>(() => store.FindAsync(users, "someone", new LoadOptions(false, true), default));
                Assert.Equal(503, refused.Status);
            }
            // The connection is back: the same read now answers.
            Assert.Null(await store.FindAsync(users, "someone", new LoadOptions(false, true), default));
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }
}
