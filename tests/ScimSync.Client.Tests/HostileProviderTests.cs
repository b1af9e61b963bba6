using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>
/// Service providers that answer with something a client must not act on, or must not hold: each answer
/// fails its own call, with a reason, and costs bounded memory and time.
/// </summary>
public sealed class HostileProviderTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static readonly JsonObject Spc = new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ["patch"] = new JsonObject { ["supported"] = true },
        ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = 100 },
    };

    private static bool IsConfig(StubServer.Seen seen) => seen.PathAndQuery.Contains("ServiceProviderConfig", StringComparison.Ordinal);

    private static ScimClient Client(StubServer stub, Func<ScimClientOptions, ScimClientOptions>? configure = null) =>
        new((configure ?? (o => o))(new ScimClientOptions { BaseUri = stub.ScimRoot, Auth = new ScimAuth.Bearer("secret-token"), MaxRetries = 0 }));

    private static JsonObject NewUser => new() { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = "ann" };

    [Fact]
    public async Task A_create_answered_201_without_a_resource_fails_that_call()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) => IsConfig(seen) ? StubServer.Json(ctx, 200, Spc) : StubServer.Json(ctx, 201, new JsonObject()));
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.CreateAsync("Users", NewUser, None));

        Assert.Equal(201, e.Status);
        Assert.Contains("without a usable resource", e.Detail);
    }

    [Fact]
    public async Task A_redirect_to_another_origin_is_not_followed_with_the_credentials_or_the_body()
    {
        await using var elsewhere = await StubServer.StartAsync((ctx, _) => StubServer.Json(ctx, 201, StubServer.User("1", "ann")));
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (IsConfig(seen)) return StubServer.Json(ctx, 200, Spc);
            ctx.Response.StatusCode = 307; // keeps method and body
            ctx.Response.Headers.Location = new Uri(elsewhere.Origin, "/scim/v2/Users").ToString();
            return Task.CompletedTask;
        });
        using var client = Client(stub);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.CreateAsync("Users", NewUser, None));

        Assert.Equal(307, e.Status);
        Assert.Contains("not followed", e.Detail);
        Assert.Empty(elsewhere.Requests);
    }

    [Fact]
    public async Task An_answer_past_the_size_cap_is_not_read()
    {
        var huge = new string('x', 3 << 20);
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
            IsConfig(seen) ? StubServer.Json(ctx, 200, Spc) : StubServer.Json(ctx, 200, new JsonObject { ["id"] = "1", ["userName"] = "ann", ["title"] = huge }));
        using var client = Client(stub, o => o with { MaxResponseBytes = 1 << 20 });

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.GetAsync("Users", "1", null, None));

        Assert.Contains("larger than 1,048,576 bytes", e.Detail);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(3 << 20)]
    public async Task An_answer_that_declares_its_length_is_read_whole_within_the_cap_and_refused_past_it(int titleLength)
    {
        var body = System.Text.Encoding.UTF8.GetBytes(new JsonObject { ["id"] = "1", ["userName"] = "ann", ["title"] = new string('x', titleLength) }.ToJsonString());
        await using var stub = await StubServer.RawAsync(Spc, body, r => r.ContentLength = body.Length);
        using var client = Client(stub, o => o with { MaxResponseBytes = 1 << 20 });

        if (body.Length <= 1 << 20)
            Assert.Equal(titleLength, (await client.GetAsync("Users", "1", null, None))!["title"]!.GetValue<string>().Length);
        else
            Assert.Contains($"({body.Length:N0} declared)", (await Assert.ThrowsAsync<ScimClientException>(() => client.GetAsync("Users", "1", null, None))).Detail);
    }

    [Fact]
    public async Task A_gzip_bomb_is_stopped_at_the_cap_counted_after_decompression()
    {
        // 200 MB of zeros compressed to about 200 KB.
        using var packed = new MemoryStream();
        await using (var gzip = new GZipStream(packed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 200; i++) gzip.Write(zeros);
        }
        var bomb = packed.ToArray();
        Assert.True(bomb.Length < 1 << 20);
        await using var stub = await StubServer.RawAsync(Spc, bomb, r => r.Headers.ContentEncoding = "gzip");
        using var client = Client(stub, o => o with { MaxResponseBytes = 4 << 20 });
        var before = GC.GetTotalAllocatedBytes(precise: true);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.GetAsync("Users", "1", null, None));

        Assert.Contains("larger than", e.Detail);
        // Reading stopped at the cap: far less than the 200 MB the body expands to was allocated.
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64L << 20, "the bomb was expanded");
    }

    [Fact]
    public async Task A_listing_that_never_ends_stops_at_the_page_limit()
    {
        // Every page a new cursor and new ids, forever.
        var page = 0;
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (IsConfig(seen))
                return StubServer.Json(ctx, 200, new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
                    ["pagination"] = new JsonObject { ["cursor"] = true, ["index"] = true, ["maxPageSize"] = 10 },
                });
            var n = Interlocked.Increment(ref page);
            return StubServer.Json(ctx, 200, new JsonObject
            {
                ["totalResults"] = int.MaxValue,
                ["nextCursor"] = "c" + n,
                ["Resources"] = new JsonArray(Enumerable.Range(n * 10, 10).Select(i => (JsonNode)StubServer.User("u" + i, "user" + i)).ToArray()),
            });
        });
        using var client = Client(stub, o => o with { MaxListPages = 50 });

        var walk = Task.Run(async () =>
        {
            await foreach (var _ in client.ListAsync("Users", new ListOptions(), None)) { }
        });
        var finished = await Task.WhenAny(walk, Task.Delay(TimeSpan.FromSeconds(60)));

        Assert.Same(walk, finished);
        var e = await Assert.ThrowsAsync<ScimClientException>(() => walk);
        Assert.Contains("50 pages", e.Detail);
        Assert.InRange(stub.Requests.Count, 51, 52);
    }

    [Fact]
    public async Task A_listing_past_the_resource_limit_stops()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) =>
        {
            if (IsConfig(seen)) return StubServer.Json(ctx, 200, Spc);
            var start = int.Parse(ctx.Request.Query["startIndex"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            return StubServer.Json(ctx, 200, new JsonObject
            {
                ["totalResults"] = 1_000_000,
                ["startIndex"] = start,
                ["Resources"] = new JsonArray(Enumerable.Range(start, 100).Select(i => (JsonNode)StubServer.User("u" + i, "user" + i)).ToArray()),
            });
        });
        using var client = Client(stub, o => o with { MaxListResources = 1_000 });

        var e = await Assert.ThrowsAsync<ScimClientException>(async () =>
        {
            await foreach (var _ in client.ListAsync("Users", new ListOptions(), None)) { }
        });

        Assert.Contains("1,000 resources", e.Detail);
    }
}
