using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Events;
using ScimSync.Feed;
using ScimSync.Feed.Passwords;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Resources;
using ScimSync.Store;

namespace ScimSync.Server.Tests.Storage.Conformance;

/// <summary>
/// What the storage port promises about passwords waiting for delivery, against SQLite and PostgreSQL: stored only
/// sealed, in the write's own transaction, for the subscriptions with the right alone; handed out once per claim,
/// deleted when acknowledged, and past their expiry handed out once more without ciphertext.
/// </summary>
public abstract class PasswordDeliveryConformanceTests(string kind) : IAsyncLifetime
{
    private static readonly RSA EngineKey = RSA.Create(2048);
    private readonly SchemaRegistry _registry = SchemaRegistry.CreateDefault();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FeedOptions _options = new() { Issuer = "test", PasswordLifetime = TimeSpan.FromMinutes(5), PasswordVisibility = TimeSpan.FromSeconds(30) };
    private StoreUnderTest _under = null!;
    private IResourceStore _store = null!;
    private ResourceService _service = null!;
    private SubscriptionService _subscriptions = null!;

    public async Task InitializeAsync()
    {
        _under = await StoreUnderTest.CreateAsync(kind);
        _store = await _under.OpenAsync();
        var shaper = new ResourceShaper(_registry);
        _service = new ResourceService(_store, shaper, new PatchEngine(shaper), _time) { Passwords = new PasswordSealer(_store, _options, _time) };
        _subscriptions = new SubscriptionService(_store, _registry, _options, _time);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        await _under.DisposeAsync();
    }

    private Task<Subscription> SubscribeAsync(bool passwords) => _subscriptions.CreateAsync("s-" + Guid.NewGuid().ToString("N")[..8],
        new SubscriptionConfig { Audience = "a", PasswordKey = passwords ? PasswordEnvelope.PublicJwk(EngineKey) : null }, null, default);

    private JsonObject User(string userName, string? password) => new()
    {
        ["schemas"] = new JsonArray(_registry.User.Schema), ["userName"] = userName, ["password"] = password,
    };

    [SkippableFact]
    public async Task A_password_is_kept_only_sealed_and_only_for_the_subscription_with_the_right()
    {
        var engine = await SubscribeAsync(passwords: true);
        var bystander = await SubscribeAsync(passwords: false);
        var user = (await _service.CreateAsync(_registry.User, User("pw-create", "first-Secret"), WriteContext.New("t"), default)).Resource;
        await _service.PatchAsync(_registry.User, user.Id, PatchRequest.Read(JsonNode.Parse("""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"password","value":"second-Secret"}]}
            """)), null, WriteContext.New("t"), default);

        Assert.Empty(await _store.Passwords.ClaimAsync(bystander.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
        var claimed = await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default);
        Assert.Equal(2, claimed.Count);
        Assert.All(claimed, p => Assert.DoesNotContain("Secret", p.Jwe!, StringComparison.Ordinal));
        var opened = claimed.Select(p => PasswordEnvelope.Open(EngineKey, p.Jwe!)).ToArray();
        Assert.Equal(["first-Secret", "second-Secret"], opened.Select(o => o.Password));
        Assert.All(opened, o => Assert.Equal(user.Id, o.ResourceId));
        Assert.Equal(claimed.Select(c => c.Id), opened.Select(o => o.Id));
        Assert.All(claimed, p => Assert.Equal(_time.GetUtcNow() + _options.PasswordLifetime, p.Expires));

        // Claimed: invisible until its claim runs out, then handed out again; acknowledged: gone.
        Assert.Empty(await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(2, (await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default)).Count);
        Assert.Equal(2, await _store.Passwords.AckAsync(engine.Id, claimed.Select(c => c.Id).ToArray(), default));
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Empty(await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
    }

    [SkippableFact]
    public async Task A_write_that_fails_leaves_no_password_waiting()
    {
        var engine = await SubscribeAsync(passwords: true);
        await _service.CreateAsync(_registry.User, User("taken", null), WriteContext.New("t"), default);
        var conflict = await Assert.ThrowsAsync<ScimException>(() => _service.CreateAsync(_registry.User, User("taken", "lost-Secret"), WriteContext.New("t"), default));
        Assert.Equal(409, conflict.Status);
        Assert.Empty(await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
    }

    [SkippableFact]
    public async Task Past_its_expiry_a_password_loses_its_ciphertext_is_reported_once_and_is_forgotten_later()
    {
        var engine = await SubscribeAsync(passwords: true);
        var other = await SubscribeAsync(passwords: true);
        var user = (await _service.CreateAsync(_registry.User, User("pw-expire", "Expiring-Secret"), WriteContext.New("t"), default)).Resource;
        _time.Advance(_options.PasswordLifetime);

        // The sweep takes the ciphertext of every expired delivery and names them (for the server's log).
        var expired = await _store.Passwords.ExpireAsync(_time.GetUtcNow(), _time.GetUtcNow() - TimeSpan.FromDays(7), default);
        Assert.Equal(new[] { engine.Id, other.Id }.Order(StringComparer.Ordinal), expired.Select(e => e.SubscriptionId).Order(StringComparer.Ordinal));
        Assert.All(expired, e => { Assert.Null(e.Jwe); Assert.Equal(user.Id, e.ResourceId); });
        Assert.Empty(await _store.Passwords.ExpireAsync(_time.GetUtcNow(), _time.GetUtcNow() - TimeSpan.FromDays(7), default));

        // The subscriber learns of it, without ciphertext; acknowledged, it is gone.
        var told = Assert.Single(await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
        Assert.Null(told.Jwe);
        await _store.Passwords.AckAsync(engine.Id, [told.Id], default);

        // Without a sweep, a claim past the expiry drops the ciphertext itself.
        var late = (await _service.CreateAsync(_registry.User, User("pw-late", "Late-Secret"), WriteContext.New("t"), default)).Resource;
        _time.Advance(_options.PasswordLifetime + TimeSpan.FromSeconds(1));
        var claimedLate = await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default);
        Assert.Equal(late.Id, Assert.Single(claimedLate).ResourceId);
        Assert.Null(claimedLate[0].Jwe);

        // Nobody asked the other subscription's: forgotten once old enough.
        _time.Advance(TimeSpan.FromDays(8));
        await _store.Passwords.ExpireAsync(_time.GetUtcNow(), _time.GetUtcNow() - TimeSpan.FromDays(7), default);
        Assert.Empty(await _store.Passwords.ClaimAsync(other.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
    }

    [SkippableFact]
    public async Task A_deleted_subscription_leaves_no_password_behind()
    {
        var engine = await SubscribeAsync(passwords: true);
        await _service.CreateAsync(_registry.User, User("pw-deleted-sub", "Orphan-Secret"), WriteContext.New("t"), default);
        Assert.True(await _store.Feed.DeleteSubscriptionAsync(engine.Id, default));
        Assert.Empty(await _store.Passwords.ClaimAsync(engine.Id, 10, _time.GetUtcNow(), _options.PasswordVisibility, default));
        Assert.Empty(await _store.Passwords.ExpireAsync(_time.GetUtcNow() + TimeSpan.FromDays(1), _time.GetUtcNow() + TimeSpan.FromDays(1), default));
    }
}

public sealed class SqlitePasswordDeliveryConformanceTests() : PasswordDeliveryConformanceTests("sqlite");

public sealed class PostgresPasswordDeliveryConformanceTests() : PasswordDeliveryConformanceTests("postgres");
