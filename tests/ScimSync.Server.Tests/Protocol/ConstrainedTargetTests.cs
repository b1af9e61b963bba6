using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>PATCH and cursors off, pages of at most 100: a provider of the kind many real targets are.</summary>
public sealed class NoPatchNoCursorFixture : ScimServerFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions o) => o with { DisablePatch = true, DisableCursor = true, MaxResults = 100 };
}

public sealed class NoBulkFixture : ScimServerFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions o) => o with { DisableBulk = true, DocumentationUrl = "https://runbooks.example.org/scim" };
}

/// <summary>Three requests per second, on a clock the tests move.</summary>
public sealed class RateLimitedFixture : ScimServerFixture
{
    public FakeTimeProvider Time { get; } = new();

    protected override ScimServerOptions Configure(ScimServerOptions o) => o with { RateLimitPerSecond = 3 };

    protected override void ConfigureBuilder(WebApplicationBuilder builder) => builder.Services.AddSingleton<TimeProvider>(Time);
}

/// <summary>
/// The switches that let `scimsync serve` stand in for a constrained third-party target (--disable,
/// --max-results, --rate-limit): each refusal is what such a provider sends, and discovery says so.
/// </summary>
public sealed class NoPatchNoCursorTests(NoPatchNoCursorFixture server) : IClassFixture<NoPatchNoCursorFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task ServiceProviderConfig_advertises_what_is_switched_off()
    {
        var spc = (await _c.GetScimAsync("ServiceProviderConfig")).Json;
        Assert.False(spc["patch"]!["supported"]!.GetValue<bool>());
        Assert.True(spc["bulk"]!["supported"]!.GetValue<bool>());
        Assert.False(spc["pagination"]!["cursor"]!.GetValue<bool>());
        Assert.True(spc["pagination"]!["index"]!.GetValue<bool>());
        Assert.Null(spc["pagination"]!["cursorTimeout"]);
        Assert.Equal(100, spc["pagination"]!["maxPageSize"]!.GetValue<int>());
        Assert.Equal(100, spc["filter"]!["maxResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Patch_is_501_and_changes_nothing()
    {
        var id = await _c.CreateUserAsync(Unique("nopatch"));
        var r = await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", JsonValue.Create("Boss"))));
        AssertError(r, HttpStatusCode.NotImplemented, null);
        Assert.Null(r.Json["scimType"]);
        Assert.Equal("PATCH is not supported by this server", r.Json["detail"]!.GetValue<string>());
        Assert.Null((await _c.GetScimAsync($"Users/{id}")).Json["title"]);
    }

    [Fact]
    public async Task A_bulk_PATCH_operation_fails_with_501_while_the_others_run()
    {
        var id = await _c.CreateUserAsync(Unique("bulkpatch"));
        var body = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
            ["Operations"] = new JsonArray(
                new JsonObject { ["method"] = "PATCH", ["path"] = $"/Users/{id}", ["data"] = Patch(Op("replace", "title", JsonValue.Create("Boss"))) },
                new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "n", ["data"] = User(Unique("bulknew")) }),
        };
        var r = await _c.PostAsync("Bulk", body);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var ops = r.Json["Operations"]!.AsArray();
        Assert.Equal("501", ops[0]!["status"]!.GetValue<string>());
        Assert.Equal("201", ops[1]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_cursor_parameter_is_ignored_and_a_count_above_the_maximum_is_clamped()
    {
        var prefix = Unique("clamp");
        var ops = new JsonArray();
        for (var i = 0; i < 120; i++)
            ops.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = $"u{i}", ["data"] = User($"{prefix}-{i:000}") });
        var bulk = await _c.PostAsync("Bulk", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = ops });
        Assert.Equal(HttpStatusCode.OK, bulk.Status);
        var filter = Uri.EscapeDataString($"userName sw \"{prefix}\"");

        var clamped = await _c.GetScimAsync($"Users?filter={filter}&count=5000");
        Assert.Equal(HttpStatusCode.OK, clamped.Status);
        Assert.Equal(120, clamped.Json["totalResults"]!.GetValue<int>());
        Assert.Equal(100, clamped.Json["itemsPerPage"]!.GetValue<int>());
        Assert.Equal(100, clamped.Json["Resources"]!.AsArray().Count);

        var cursor = await _c.GetScimAsync($"Users?filter={filter}&cursor&count=50");
        Assert.Equal(HttpStatusCode.OK, cursor.Status);
        Assert.Equal(1, cursor.Json["startIndex"]!.GetValue<int>());
        Assert.Null(cursor.Json["nextCursor"]);
        Assert.Equal(50, cursor.Json["Resources"]!.AsArray().Count);

        // With cursors ignored, startIndex and cursor together are no longer a conflict.
        var both = await _c.GetScimAsync($"Users?filter={filter}&cursor=abc&startIndex=101&count=50");
        Assert.Equal(HttpStatusCode.OK, both.Status);
        Assert.Equal(20, both.Json["Resources"]!.AsArray().Count);
    }
}

public sealed class NoBulkTests(NoBulkFixture server) : IClassFixture<NoBulkFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Bulk_is_501_and_advertised_as_unsupported_while_patch_still_works()
    {
        var spc = (await _c.GetScimAsync("ServiceProviderConfig")).Json;
        Assert.False(spc["bulk"]!["supported"]!.GetValue<bool>());
        Assert.True(spc["patch"]!["supported"]!.GetValue<bool>());
        Assert.True(spc["pagination"]!["cursor"]!.GetValue<bool>());
        Assert.Equal("https://runbooks.example.org/scim", spc["documentationUri"]!.GetValue<string>());

        var body = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
            ["Operations"] = new JsonArray(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "a", ["data"] = User(Unique("nobulk")) }),
        };
        var r = await _c.PostAsync("Bulk", body);
        AssertError(r, HttpStatusCode.NotImplemented, null);
        Assert.Equal("Bulk is not supported by this server", r.Json["detail"]!.GetValue<string>());

        var id = await _c.CreateUserAsync(Unique("stillpatch"));
        Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", JsonValue.Create("Boss"))))).Status);
    }
}

public sealed class RateLimitTests(RateLimitedFixture server) : IClassFixture<RateLimitedFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Requests_beyond_the_rate_get_429_with_Retry_After_until_the_bucket_refills()
    {
        server.Time.Advance(TimeSpan.FromSeconds(10)); // a full bucket, whatever ran before
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync("Users?count=1")).Status);

        var refused = await _c.GetScimAsync("Users?count=1");
        AssertError(refused, HttpStatusCode.TooManyRequests, null);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter!.Delta);
        Assert.Contains("3 per second", refused.Json["detail"]!.GetValue<string>());
        // Feed endpoints share the limit.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _c.SendAsync(HttpMethod.Get, "/feeds/v1/subscriptions")).Status);

        server.Time.Advance(TimeSpan.FromMilliseconds(340)); // one token back (3 per second)
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync("Users?count=1")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _c.GetScimAsync("Users?count=1")).Status);
    }

    [Fact]
    public async Task Health_and_metrics_are_exempt()
    {
        server.Time.Advance(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 3; i++) await _c.GetScimAsync("ServiceProviderConfig");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _c.GetScimAsync("ServiceProviderConfig")).Status);
        using var plain = new HttpClient { BaseAddress = new Uri(server.BaseAddress.GetLeftPart(UriPartial.Authority)) };
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync("/healthz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync("/metrics")).StatusCode);
        }
    }
}
