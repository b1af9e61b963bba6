using System.Text.Json.Nodes;
using Npgsql;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Resources;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Postgres;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// A database made by an earlier build is brought up to this build's layout when an instance starts, in its start-up
/// transaction, with its data; one made by a newer build is refused. Skippable: reports skipped with
/// SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class PostgresSchemaUpgradeTests
{
    private static readonly SchemaRegistry Registry = SchemaRegistry.CreateDefault();

    [SkippableFact]
    public async Task A_version_1_database_loses_its_jsonb_copy_of_each_document_and_still_answers_filters_on_any_attribute()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        try
        {
            await using (var store = new PostgresResourceStore(cs))
            {
                await store.InitializeAsync(default);
                await CreateAsync(store, "kept", "Engineer");
                await CreateAsync(store, "other", "Nurse");
            }
            // Version 1's layout: the document stored a second time, as jsonb, in a generated column.
            await ScalarAsync(cs, """
                ALTER TABLE resources ADD COLUMN doc jsonb GENERATED ALWAYS AS (data::jsonb) STORED;
                UPDATE schema_info SET version = 1;
                """);

            await using (var store = new PostgresResourceStore(cs))
            {
                await store.InitializeAsync(default);
                Assert.Equal(PostgresSchema.Version, await ScalarAsync(cs, "SELECT version FROM schema_info"));
                Assert.Equal(0L, await ScalarAsync(cs, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'resources' AND column_name = 'doc'"));
                // title has no column of its own: the filter reads the stored document (data::jsonb).
                var page = await store.QueryAsync(Query("title eq \"Engineer\""), default);
                var found = Assert.Single(page.Resources);
                Assert.Equal("kept", JsonNode.Parse(found.Data)!["userName"]!.GetValue<string>());
                Assert.Single((await store.QueryAsync(Query("title pr and userName eq \"OTHER\""), default)).Resources);
                // Writes go on as before.
                await CreateAsync(store, "after", "Engineer");
                Assert.Equal(2, (await store.QueryAsync(Query("title eq \"Engineer\""), default)).Resources.Count);
            }
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }

    [SkippableFact]
    public async Task A_database_of_a_newer_version_is_refused_and_left_as_it_is()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        try
        {
            await using (var store = new PostgresResourceStore(cs))
                await store.InitializeAsync(default);
            var newer = PostgresSchema.Version + 1;
            await ScalarAsync(cs, $"UPDATE schema_info SET version = {newer}");
            await using (var store = new PostgresResourceStore(cs))
            {
                var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(default));
                Assert.Contains($"schema version {newer}", refused.Message, StringComparison.Ordinal);
            }
            Assert.Equal(newer, await ScalarAsync(cs, "SELECT version FROM schema_info"));
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }

    private static async Task CreateAsync(PostgresResourceStore store, string userName, string title)
    {
        var shaper = new ResourceShaper(Registry);
        var service = new ResourceService(store, shaper, new PatchEngine(shaper), TimeProvider.System);
        await service.CreateAsync(Registry.User, new JsonObject { ["schemas"] = new JsonArray(Registry.User.Schema), ["userName"] = userName, ["title"] = title },
            WriteContext.New("test"), default);
    }

    private static ResourceQuery Query(string filter)
    {
        var bound = FilterBinder.Bind(ScimFilterParser.Parse(filter), Registry.User, Registry, strict: true);
        return new ResourceQuery([new TypeFilter(Registry.User, bound, null)], null, new PageRequest(1, 100), LoadOptions.None);
    }

    /// <summary>Runs <paramref name="sql"/> in the test's schema (outside the store): the first column of its first row, if any.</summary>
    private static async Task<object?> ScalarAsync(string cs, string sql)
    {
        await using var c = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return await cmd.ExecuteScalarAsync();
    }
}
