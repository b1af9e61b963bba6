using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Server.Security;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Security;

/// <summary>Revocation on a running server, the admin token API, scopes, and what a poll token can learn.</summary>
public sealed class CredentialTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private async Task<(string Id, string Secret)> CreateTokenAsync(params string[] scopes)
    {
        var r = await _c.PostAsync("/admin/tokens", new JsonObject { ["name"] = Unique("t"), ["scopes"] = new JsonArray(scopes.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()) });
        Assert.Equal(HttpStatusCode.Created, r.Status);
        return (r.Json["id"]!.GetValue<string>(), r.Json["secret"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_revocation_by_another_process_takes_effect_on_the_next_request()
    {
        var (id, secret) = await CreateTokenAsync(Scopes.Read);
        using var client = server.CreateClient(secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetScimAsync("Users")).Status);

        // What `scimsync token revoke` does beside the running server: its own connection to the same store.
        await using (var other = await server.OpenOtherHandleAsync())
            Assert.True(await other.Tokens.RevokeAsync(id, DateTimeOffset.UtcNow, default));

        AssertError(await client.GetScimAsync("Users"), HttpStatusCode.Unauthorized, null);
    }

    [Fact]
    public async Task The_admin_token_api_lists_creates_and_revokes_and_needs_the_admin_scope()
    {
        var (id, secret) = await CreateTokenAsync(Scopes.Read, Scopes.Write);
        var list = await _c.GetScimAsync("/admin/tokens");
        var listed = Assert.Single(list.Json["tokens"]!.AsArray(), t => t!["id"]!.GetValue<string>() == id)!;
        Assert.Equal("active", listed["state"]!.GetValue<string>());
        Assert.Null(listed["secret"]);
        Assert.DoesNotContain(TokenService.Hash(secret), list.Body!.ToJsonString());

        using var writer = server.CreateClient(secret);
        AssertError(await writer.GetScimAsync("/admin/tokens"), HttpStatusCode.Forbidden, null);
        AssertError(await writer.PostAsync("/admin/tokens", new JsonObject { ["name"] = Unique("x"), ["scopes"] = new JsonArray("admin") }), HttpStatusCode.Forbidden, null);

        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"/admin/tokens/{id}")).Status);
        AssertError(await writer.GetScimAsync("Users"), HttpStatusCode.Unauthorized, null);
        AssertError(await _c.DeleteScimAsync($"/admin/tokens/{id}"), HttpStatusCode.NotFound, null);
    }

    [Theory]
    [InlineData("feed:x admin")]
    [InlineData("feed:abc")]
    [InlineData("Admin")]
    [InlineData("scim:read scim:write")]
    [InlineData("")]
    public async Task Scopes_other_than_the_known_ones_are_refused(string scope)
    {
        var r = await _c.PostAsync("/admin/tokens", new JsonObject { ["name"] = Unique("s"), ["scopes"] = new JsonArray(scope) });
        AssertError(r, HttpStatusCode.BadRequest, "invalidValue");
        var tokens = server.Services.GetRequiredService<TokenService>();
        await Assert.ThrowsAsync<ArgumentException>(() => tokens.CreateAsync(Unique("s"), [scope], null, null, default));
    }

    private async Task<(string Id, string PollToken)> SubscribeAsync()
    {
        var r = await _c.PostAsync("/feeds/v1/subscriptions", new JsonObject { ["name"] = Unique("sub"), ["audience"] = "https://receiver.test", ["signing"] = "none" });
        Assert.Equal(HttpStatusCode.Created, r.Status);
        return (r.Json["id"]!.GetValue<string>(), r.Json["pollToken"]!.GetValue<string>());
    }

    [Fact]
    public async Task Deleting_a_subscription_revokes_its_poll_token()
    {
        var (id, pollToken) = await SubscribeAsync();
        using var poller = server.CreateClient(pollToken);
        Assert.Equal(HttpStatusCode.OK, (await poller.PostAsync($"/feeds/v1/subscriptions/{id}/poll", new JsonObject { ["returnImmediately"] = true })).Status);

        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"/feeds/v1/subscriptions/{id}")).Status);

        AssertError(await poller.PostAsync($"/feeds/v1/subscriptions/{id}/poll", new JsonObject { ["returnImmediately"] = true }), HttpStatusCode.Unauthorized, null);
    }

    [Fact]
    public async Task A_poll_token_cannot_tell_whether_another_subscription_exists()
    {
        var (_, pollToken) = await SubscribeAsync();
        var (other, _) = await SubscribeAsync();
        using var poller = server.CreateClient(pollToken);
        var body = new JsonObject { ["returnImmediately"] = true };

        var existing = await poller.PostAsync($"/feeds/v1/subscriptions/{other}/poll", body);
        var missing = await poller.PostAsync($"/feeds/v1/subscriptions/{Guid.NewGuid():N}/poll", body);

        AssertError(existing, HttpStatusCode.Forbidden, null);
        AssertError(missing, HttpStatusCode.Forbidden, null);
        Assert.Equal(existing.Body!.ToJsonString(), missing.Body!.ToJsonString());
        Assert.Equal(existing.Body!.ToJsonString(), (await poller.GetScimAsync($"/feeds/v1/subscriptions/{Guid.NewGuid():N}/jwks")).Body!.ToJsonString());
    }
}
