using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Postgres;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// After a failed statement PostgreSQL has aborted the transaction, and a COMMIT then answers ROLLBACK without an
/// error. A caller that caught the failure and committed anyway must hear that nothing was written, not be told it
/// succeeded. Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class FailedSessionTests
{
    [SkippableFact]
    public async Task A_session_whose_statement_failed_refuses_to_commit_and_writes_nothing()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        try
        {
            await using var store = new PostgresResourceStore(cs);
            await store.InitializeAsync(default);
            var users = SchemaRegistry.CreateDefault().User;
            JsonObject Doc(string userName) => new() { ["schemas"] = new JsonArray(users.Schema), ["userName"] = userName };
            await using (var s = await store.BeginWriteAsync(default))
            {
                await s.InsertAsync(users, "u-first", Doc("taken"), null, null, DateTimeOffset.UtcNow, default);
                await s.CommitAsync(default);
            }
            await using (var s = await store.BeginWriteAsync(default))
            {
                await s.InsertAsync(users, "u-kept", Doc("kept"), null, null, DateTimeOffset.UtcNow, default);
                await s.InsertAsync(users, "u-second", Doc("TAKEN"), null, null, DateTimeOffset.UtcNow, default);
                // The second insert is sent before this read, and refused.
                var refused = await Assert.ThrowsAsync<ScimException>(() => s.FindResourceTypesAsync(["u-kept"], default));
                Assert.Equal(409, refused.Status);
                await Assert.ThrowsAsync<InvalidOperationException>(() => s.CommitAsync(default));
            }
            Assert.Null(await store.FindAsync(users, "u-kept", LoadOptions.None, default));
            Assert.Null(await store.FindAsync(users, "u-second", LoadOptions.None, default));
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }
}
