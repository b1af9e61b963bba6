using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Server.Security;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>
/// Oversized and value-dense bodies per route, with the default limits (docs/compliance.md, "Limits"):
/// each is refused with 413 before the server builds anything from it, whoever sends it.
/// </summary>
public sealed class RequestLimitTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static byte[] ZeroArray(int bytes)
    {
        // "[0,0,…,0]", padded with a space before the bracket when the length is even: valid JSON of any length.
        var b = new byte[bytes];
        b.AsSpan().Fill((byte)' ');
        b[0] = (byte)'[';
        var i = 1;
        for (; i + 3 < bytes; i += 2) { b[i] = (byte)'0'; b[i + 1] = (byte)','; }
        b[i] = (byte)'0';
        b[bytes - 1] = (byte)']';
        return b;
    }

    /// <summary>An object whose member "x" is an array of zeros, <paramref name="bytes"/> long in all.</summary>
    private static byte[] ObjectOfZeros(string head, int bytes)
    {
        var prefix = Encoding.UTF8.GetBytes(head + "\"x\":");
        return [.. prefix, .. ZeroArray(bytes - prefix.Length - 1), (byte)'}'];
    }

    /// <summary>
    /// Sends raw bytes with Expect: 100-continue, as a client that sends large bodies should: a body refused
    /// from its Content-Length is then never sent, and the client reads the 413. <paramref name="chunked"/>
    /// omits Content-Length, so the server can only find the size by reading; once it stops reading, Kestrel
    /// closes the connection and the client may see that instead of the 413 (status null).
    /// </summary>
    private static async Task<(HttpStatusCode? Status, string Body)> SendRawAsync(HttpClient c, string path, byte[] body, bool chunked = false, string? token = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path.StartsWith("/feeds", StringComparison.Ordinal) ? path : path.TrimStart('/'));
        HttpContent content = chunked ? new StreamContent(new NonSeekable(body)) : new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/scim+json");
        req.Content = content;
        if (token is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        req.Headers.ExpectContinue = true;
        try
        {
            using var resp = await c.SendAsync(req);
            return (resp.StatusCode, await resp.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException)
        {
            // Kestrel may close the connection once it has answered and will not read the rest.
            return (null, "");
        }
    }

    private static void Assert413(HttpStatusCode? status, string body)
    {
        Assert.True(status == HttpStatusCode.RequestEntityTooLarge, $"expected 413, got {(int?)status} {body}");
        var json = JsonNode.Parse(body)!;
        Assert.Equal("413", json["status"]!.GetValue<string>());
    }

    private async Task<string> TokenAsync(params string[] scopes)
    {
        var (secret, _) = await server.Services.GetRequiredService<TokenService>().CreateAsync(Unique("t"), scopes, null, null, default);
        return secret;
    }

    private async Task<(string Id, string PollToken)> SubscriptionAsync()
    {
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("lim"), ["audience"] = "a" });
        Assert.Equal(HttpStatusCode.Created, r.Status);
        return (r.Json["id"]!.GetValue<string>(), r.Json["pollToken"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_16_MiB_array_sent_to_poll_with_a_poll_token_is_413()
    {
        var (id, pollToken) = await SubscriptionAsync();
        var (status, body) = await SendRawAsync(_c, $"/feeds/v1/subscriptions/{id}/poll", ZeroArray(16 << 20), token: pollToken);
        Assert413(status, body);
    }

    [Fact]
    public async Task A_16_MiB_array_sent_to_search_with_a_read_only_token_is_413()
    {
        var (status, body) = await SendRawAsync(_c, "Users/.search", ZeroArray(16 << 20), token: await TokenAsync(Scopes.Read));
        Assert413(status, body);
    }

    [Theory]
    [InlineData("Users/.search")]
    [InlineData(".search")]
    [InlineData("/feeds/v1/subscriptions")]
    [InlineData("Bulk")]
    public async Task A_body_sent_without_Content_Length_is_cut_off_at_the_route_limit(string path)
    {
        var (status, body) = await SendRawAsync(_c, path, ObjectOfZeros("{\"schemas\":[],", 6 << 20), chunked: true);
        if (status is not null) Assert413(status, body);
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync("ServiceProviderConfig")).Status);
    }

    [Fact]
    public async Task Feed_administration_bodies_are_small()
    {
        var r = await _c.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject { ["name"] = new string('n', 100_000), ["audience"] = "a" });
        AssertError(r, HttpStatusCode.RequestEntityTooLarge, null);
    }

    [Fact]
    public async Task A_12_MB_user_is_413_and_is_not_created()
    {
        var name = Unique("huge");
        var (status, body) = await SendRawAsync(_c, "Users", Encoding.UTF8.GetBytes(User(name, u => u["title"] = new string('x', 12_000_000)).ToJsonString()));
        Assert413(status, body);
        Assert.Contains("a resource may be at most", body, StringComparison.Ordinal);
        var found = await _c.GetScimAsync($"Users?filter={Uri.EscapeDataString($"userName eq \"{name}\"")}");
        Assert.Equal(0, found.Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_client_that_sends_the_whole_body_anyway_reads_the_413()
    {
        // HttpClient does not send Expect: 100-continue unless told to: the server refuses from the
        // Content-Length and discards the rest, so the answer arrives instead of a reset connection.
        var r = await _c.PostAsync("Users", User(Unique("huge"), u => u["title"] = new string('x', 12_000_000)));
        AssertError(r, HttpStatusCode.RequestEntityTooLarge, null);
        Assert.Equal(HttpStatusCode.OK, (await _c.GetScimAsync("ServiceProviderConfig")).Status);
    }

    [Fact]
    public async Task A_user_cannot_grow_past_the_resource_limit_by_patch_or_bulk()
    {
        var id = await _c.CreateUserAsync(Unique("grow"));
        Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{id}", Patch(Op("add", "title", new string('t', 700_000))))).Status);
        var r = await _c.PatchAsync($"Users/{id}", Patch(Op("add", "nickName", new string('n', 700_000))));
        AssertError(r, HttpStatusCode.RequestEntityTooLarge, null);
        Assert.Null((await _c.GetScimAsync($"Users/{id}")).Json["nickName"]);

        var bulk = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
            ["Operations"] = new JsonArray(new JsonObject
            {
                ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "big",
                ["data"] = User(Unique("bulkbig"), u => u["title"] = new string('b', 1_500_000)),
            }),
        };
        var b = await _c.PostAsync("Bulk", bulk);
        Assert.Equal(HttpStatusCode.OK, b.Status);
        Assert.Equal("413", b.Json["Operations"]![0]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_body_of_tiny_values_is_refused_before_it_is_built()
    {
        // 1 MiB (the resource limit) of "0," would be half a million JSON nodes, about 100 bytes each.
        var body = ObjectOfZeros("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"zeros\",", 1 << 20);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var (status, text) = await SendRawAsync(_c, "Users", body);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert413(status, text);
        Assert.Contains("JSON values", text, StringComparison.Ordinal);
        // Client and server share this process: reading the body once and the client's own buffers fit
        // easily in 16 MiB, where building the DOM took about 55 MB.
        Assert.True(allocated < 16 << 20, $"the request allocated {allocated / 1048576.0:F1} MiB");
    }

    [Fact]
    public async Task Groups_keep_room_for_large_member_lists()
    {
        var uid = await _c.CreateUserAsync(Unique("member"));
        // About 2.5 MB: past the resource limit of a User, within the Group limit.
        var members = new JsonArray(Enumerable.Range(0, 40_000).Select(i => (JsonNode)new JsonObject { ["value"] = uid, ["display"] = $"display name {i}" }).ToArray());
        var r = await _c.PostAsync("Groups", new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = Unique("big"), ["members"] = members });
        Assert.Equal(HttpStatusCode.Created, r.Status);
    }

    [Fact]
    public async Task Bulk_at_maxPayloadSize_is_read_and_one_byte_more_is_413()
    {
        var spc = await _c.GetScimAsync("ServiceProviderConfig");
        var max = spc.Json["bulk"]!["maxPayloadSize"]!.GetValue<int>();
        var head = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[],\"pad\":\"";
        string Body(int size) => head + new string(' ', size - head.Length - 2) + "\"}";
        var over = await SendRawAsync(_c, "Bulk", Encoding.UTF8.GetBytes(Body(max + 1)));
        Assert413(over.Status, over.Body);
        Assert.Contains("maxPayloadSize", over.Body, StringComparison.Ordinal);
        var at = await SendRawAsync(_c, "Bulk", Encoding.UTF8.GetBytes(Body(max)));
        Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, at.Status);
    }

    /// <summary>A stream HttpClient cannot measure, so the request goes out chunked.</summary>
    private sealed class NonSeekable(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
