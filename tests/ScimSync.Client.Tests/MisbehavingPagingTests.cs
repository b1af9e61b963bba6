using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>Targets whose paging is not what they advertise: the walk stays complete, or fails, but never loops.</summary>
public sealed class MisbehavingPagingTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static JsonObject Spc(bool cursor, int? maxPageSize) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ["patch"] = new JsonObject { ["supported"] = true },
        ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = 200 },
        ["pagination"] = maxPageSize is null
            ? new JsonObject { ["cursor"] = cursor, ["index"] = true }
            : new JsonObject { ["cursor"] = cursor, ["index"] = true, ["maxPageSize"] = maxPageSize },
    };

    private static JsonObject List(IEnumerable<int> ids, int? total, int? startIndex, string? nextCursor = null)
    {
        var resources = ids.Select(i => (JsonNode)StubServer.User(i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"user-{i}")).ToArray();
        var o = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:ListResponse") };
        if (total is not null) o["totalResults"] = total;
        o["itemsPerPage"] = resources.Length;
        if (startIndex is not null) o["startIndex"] = startIndex;
        if (nextCursor is not null) o["nextCursor"] = nextCursor;
        o["Resources"] = new JsonArray(resources);
        return o;
    }

    private static int Param(HttpContext ctx, string name, int fallback) =>
        int.TryParse(ctx.Request.Query[name].ToString(), out var v) ? v : fallback;

    private static async Task<List<string>> WalkAsync(ScimClient client, ListOptions? options = null)
    {
        var ids = new List<string>();
        await foreach (var page in client.ListAsync("Users", options ?? new ListOptions(), None))
            ids.AddRange(page.Resources.Select(r => r["id"]!.GetValue<string>()));
        return ids;
    }

    private static ScimClient Client(StubServer stub) => new(new ScimClientOptions { BaseUri = stub.ScimRoot, MaxRetries = 0 });

    [Fact]
    public async Task Short_pages_are_followed_from_the_number_actually_returned()
    {
        // 250 users; the target silently returns at most 40 per page whatever count says.
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 100));
            var start = Param(ctx, "startIndex", 1);
            var count = Math.Min(40, Param(ctx, "count", 100));
            return StubServer.Json(ctx, 200, List(Enumerable.Range(start, Math.Max(0, Math.Min(count, 250 - start + 1))), 250, start));
        });
        using var client = Client(stub);

        var ids = await WalkAsync(client);

        Assert.Equal(Enumerable.Range(1, 250).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), ids);
        var starts = stub.Requests.Skip(1).Select(r => r.PathAndQuery).ToList();
        Assert.Equal(7, starts.Count);
        Assert.All(starts, s => Assert.Contains("count=100", s));
        Assert.Contains("startIndex=41&", starts[1]);
    }

    [Fact]
    public async Task Without_totalResults_a_short_page_ends_the_walk()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 50));
            var start = Param(ctx, "startIndex", 1);
            return StubServer.Json(ctx, 200, List(Enumerable.Range(start, Math.Max(0, Math.Min(50, 120 - start + 1))), null, start));
        });
        using var client = Client(stub);

        Assert.Equal(120, (await WalkAsync(client)).Count);
        Assert.Equal(4, stub.Requests.Count); // config + 50 + 50 + 20
    }

    [Fact]
    public async Task A_target_that_ignores_startIndex_fails_the_walk_instead_of_looping()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
            seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)
                ? StubServer.Json(ctx, 200, Spc(false, 10))
                : StubServer.Json(ctx, 200, List(Enumerable.Range(1, 10), null, 1)));
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => WalkAsync(client));

        Assert.Contains("startIndex", e.Detail);
        Assert.Equal(3, stub.Requests.Count);
    }

    [Fact]
    public async Task A_repeated_nextCursor_fails_the_walk_instead_of_looping()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
            seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)
                ? StubServer.Json(ctx, 200, Spc(true, 10))
                : StubServer.Json(ctx, 200, List(Enumerable.Range(1, 10), 1000, null, nextCursor: "same")));
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => WalkAsync(client));

        Assert.Contains("nextCursor", e.Detail);
        Assert.Equal(3, stub.Requests.Count);
    }

    [Fact]
    public async Task A_target_that_advertises_cursors_but_answers_by_index_is_paged_on_by_index()
    {
        // An RFC 9865 claim the implementation does not honour: "cursor" is ignored, startIndex works.
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(true, 100));
            var start = Param(ctx, "startIndex", 1);
            return StubServer.Json(ctx, 200, List(Enumerable.Range(start, Math.Max(0, Math.Min(100, 230 - start + 1))), 230, start));
        });
        using var client = Client(stub);

        var ids = await WalkAsync(client);

        Assert.Equal(Enumerable.Range(1, 230).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), ids);
        var lists = stub.Requests.Skip(1).Select(r => r.PathAndQuery).ToList();
        Assert.Contains("cursor=&", lists[0]);
        Assert.Contains("startIndex=101&", lists[1]);
        Assert.Contains("startIndex=201&", lists[2]);
        Assert.Equal(3, lists.Count);
    }

    [Fact]
    public async Task Without_a_ServiceProviderConfig_the_client_assumes_only_what_RFC_7644_requires()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Error(ctx, 404, null, "no such endpoint");
            var start = Param(ctx, "startIndex", 1);
            return StubServer.Json(ctx, 200, List(Enumerable.Range(start, Math.Max(0, Math.Min(Param(ctx, "count", 0), 150 - start + 1))), 150, start));
        });
        using var client = Client(stub);

        var caps = await client.GetCapabilitiesAsync(None);
        Assert.Equal(ScimCapabilities.Conservative, caps);
        Assert.Equal(150, (await WalkAsync(client)).Count);
        // No advertised maximum is not "no limit": pages of 100.
        Assert.Contains("count=100", stub.Requests[1].PathAndQuery);
        Assert.Single(stub.Requests, r => r.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal));
    }

    private static async Task<(List<string> Ids, ListWalk Walk)> WalkWithVerdictAsync(ScimClient client)
    {
        var walk = new ListWalk();
        var ids = new List<string>();
        await foreach (var page in client.ListAsync("Users", new ListOptions(), walk, None))
            ids.AddRange(page.Resources.Select(r => r["id"]!.GetValue<string>()));
        return (ids, walk);
    }

    [Fact]
    public async Task A_target_that_reports_the_page_size_as_totalResults_is_read_to_the_end()
    {
        // python scim2-server: pages of 50 whatever count says, and totalResults is the size of the page.
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, null));
            var start = Param(ctx, "startIndex", 1);
            var ids = Enumerable.Range(start, Math.Max(0, Math.Min(50, 130 - start + 1))).ToArray();
            return StubServer.Json(ctx, 200, List(ids, ids.Length, start));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        Assert.Equal(Enumerable.Range(1, 130).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), ids);
        Assert.True(walk.Complete, string.Join("; ", walk.Irregularities));
        Assert.Equal(50, walk.LargestPage);
        Assert.Equal(4, stub.Requests.Count); // config + 50 + 50 + 30: the short page after full ones ends it
    }

    [Fact]
    public async Task A_single_short_first_page_is_followed_by_one_more_request()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, null));
            var start = Param(ctx, "startIndex", 1);
            var ids = Enumerable.Range(start, Math.Max(0, Math.Min(50, 100 - start + 1))).ToArray();
            return StubServer.Json(ctx, 200, List(ids, ids.Length, start));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        // The first page (50 of the 100 asked, "totalResults": 50) could have been everything; it was not.
        Assert.Equal(100, ids.Count);
        Assert.True(walk.Complete);
        Assert.Equal(4, stub.Requests.Count);
    }

    [Fact]
    public async Task Ids_returned_twice_make_the_walk_incomplete()
    {
        // A create during an index walk shifts every later resource by one: the next page repeats one.
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 50));
            var start = Param(ctx, "startIndex", 1);
            var from = start == 1 ? 1 : start - 1;
            var ids = Enumerable.Range(from, Math.Max(0, Math.Min(50, 120 - from + 1))).ToArray();
            return StubServer.Json(ctx, 200, List(ids, 120, start));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        Assert.True(walk.Finished);
        Assert.False(walk.Complete);
        Assert.Contains(walk.Irregularities, i => i.Contains("second time", StringComparison.Ordinal));
        Assert.Equal(120, ids.Distinct().Count());
    }

    [Fact]
    public async Task A_short_page_in_the_middle_is_read_past_and_reported()
    {
        // totalResults says 150; the second page comes back short (a provider that lost part of it).
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 50));
            var start = Param(ctx, "startIndex", 1);
            var take = start == 51 ? 20 : 50;
            return StubServer.Json(ctx, 200, List(Enumerable.Range(start, Math.Max(0, Math.Min(take, 150 - start + 1))), 150, start));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        Assert.False(walk.Complete);
        Assert.Contains(walk.Irregularities, i => i.Contains("short page", StringComparison.Ordinal));
        Assert.Contains("121", ids); // read on after the short page
    }

    [Fact]
    public async Task Fewer_resources_than_totalResults_make_the_walk_incomplete()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 50));
            var start = Param(ctx, "startIndex", 1);
            // Claims 500; stops answering with resources after 100.
            return StubServer.Json(ctx, 200, List(start > 100 ? [] : Enumerable.Range(start, 50), 500, start));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        Assert.Equal(100, ids.Count);
        Assert.False(walk.Complete);
        Assert.Contains(walk.Irregularities, i => i.Contains("totalResults 500", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_page_of_resources_already_returned_fails_the_walk()
    {
        // Not the same page twice, but nothing new either: paging has stopped advancing.
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 10));
            var start = Param(ctx, "startIndex", 1);
            return StubServer.Json(ctx, 200, List(start == 1 ? Enumerable.Range(1, 10) : Enumerable.Range(1, 10).Reverse(), 1000, start));
        });
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => WalkWithVerdictAsync(client));

        Assert.Contains("already returned", e.Detail);
    }

    [Fact]
    public async Task A_Resources_member_that_is_not_an_array_fails_the_walk()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
            seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)
                ? StubServer.Json(ctx, 200, Spc(false, 10))
                : StubServer.Json(ctx, 200, new JsonObject { ["totalResults"] = 3, ["Resources"] = new JsonObject { ["id"] = "1" } }));
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => WalkWithVerdictAsync(client));

        Assert.Contains("not an array", e.Detail);
    }

    [Fact]
    public async Task A_target_that_answers_past_the_end_with_the_first_page_ends_the_walk_when_its_total_is_reached()
    {
        // SCIMMY: startIndex beyond the end returns the first page again (with the true totalResults).
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal)) return StubServer.Json(ctx, 200, Spc(false, 100));
            var start = Param(ctx, "startIndex", 1);
            var from = start > 300 ? 1 : start;
            return StubServer.Json(ctx, 200, List(Enumerable.Range(from, 100), 300, from));
        });
        using var client = Client(stub);

        var (ids, walk) = await WalkWithVerdictAsync(client);

        Assert.Equal(300, ids.Count);
        Assert.True(walk.Complete, string.Join("; ", walk.Irregularities));
    }
}
