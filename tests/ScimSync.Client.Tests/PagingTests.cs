using System.Net;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>Complete walks of 2,500 users on our server as targets with different paging.</summary>
[Collection(SeededCollection.Name)]
public sealed class PagingTests(SeededUsers seed)
{
    private static async Task<List<ScimPage>> WalkAsync(ScimClient client, ListOptions? options = null)
    {
        var pages = new List<ScimPage>();
        await foreach (var page in client.ListAsync("Users", options ?? new ListOptions(), CancellationToken.None))
            pages.Add(page);
        return pages;
    }

    /// <summary>Every seeded user, each exactly once.</summary>
    private static void AssertEachUserOnce(IEnumerable<ScimPage> pages)
    {
        var names = pages.SelectMany(p => p.Resources).Select(r => r["userName"]!.GetValue<string>()).ToList();
        var duplicates = names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key).Take(5).ToList();
        Assert.True(duplicates.Count == 0, "returned twice: " + string.Join(", ", duplicates));
        Assert.Equal(Enumerable.Range(0, SeededUsers.Count).Select(SeededUsers.UserName).Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
    }

    private static List<Uri> Lists(RequestLog log) =>
        log.Entries.Where(e => e.Uri.AbsolutePath.EndsWith("/Users", StringComparison.Ordinal)).Select(e => e.Uri).ToList();

    [Fact]
    public async Task A_cursor_walk_with_pages_capped_at_100_returns_every_user_once()
    {
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 100 }, seed.Directory);
        var log = new RequestLog();
        using var client = server.Client(log: log);

        var pages = await WalkAsync(client);

        AssertEachUserOnce(pages);
        var lists = Lists(log);
        Assert.Equal(25, lists.Count);
        Assert.All(lists, u => Assert.Equal("100", RequestLog.Query(u, "count")));
        Assert.All(lists, u => Assert.NotNull(RequestLog.Query(u, "cursor")));
        Assert.Equal("", RequestLog.Query(lists[0], "cursor"));
        Assert.All(lists, u => Assert.Null(RequestLog.Query(u, "startIndex")));
        Assert.All(pages, p => Assert.NotNull(p.JournalPosition));
        Assert.Equal(25, client.Stats.Requests - 1); // and one ServiceProviderConfig
    }

    [Fact]
    public async Task A_walk_that_reads_ahead_asks_for_the_next_page_before_the_caller_wants_it_and_still_returns_every_user_once()
    {
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 100 }, seed.Directory);
        var log = new RequestLog();
        using var client = server.Client(log: log);
        var ahead = new ListOptions { ReadAhead = true };

        await using (var walk = client.ListAsync("Users", ahead, CancellationToken.None).GetAsyncEnumerator())
        {
            Assert.True(await walk.MoveNextAsync());
            // The caller holds page 1 and has not asked for more: the request for page 2 goes out anyway
            // (ServiceProviderConfig, page 1, page 2).
            await log.StartedAsync(3).WaitAsync(TimeSpan.FromSeconds(30));
        }
        // Stopped after page 1: the page read ahead is dropped, and nothing further is asked for.
        Assert.Equal(3, log.Started);

        var pages = await WalkAsync(client, ahead);
        AssertEachUserOnce(pages);
        Assert.Equal(3 + 25, log.Started);
    }

    [Fact]
    public async Task An_index_walk_on_a_target_without_cursors_returns_every_user_once()
    {
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 100, DisableCursor = true }, seed.Directory);
        var log = new RequestLog();
        using var client = server.Client(log: log);

        var pages = await WalkAsync(client);

        AssertEachUserOnce(pages);
        var lists = Lists(log);
        // 25 full pages, then one more that comes back empty: totalResults alone never ends an index walk.
        Assert.Equal(Enumerable.Range(0, 26).Select(i => (i * 100 + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            lists.Select(u => RequestLog.Query(u, "startIndex")));
        Assert.All(lists, u => Assert.Equal("100", RequestLog.Query(u, "count")));
        Assert.All(lists, u => Assert.Null(RequestLog.Query(u, "cursor")));
        Assert.All(pages, p => Assert.Equal(SeededUsers.Count, p.TotalResults));
    }

    [Fact]
    public async Task DisableCursor_pages_by_index_even_when_cursors_are_advertised()
    {
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 500 }, seed.Directory);
        var log = new RequestLog();
        using var client = server.Client(o => o with { DisableCursor = true }, log);

        Assert.False((await client.GetCapabilitiesAsync(CancellationToken.None)).Cursor);
        AssertEachUserOnce(await WalkAsync(client));
        var lists = Lists(log);
        Assert.Equal(6, lists.Count); // five full pages and the empty one that ends the walk
        Assert.All(lists, u => Assert.Null(RequestLog.Query(u, "cursor")));
    }

    [Fact]
    public async Task The_page_size_is_the_smallest_of_request_operator_cap_and_advertised_maximum()
    {
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 400 }, seed.Directory);
        var log = new RequestLog();
        using var capped = server.Client(o => o with { MaxPageSize = 300 }, log);

        var filter = new ListOptions { Filter = "userName sw \"seeded-00\"" }; // 100 users
        Assert.Equal(100, (await WalkAsync(capped, filter with { PageSize = 1000 })).Sum(p => p.Resources.Count));
        Assert.Equal(100, (await WalkAsync(capped, filter with { PageSize = 30 })).Sum(p => p.Resources.Count));
        await WalkAsync(capped);
        using var uncapped = server.Client(log: log);
        await WalkAsync(uncapped, new ListOptions { PageSize = 5000 });

        var counts = Lists(log).Select(u => RequestLog.Query(u, "count")).ToList();
        Assert.Equal("300", counts[0]);                        // asked 1000, operator cap 300
        Assert.Equal(["30", "30", "30", "30"], counts[1..5]);  // asked 30
        Assert.All(counts[5..14], c => Assert.Equal("300", c)); // nothing asked: the cap (2,500 users in 9 pages)
        Assert.All(counts[14..], c => Assert.Equal("400", c));  // asked 5000, advertised maximum 400
        Assert.Equal(14 + 7, counts.Count);
    }

    [Fact]
    public async Task A_rate_limited_target_is_walked_completely_and_the_client_counts_the_429s()
    {
        // Two requests per second, pages of 250: eleven requests, most of them told to wait.
        await using var server = await TargetServer.StartAsync(o => o with { MaxResults = 250, RateLimitPerSecond = 2 }, seed.Directory);
        var log = new RequestLog();
        using var client = server.Client(log: log);

        var pages = await WalkAsync(client);

        AssertEachUserOnce(pages);
        Assert.True(client.Stats.Throttled > 0, client.Stats.ToString());
        Assert.Equal(client.Stats.Throttled, log.Entries.Count(e => e.Status == HttpStatusCode.TooManyRequests));
        Assert.Equal(client.Stats.Throttled, client.Stats.Retries);
        Assert.Equal(0, client.Stats.Failures);
    }
}
