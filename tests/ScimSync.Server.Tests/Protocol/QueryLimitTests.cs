using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using ScimSync.Store.Sqlite;
using ScimSync.Store.Tokens;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>Filter complexity limits, with the defaults (docs/compliance.md, "Limits").</summary>
public sealed class QueryLimitTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static string Or(int n, Func<int, string> term) => string.Join(" or ", Enumerable.Range(0, n).Select(term));

    [Fact]
    public async Task More_than_500_terms_is_invalidFilter()
    {
        AssertError(await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(Or(501, i => $"id eq \"{i}\""))}"), HttpStatusCode.BadRequest, "invalidFilter");
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(Or(500, i => $"id eq \"{i}\""))}")).Status);
    }

    [Theory]
    [InlineData("title co \"{0}\"")]
    [InlineData("name.familyName ew \"{0}\"")]
    [InlineData("emails[type eq \"{0}\"]")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw \"{0}\"")]
    public async Task More_than_10_terms_that_no_index_answers_is_invalidFilter(string term)
    {
        var eleven = Or(11, i => string.Format(System.Globalization.CultureInfo.InvariantCulture, term, "v" + i));
        var r = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(eleven)}");
        AssertError(r, HttpStatusCode.BadRequest, "invalidFilter");
        Assert.Contains("no index", r.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        var search = await _c.PostAsync("Users/.search", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"), ["filter"] = eleven });
        AssertError(search, HttpStatusCode.BadRequest, "invalidFilter");
        var ten = Or(10, i => string.Format(System.Globalization.CultureInfo.InvariantCulture, term, "v" + i));
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(ten)}")).Status);
    }

    [Fact]
    public async Task Indexed_terms_do_not_count_against_the_unindexed_limit()
    {
        var filter = Or(100, i => $"userName eq \"u{i}\"") + " or " + Or(100, i => $"emails.value sw \"e{i}\"") + " or " + Or(5, i => $"title co \"t{i}\"");
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(filter)}")).Status);
    }
}

/// <summary>
/// The time budget over a real SQLite statement: 16,000 users with long titles and a filter of ten
/// <c>co</c> terms (about 340 MB of text to search) take far longer than the 50 ms budget, so only an
/// interrupted statement can produce the tooMany answer (a statement left running returns its page, past the
/// budget or not). With 4,000 users a quiet, fast machine once finished the search inside the budget.
/// </summary>
public sealed class QueryBudgetTests(QueryBudgetTests.Fixture server) : IClassFixture<QueryBudgetTests.Fixture>
{
    public sealed class Fixture : ScimServerFixture
    {
        protected override ScimSync.Server.ScimServerOptions Configure(ScimSync.Server.ScimServerOptions options) =>
            options with { QueryTimeout = TimeSpan.FromMilliseconds(50) };
    }

    [Fact]
    public async Task A_query_past_its_budget_is_interrupted_and_answered_tooMany()
    {
        var store = server.Services.GetRequiredService<IResourceStore>();
        var registry = server.Services.GetRequiredService<SchemaRegistry>();
        await using (var tx = await store.BeginWriteAsync(default))
        {
            var title = string.Concat(Enumerable.Repeat("Ünïcode Title ", 150));
            for (var i = 0; i < 16000; i++)
                await tx.InsertAsync(registry.User, Guid.NewGuid().ToString(), new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = $"budget{i}", ["title"] = title + i }, null, null, DateTimeOffset.UtcNow, default);
            await tx.CommitAsync(default);
        }
        var filter = string.Join(" or ", Enumerable.Range(0, 10).Select(i => $"title co \"absent{i}\""));
        var r = await server.Client.GetScimAsync($"Users?filter={Uri.EscapeDataString(filter)}&sortBy=title");
        AssertError(r, HttpStatusCode.BadRequest, "tooMany");
        // The connection the interrupted statement ran on goes on serving.
        for (var i = 0; i < 8; i++)
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync("Users?filter=userName%20eq%20%22budget1%22")).Status);
    }
}

/// <summary>
/// Scan slots, the budget and disconnects, with a store that holds a scanning query until its token is
/// cancelled and a fake clock: what the server does around the store, without depending on how fast it is.
/// </summary>
public sealed class QueryCancellationTests(QueryCancellationTests.Fixture server) : IClassFixture<QueryCancellationTests.Fixture>
{
    public sealed class Fixture : ScimServerFixture
    {
        public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);
        public HoldingStore Store { get; private set; } = null!;

        protected override ScimSync.Server.ScimServerOptions Configure(ScimSync.Server.ScimServerOptions options) => options with
        {
            MaxConcurrentScans = 1,
            QueryTimeout = TimeSpan.FromSeconds(10),
            StoreFactory = o => Store = new HoldingStore(new SqliteResourceStore(o.DatabasePath)),
        };

