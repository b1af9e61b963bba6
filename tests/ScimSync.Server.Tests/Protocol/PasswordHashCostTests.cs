using ScimSync.Protocol.Schemas;
using ScimSync.Server.Security;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Resources;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

public sealed class CheapHashFixture : ScimServerFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions o) => o with { PasswordHashIterations = 2_000 };
}

/// <summary>
/// `serve --password-hash-iterations`: the server hashes with the count it was given, and a hash stored under another
/// count still verifies (each hash names its own), so changing the setting never locks anyone out.
/// </summary>
public sealed class PasswordHashCostTests(CheapHashFixture server) : IClassFixture<CheapHashFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Passwords_are_hashed_with_the_configured_count_and_older_counts_still_verify()
    {
        var id = await _c.CreateUserAsync(Unique("cheap"), u => u["password"] = "cheap-Secret1");
        var store = (IResourceStore)server.Services.GetService(typeof(IResourceStore))!;
        var registry = (SchemaRegistry)server.Services.GetService(typeof(SchemaRegistry))!;
        var hash = (await store.FindAsync(registry.User, id, LoadOptions.None, default))!.PasswordHash!;
        Assert.StartsWith("pbkdf2-sha256$2000$", hash);
        Assert.True(PasswordHasher.Verify("cheap-Secret1", hash));
        Assert.False(PasswordHasher.Verify("cheap-Secret2", hash));

        var older = PasswordHasher.Hash("cheap-Secret1");
        Assert.StartsWith($"pbkdf2-sha256${PasswordHasher.DefaultIterations}$", older);
        Assert.True(PasswordHasher.Verify("cheap-Secret1", older));
    }
}
