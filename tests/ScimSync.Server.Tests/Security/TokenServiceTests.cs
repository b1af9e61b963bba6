using Microsoft.Extensions.Time.Testing;
using ScimSync.Server.Security;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Security;

public sealed class TokenServiceTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tok-" + Guid.NewGuid().ToString("N"));
    private SqliteResourceStore _store = null!;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));

    public async Task InitializeAsync()
    {
        ScimSync.Secrets.PrivateFiles.EnsureDirectory(_dir, "data directory");
        _store = new SqliteResourceStore(Path.Combine(_dir, "t.db"));
        await _store.InitializeAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task Revocation_takes_effect_once_the_short_cache_expires()
    {
        var service = new TokenService(_store.Tokens, _time, adminToken: null);
        var (secret, token) = await service.CreateAsync("okta", [Scopes.Read], null, null, default);
        Assert.NotNull(await service.AuthenticateAsync(secret, default));
        Assert.True(await _store.Tokens.RevokeAsync(token.Name, _time.GetUtcNow(), default));
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.Null(await service.AuthenticateAsync(secret, default));
    }

    [Fact]
    public async Task Expired_tokens_and_unknown_secrets_are_rejected()
    {
        var service = new TokenService(_store.Tokens, _time, adminToken: "admin-secret");
        var (secret, _) = await service.CreateAsync("temp", [Scopes.Write], "user-1", _time.GetUtcNow().AddHours(1), default);
        var caller = await service.AuthenticateAsync(secret, default);
        Assert.Equal("user-1", caller!.UserId);
        Assert.True(caller.Has(Scopes.Write));
        Assert.False(caller.Has(Scopes.Read));
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Null(await service.AuthenticateAsync(secret, default));
        Assert.Null(await service.AuthenticateAsync("scimsync_nope", default));
        Assert.True((await service.AuthenticateAsync("admin-secret", default))!.Has(Scopes.Admin));
        await Assert.ThrowsAsync<ArgumentException>(() => service.CreateAsync("bad", ["root"], null, null, default));
    }
}