        protected override void ConfigureBuilder(WebApplicationBuilder builder) => builder.Services.AddSingleton<TimeProvider>(Time);
    }

    private const string Scan = "Users?filter=title%20co%20%22x%22";

    [Fact]
    public async Task A_query_past_its_budget_is_tooMany_and_frees_its_slot()
    {
        var held = server.Store.Hold();
        var request = server.Client.GetScimAsync(Scan);
        await held.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        server.Time.Advance(TimeSpan.FromSeconds(10));
        AssertError(await request, HttpStatusCode.BadRequest, "tooMany");
        Assert.True(held.Cancelled.Task.IsCompleted);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync(Scan)).Status);
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_its_query()
    {
        var held = server.Store.Hold();
        using var client = new CancellationTokenSource();
        var request = server.Client.GetAsync(Scan, client.Token);
        await held.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await client.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await held.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync(Scan)).Status);
    }

    [Fact]
    public async Task Scans_beyond_the_slots_wait_then_get_503_while_cheap_reads_go_on()
    {
        var id = await server.Client.CreateUserAsync(Unique("bystander"));
        var held = server.Store.Hold(ignoreCancellation: true);
        var first = server.Client.GetScimAsync(Scan);
        await held.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = server.Client.GetScimAsync(Scan);
        // Reads that an index answers never wait for a scan slot.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync($"Users/{id}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync($"Users?filter={Uri.EscapeDataString($"id eq \"{id}\"")}")).Status);
        Assert.False(second.IsCompleted);
        // The second request waits on the fake clock from a moment this test cannot observe: move the clock
        // until its patience runs out.
        for (var i = 0; i < 600 && !second.IsCompleted; i++)
        {
            server.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(second, Task.Delay(10));
        }
        var busy = await second;
        AssertError(busy, HttpStatusCode.ServiceUnavailable, null);
        Assert.Equal("1", busy.Headers.RetryAfter?.ToString());
        // The held query outlived its own budget meanwhile: released, it is refused before running on.
        held.Release();
        AssertError(await first, HttpStatusCode.BadRequest, "tooMany");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetScimAsync(Scan)).Status);
    }
}

/// <summary>The SQLite store, except that after <see cref="Hold"/> the next scanning query blocks.</summary>
public sealed class HoldingStore(SqliteResourceStore inner) : IResourceStore
{
    public sealed class Held(bool ignoreCancellation)
    {
        public bool IgnoreCancellation { get; } = ignoreCancellation;
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => Released.TrySetResult();
    }

    private Held? _next;

    public Held Hold(bool ignoreCancellation = false) => _next = new Held(ignoreCancellation);

    public async Task<QueryPage> QueryAsync(ResourceQuery query, CancellationToken ct)
    {
        if (inner.Cost(query).Scans && Interlocked.Exchange(ref _next, null) is { } held)
        {
            held.Started.TrySetResult();
            try
            {
                await (held.IgnoreCancellation ? held.Released.Task : Task.Delay(Timeout.Infinite, ct));
            }
            catch (OperationCanceledException)
            {
                held.Cancelled.TrySetResult();
                throw;
            }
        }
        return await inner.QueryAsync(query, ct);
    }

    public QueryCost Cost(ResourceQuery query) => inner.Cost(query);
    public Task InitializeAsync(CancellationToken ct) => inner.InitializeAsync(ct);
    public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);
    public Task<StoredResource?> FindAsync(ResourceTypeDefinition rt, string id, LoadOptions load, CancellationToken ct) => inner.FindAsync(rt, id, load, ct);
    public Task<IWriteSession> BeginWriteAsync(CancellationToken ct) => inner.BeginWriteAsync(ct);
    public Task<IReadOnlyList<JournalEntry>> ReadJournalAsync(long afterPosition, int limit, CancellationToken ct) => inner.ReadJournalAsync(afterPosition, limit, ct);
    public Task<IReadOnlyList<JournalMarker>> ReadUrgentJournalAsync(long afterPosition, int limit, CancellationToken ct) => inner.ReadUrgentJournalAsync(afterPosition, limit, ct);
    public Task<IReadOnlyList<JournalEntry>> ReadResourceJournalAsync(string resourceId, long afterPosition, long throughPosition, int limit, CancellationToken ct) => inner.ReadResourceJournalAsync(resourceId, afterPosition, throughPosition, limit, ct);
    public Task<long> CompactJournalAsync(long throughPosition, DateTimeOffset olderThan, CancellationToken ct) => inner.CompactJournalAsync(throughPosition, olderThan, ct);
    public Task<long> JournalFloorAsync(CancellationToken ct) => inner.JournalFloorAsync(ct);
    public ITokenStore Tokens => inner.Tokens;
    public IFeedStore Feed => inner.Feed;
    public ScimSync.Store.Passwords.IPasswordDeliveries Passwords => inner.Passwords;
    public Task<IReadOnlyDictionary<string, object>> DescribeAsync(CancellationToken ct) => inner.DescribeAsync(ct);
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
