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
}
