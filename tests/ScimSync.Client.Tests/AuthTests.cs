using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Client.Tests.Infrastructure;

namespace ScimSync.Client.Tests;

/// <summary>Authorization headers per kind, and OAuth 2.0 client credentials against a stub token endpoint.</summary>
public sealed class AuthTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>
    /// One stub playing both the authorization server (/oauth/token) and the service provider, which
    /// accepts only the most recently issued token.
    /// </summary>
    private sealed class OAuthStub
    {
        private int _issued;
        private volatile string? _valid;

        public int ExpiresIn { get; init; } = 3600;
        public List<string> TokenRequests { get; } = [];

        public string Issue()
        {
            var token = "token-" + Interlocked.Increment(ref _issued);
            _valid = token;
            return token;
        }

        /// <summary>The service provider forgets the token, as after a revocation.</summary>
        public void Revoke() => _valid = null;

        public Task Handle(HttpContext ctx, StubServer.Seen seen)
        {
            if (seen.PathAndQuery == "/oauth/token")
            {
                lock (TokenRequests) TokenRequests.Add(seen.Authorization + " | " + seen.ContentType + " | " + seen.Body);
                return StubServer.Json(ctx, 200, new JsonObject { ["access_token"] = Issue(), ["token_type"] = "Bearer", ["expires_in"] = ExpiresIn }, "application/json");
            }
            if (seen.Authorization != "Bearer " + _valid)
                return StubServer.Error(ctx, 401, null, "invalid token");
            return StubServer.Json(ctx, 200, StubServer.User("1", "ada"));
        }
    }

    private static ScimClient Client(StubServer stub, TimeDriver time) => time.Attach(new ScimClient(new ScimClientOptions
    {
        BaseUri = stub.ScimRoot,
        Auth = new ScimAuth.OAuth2ClientCredentials(new Uri(stub.Origin, "/oauth/token"), "sync client", "s3cret:&", "scim.read scim.write"),
    }, time: time.Time));

    [Fact]
    public async Task The_token_is_fetched_once_with_client_credentials_and_reused()
    {
        var oauth = new OAuthStub();
        await using var stub = await StubServer.StartAsync(oauth.Handle);
        var time = new TimeDriver();
        using var client = Client(stub, time);

        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetAsync("Users", "1", null, None)));

        var request = Assert.Single(oauth.TokenRequests);
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("sync+client:s3cret%3A%26"));
        Assert.Equal($"{basic} | application/x-www-form-urlencoded | grant_type=client_credentials&scope=scim.read%20scim.write", request);
        Assert.All(stub.Requests.Where(r => r.PathAndQuery.StartsWith("/scim", StringComparison.Ordinal)), r => Assert.Equal("Bearer token-1", r.Authorization));
        Assert.Equal(1, client.Stats.TokenRequests);
        Assert.Equal(10, client.Stats.Requests);
    }

    [Fact]
    public async Task The_token_is_refreshed_when_it_expires()
    {
        var oauth = new OAuthStub { ExpiresIn = 600 };
        await using var stub = await StubServer.StartAsync(oauth.Handle);
        var time = new TimeDriver();
        using var client = Client(stub, time);

        await client.GetAsync("Users", "1", null, None);
        time.Time.Advance(TimeSpan.FromSeconds(500));
        await client.GetAsync("Users", "1", null, None);
        Assert.Single(oauth.TokenRequests);

        // Refreshed a little before expires_in (600 s less a 60 s margin), not after a 401.
        time.Time.Advance(TimeSpan.FromSeconds(41));
        await client.GetAsync("Users", "1", null, None);

        Assert.Equal(2, oauth.TokenRequests.Count);
        Assert.Equal("Bearer token-2", stub.Requests[^1].Authorization);
        Assert.Equal(0, client.Stats.Retries);
    }

    [Fact]
    public async Task A_401_gets_one_new_token_and_one_more_try()
    {
        var oauth = new OAuthStub();
        await using var stub = await StubServer.StartAsync(oauth.Handle);
        var time = new TimeDriver();
        using var client = Client(stub, time);
        await client.GetAsync("Users", "1", null, None);

        oauth.Revoke();
        var user = await client.GetAsync("Users", "1", null, None);

        Assert.NotNull(user);
        Assert.Equal(2, oauth.TokenRequests.Count);
        Assert.Equal(["Bearer token-1", "Bearer token-1", "Bearer token-2"],
            stub.Requests.Where(r => r.PathAndQuery.StartsWith("/scim", StringComparison.Ordinal)).Select(r => r.Authorization!).ToArray());
    }

    [Fact]
    public async Task A_401_that_a_new_token_does_not_cure_is_an_error_not_a_loop()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) => seen.PathAndQuery == "/oauth/token"
            ? StubServer.Json(ctx, 200, new JsonObject { ["access_token"] = Guid.NewGuid().ToString("N"), ["expires_in"] = 3600 }, "application/json")
            : StubServer.Error(ctx, 401, null, "this client is not allowed"));
        var time = new TimeDriver();
        using var client = Client(stub, time);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.GetAsync("Users", "1", null, None));

        Assert.Equal(401, e.Status);
        Assert.Equal(2, client.Stats.TokenRequests);
        Assert.Equal(2, client.Stats.Requests);
    }

    [Fact]
    public async Task An_absurd_expires_in_is_capped_at_a_day_not_an_overflow()
    {
        await using var stub = await StubServer.StartAsync((ctx, seen) => seen.PathAndQuery == "/oauth/token"
            ? StubServer.Json(ctx, 200, new JsonObject { ["access_token"] = Guid.NewGuid().ToString("N"), ["expires_in"] = long.MaxValue }, "application/json")
            : StubServer.Json(ctx, 200, StubServer.User("1", "ada")));
        var time = new TimeDriver();
        using var client = Client(stub, time);

        await client.GetAsync("Users", "1", null, None);
        time.Time.Advance(TimeSpan.FromHours(23));
        await client.GetAsync("Users", "1", null, None);
        Assert.Equal(1, client.Stats.TokenRequests);
        time.Time.Advance(TimeSpan.FromHours(1));
        await client.GetAsync("Users", "1", null, None);
        Assert.Equal(2, client.Stats.TokenRequests);
    }

    [Fact]
    public async Task A_refused_client_credential_is_reported_with_the_OAuth_error()
    {
        await using var stub = await StubServer.StartAsync((ctx, _) =>
            StubServer.Json(ctx, 401, new JsonObject { ["error"] = "invalid_client", ["error_description"] = "unknown client" }, "application/json"));
        var time = new TimeDriver();
        using var client = Client(stub, time);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.GetAsync("Users", "1", null, None));

        Assert.Equal(401, e.Status);
        Assert.Equal("invalid_client", e.ScimType);
        Assert.Contains("unknown client", e.Detail);
        Assert.Equal(0, client.Stats.Requests);
    }

    [Fact]
    public async Task Bearer_and_Basic_send_their_headers()
    {
        await using var stub = await StubServer.StartAsync((ctx, _) => StubServer.Json(ctx, 200, StubServer.User("1", "ada")));
        using (var bearer = new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot, Auth = new ScimAuth.Bearer("abc") }))
            await bearer.GetAsync("Users", "1", null, None);
        using (var basic = new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot, Auth = new ScimAuth.Basic("ops", "pa:ss") }))
            await basic.GetAsync("Users", "1", null, None);
        using (var none = new ScimClient(new ScimClientOptions { BaseUri = stub.ScimRoot }))
            await none.GetAsync("Users", "1", null, None);

        Assert.Equal(new[] { "Bearer abc", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:pa:ss")), "" }, stub.Requests.Select(r => r.Authorization ?? "").ToArray());
        Assert.DoesNotContain("pa:ss", new ScimAuth.Basic("ops", "pa:ss").ToString());
        Assert.DoesNotContain("s3", new ScimAuth.OAuth2ClientCredentials(stub.Origin, "id", "s3", null).ToString());
    }
}
