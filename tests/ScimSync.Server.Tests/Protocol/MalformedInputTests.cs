using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>Regressions from fuzzing: inputs that once reached a 500 (and, for Bulk, a partial write).</summary>
public sealed class MalformedInputTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    public static TheoryData<string, string> Bodies => new()
    {
        { "Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"\ud800"}""" },
        { "Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"d1","userName":"d2"}""" },
        { "Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"n1","name":{"givenName":"a","givenName":"b"}}""" },
        { "Users", """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"n2","\udc00":"x"}""" },
        { ".search", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"\ud800\""}""" },
        { ".search", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"a pr","filter":"b pr"}""" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Lone_surrogates_and_duplicate_members_are_invalidSyntax(string path, string body)
    {
        AssertError(await _c.PostAsync(path, body), HttpStatusCode.BadRequest, "invalidSyntax");
    }

    [Fact]
    public async Task Invalid_utf8_is_invalidSyntax()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"aXb"}""");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xFF;
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new("application/scim+json");
        using var resp = await _c.PostAsync("Users", content);
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        Assert.Contains("invalidSyntax", await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_bad_operation_in_a_bulk_request_fails_before_anything_is_written()
    {
        var name = Unique("bulkpw");
        var body = $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[
              {"method":"POST","path":"/Users","bulkId":"a","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{{name}}}"}},
              {"method":"POST","path":"/Users","bulkId":"b","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{{name}}}x","title":"\ud800"}}]}
            """;
        AssertError(await _c.PostAsync("Bulk", body), HttpStatusCode.BadRequest, "invalidSyntax");
        Assert.Equal(0, (await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"userName sw \"{name}\"")}")).Json["totalResults"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("Users?sortBy=schemas")]
    [InlineData("Groups?sortBy=schemas")]
    [InlineData("?sortBy=schemas")]
    public async Task Sorting_by_a_simple_multi_valued_attribute_works(string query)
    {
        await _c.CreateUserAsync(Unique("sortschemas"));
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync(query)).Status);
    }

    [Fact]
    public async Task A_long_get_filter_within_the_filter_limit_is_answered()
    {
        var filter = string.Join(" or ", Enumerable.Range(0, 250).Select(i => $"userName eq \"u{i}\""));
        var r = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString(filter)}");
        Assert.Equal(HttpStatusCode.OK, r.Status);
    }
}
