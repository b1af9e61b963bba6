using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Journal;
using ScimSync.Store.Postgres;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// On PostgreSQL a write's journal entries are sent with its COMMIT, in one round trip (PostgresWriteSession). A
/// change and its entry still commit together or not at all (DESIGN.md invariant 1): when the database refuses the
/// entry, the COMMIT behind it in the same batch does not run, and the resource is not there. Skippable: reports
/// skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class JournalWithCommitTests
{
    [SkippableFact]
    public async Task A_refused_journal_entry_leaves_no_resource_and_no_entry()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        await using var store = new PostgresResourceStore(cs);
        await store.InitializeAsync(default);
        try
        {
            // The database refuses every journal row: what a full disk or a broken constraint would do at that statement.
            await using (var admin = new NpgsqlConnection(cs))
            {
                await admin.OpenAsync();
                await using var cmd = new NpgsqlCommand("""
                    CREATE FUNCTION refuse_journal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'journal refused'; END $$;
                    CREATE TRIGGER refuse_journal BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION refuse_journal();
                    """, admin);
                await cmd.ExecuteNonQueryAsync();
            }
            var users = SchemaRegistry.CreateDefault().User;
            var now = DateTimeOffset.UtcNow;
            var data = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = "refused" };
            await using (var session = await store.BeginWriteAsync(default))
            {
                var stored = await session.InsertAsync(users, "u-refused", data, null, null, now, default);
                await session.AppendJournalAsync(new JournalAppend("txn-1", "User", "u-refused", JournalOperation.Create, stored.Version, ["userName"],
                    stored.Data, null, "test", now), default);
                var refused = await Assert.ThrowsAsync<PostgresException>(() => session.CommitAsync(default));
                Assert.Contains("journal refused", refused.MessageText, StringComparison.Ordinal);
            }
            Assert.Null(await store.FindAsync(users, "u-refused", new LoadOptions(false, false), default));
            Assert.Empty(await store.ReadJournalAsync(0, 10, default));
            // The connection went back to the pool usable: the next write on it commits.
            await using (var admin = new NpgsqlConnection(cs))
            {
                await admin.OpenAsync();
                await using var cmd = new NpgsqlCommand("DROP TRIGGER refuse_journal ON journal", admin);
                await cmd.ExecuteNonQueryAsync();
            }
            await using (var session = await store.BeginWriteAsync(default))
            {
                var stored = await session.InsertAsync(users, "u-kept", data, null, null, now, default);
                await session.AppendJournalAsync(new JournalAppend("txn-2", "User", "u-kept", JournalOperation.Create, stored.Version, ["userName"],
                    stored.Data, null, "test", now), default);
                await session.CommitAsync(default);
            }
            Assert.NotNull(await store.FindAsync(users, "u-kept", new LoadOptions(false, false), default));
            Assert.Single(await store.ReadJournalAsync(0, 10, default));
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }
}
