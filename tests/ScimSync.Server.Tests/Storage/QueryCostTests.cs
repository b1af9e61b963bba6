using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Storage;

/// <summary>
/// What each store reports a query costs (QueryCost), which the server's query limits act on: terms no index
/// answers, and whether the query visits every resource of the type. Both stores index the same attributes, so
/// they must report the same costs (the classes at the end).
/// </summary>
public abstract class QueryCostTests(Store.IResourceStore store)
{
    private static readonly SchemaRegistry Registry = SchemaRegistry.CreateDefault();
    private Store.IResourceStore Store => store;

    /// <summary>Cost reads no data: a store that is never opened answers.</summary>
    protected static readonly SqliteResourceStore Sqlite = new(Path.Combine(PrivateDirectory(), "scimsync-cost-never-opened.db"));

    protected static readonly Store.Postgres.PostgresResourceStore Postgres = new("Host=127.0.0.1;Database=never-connected");

    /// <summary>The store refuses a directory others can read, even for a file it never opens.</summary>
    private static string PrivateDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scimsync-cost-" + Guid.NewGuid().ToString("N")[..8]);
        ScimSync.Secrets.PrivateFiles.EnsureDirectory(dir, "data directory");
        return dir;
    }

    private QueryCost Cost(string? filter, bool sort = false, string type = "User")
    {
        var rt = type == "User" ? Registry.User : Registry.Group;
        var bound = filter is null ? null : FilterBinder.Bind(ScimFilterParser.Parse(filter), rt, Registry, strict: true);
        var sortAttribute = sort ? Registry.Resolve(rt, AttributePath.TryParse("displayName")!) : null;
        return Store.Cost(new ResourceQuery([new TypeFilter(rt, bound, sortAttribute)], sort ? new SortSpec(false) : null, new PageRequest(1, 100), LoadOptions.None));
    }

    [Theory]
    [InlineData(null, 0, false)]
    [InlineData("userName eq \"a\"", 0, false)]
    [InlineData("userName sw \"a\"", 0, false)]
    [InlineData("externalId eq \"a\" or id eq \"b\"", 0, false)]
    [InlineData("emails.value eq \"a@b\"", 0, false)]
    [InlineData("meta.lastModified gt \"2026-01-01T00:00:00Z\"", 0, false)]
    [InlineData("userName co \"a\"", 0, true)]
    [InlineData("not (userName eq \"a\")", 0, true)]
    [InlineData("title co \"a\"", 1, true)]
    [InlineData("title eq \"a\"", 1, true)]
    [InlineData("meta.created gt \"2026-01-01T00:00:00Z\"", 0, true)]
    [InlineData("userName eq \"a\" and title co \"b\"", 1, false)]
    [InlineData("userName eq \"a\" or title co \"b\"", 1, true)]
    [InlineData("emails[type eq \"work\" and value co \"x\"]", 2, true)]
    public void Filters_cost_what_the_compiled_sql_does(string? filter, int unindexed, bool scans) =>
        Assert.Equal(new QueryCost(unindexed, scans), Cost(filter));

    [Fact]
    public void Sorting_everything_is_a_scan_unless_an_index_narrows_it()
    {
        Assert.True(Cost(null, sort: true).Scans);
        Assert.False(Cost("userName eq \"a\"", sort: true).Scans);
        Assert.False(Cost("members.value eq \"x\"", type: "Group").Scans);
        Assert.True(Cost("members.display co \"x\"", type: "Group").Scans);
    }
}

public sealed class SqliteQueryCostTests() : QueryCostTests(Sqlite);

public sealed class PostgresQueryCostTests() : QueryCostTests(Postgres);
