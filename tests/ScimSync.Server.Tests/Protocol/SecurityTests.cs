using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Server.Security;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>Authentication, scopes, limits, /Me and versioning.</summary>
public sealed class SecurityTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private async Task<string> TokenAsync(string[] scopes, string? userId = null)
    {
        var tokens = server.Services.GetRequiredService<TokenService>();
        var (secret, _) = await tokens.CreateAsync(Unique("t"), scopes, userId, null, default);
        return secret;
    }

    [Theory]
    [InlineData("GET", "Users")]
    [InlineData("POST", "Users")]
    [InlineData("GET", "Users/x")]
    [InlineData("PUT", "Users/x")]
    [InlineData("PATCH", "Groups/x")]
    [InlineData("DELETE", "Users/x")]
    [InlineData("POST", "Bulk")]
    [InlineData("POST", ".search")]
    [InlineData("GET", "ServiceProviderConfig")]
    [InlineData("GET", "Schemas")]
    [InlineData("GET", "ResourceTypes")]
    [InlineData("GET", "Me")]
    public async Task Every_endpoint_needs_a_valid_token(string method, string path)
    {
        using var anonymous = server.CreateClient(null);
        var r = await anonymous.SendAsync(new HttpMethod(method), path, method is "GET" or "DELETE" ? null : "{}");
        AssertError(r, HttpStatusCode.Unauthorized, null);
        Assert.Contains("Bearer", r.Headers.WwwAuthenticate.ToString());
        using var wrong = server.CreateClient("scimsync_not-a-real-token");
        AssertError(await wrong.SendAsync(new HttpMethod(method), path, method is "GET" or "DELETE" ? null : "{}"), HttpStatusCode.Unauthorized, null);
    }

    [Fact]
    public async Task Read_only_token_cannot_write_and_write_only_cannot_read()
    {
        using var reader = server.CreateClient(await TokenAsync([Scopes.Read]));
        Assert.Equal(HttpStatusCode.OK, (await reader.GetScimAsync("Users")).Status);
        AssertError(await reader.PostAsync("Users", User(Unique("nope"))), HttpStatusCode.Forbidden, null);
        AssertError(await reader.PostAsync("Bulk", "{}"), HttpStatusCode.Forbidden, null);
        using var writer = server.CreateClient(await TokenAsync([Scopes.Write]));
        Assert.Equal(HttpStatusCode.Created, (await writer.PostAsync("Users", User(Unique("w")))).Status);
        AssertError(await writer.GetScimAsync("Users"), HttpStatusCode.Forbidden, null);
    }

    [Fact]
    public async Task Tokens_are_stored_only_as_hashes()
    {
        var secret = await TokenAsync([Scopes.Read]);
        var bytes = await server.StoredBytesAsync();
        Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(secret)));
        // The check can see a token: its hash is there.
        Assert.NotEqual(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(ScimSync.Server.Security.TokenService.Hash(secret))));
    }

    [Fact]
    public async Task Me_is_501_for_unbound_tokens_and_the_user_for_bound_ones()
    {
        using var c = server.CreateClient(ScimServerFixture.AdminToken);
        AssertError(await c.GetScimAsync("Me"), HttpStatusCode.NotImplemented, null);
        var name = Unique("me");
        var id = await c.CreateUserAsync(name);
        using var me = server.CreateClient(await TokenAsync([Scopes.Read, Scopes.Write], id));
        var r = await me.GetScimAsync("Me");
        Assert.Equal(name, r.Json["userName"]!.GetValue<string>());
        Assert.EndsWith($"/Users/{id}", r.Json["meta"]!["location"]!.GetValue<string>());
        var p = await me.PatchAsync("Me", Patch(Op("replace", "nickName", "selfie")));
        Assert.Equal("selfie", p.Json["nickName"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unsupported_version_is_invalidVers()
    {
        using var c = new HttpClient { BaseAddress = new Uri(server.BaseAddress, "/scim/v1/") };
        c.DefaultRequestHeaders.Authorization = new("Bearer", ScimServerFixture.AdminToken);
        AssertError(await c.GetScimAsync("Users"), HttpStatusCode.BadRequest, "invalidVers");
    }

    [Fact]
    public async Task Oversized_body_is_413()
    {
        // Kestrel answers as soon as it sees the Content-Length and then stops reading, so HttpClient
        // would fail writing the body; a raw socket sends the headers and reads the answer.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = tcp.GetStream();
        var head = $"POST /scim/v2/Users HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\nAuthorization: Bearer {ScimServerFixture.AdminToken}\r\n" +
                   $"Content-Type: application/scim+json\r\nContent-Length: {64L * 1024 * 1024}\r\n\r\n{{\"schemas\":[";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var response = System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        Assert.StartsWith("HTTP/1.1 413", response);
        Assert.Contains("urn:ietf:params:scim:api:messages:2.0:Error", response);
    }

    [Fact]
    public async Task Unknown_endpoint_and_method_get_scim_errors()
    {
        AssertError(await server.Client.GetScimAsync("Widgets"), HttpStatusCode.NotFound, null);
        AssertError(await server.Client.PostAsync("Users/abc", User("x")), HttpStatusCode.MethodNotAllowed, null);
    }

    [Fact]
    public async Task Application_json_is_accepted()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "Users")
        {
            Content = new StringContent(User(Unique("plainjson")).ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        using var resp = await server.Client.SendAsync(req);
        Assert.Equal(HttpStatusCode.Created, resp.StatusCode);
        Assert.Equal("application/scim+json", resp.Content.Headers.ContentType!.MediaType);
    }
}
