using System.Text.Json.Nodes;
using ScimSync.Client.Tests.Infrastructure;
using ScimSync.Server;

namespace ScimSync.Client.Tests;

public abstract class TargetFixture : IAsyncLifetime
{
    public TargetServer Server { get; private set; } = null!;

    protected virtual ScimServerOptions Configure(ScimServerOptions options) => options;

    public async Task InitializeAsync() => Server = await TargetServer.StartAsync(Configure);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class PlainTarget : TargetFixture;

public sealed class NoPatchTarget : TargetFixture
{
    protected override ScimServerOptions Configure(ScimServerOptions options) => options with { DisablePatch = true };
}

internal static class Resources
{
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    public static JsonObject User(string userName) => new()
    {
        ["schemas"] = new JsonArray(UserSchema),
        ["userName"] = userName,
        ["name"] = new JsonObject { ["givenName"] = "Ada", ["familyName"] = "Lovelace" },
        ["emails"] = new JsonArray(new JsonObject { ["value"] = userName + "@example.com", ["type"] = "work", ["primary"] = true }),
    };

    public static JsonObject Group(string displayName) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
        ["displayName"] = displayName,
    };

    public static JsonObject Op(string op, string? path, JsonNode? value = null)
    {
        var o = new JsonObject { ["op"] = op };
        if (path is not null) o["path"] = path;
        if (value is not null) o["value"] = value;
        return o;
    }

    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    public static string Id(JsonObject r) => r["id"]!.GetValue<string>();

    public static string Version(JsonObject r) => r["meta"]!["version"]!.GetValue<string>();
}

/// <summary>Create, read, PATCH, PUT and DELETE against our server as a full-featured target.</summary>
public sealed class ResourceTests(PlainTarget target) : IClassFixture<PlainTarget>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Create_get_patch_replace_and_delete_round_trip()
    {
        var log = new RequestLog();
        using var client = target.Server.Client(log: log);
        var userName = Resources.Unique("round");

        var created = await client.CreateAsync("Users", Resources.User(userName), None);
        var id = Resources.Id(created);
        Assert.Equal(userName, created["userName"]!.GetValue<string>());

        var read = await client.GetAsync("Users", id, null, None);
        Assert.Equal("Ada", read!["name"]!["givenName"]!.GetValue<string>());
        var projected = await client.GetAsync("Users", id, "userName", None);
        Assert.Null(projected!["name"]);

        var patched = await client.PatchAsync("Users", id, [Resources.Op("replace", "title", JsonValue.Create("Engineer"))], Resources.Version(read), None);
        Assert.Equal("Engineer", patched!["title"]!.GetValue<string>());
        var stale = await Assert.ThrowsAsync<ScimClientException>(() =>
            client.PatchAsync("Users", id, [Resources.Op("replace", "title", JsonValue.Create("Boss"))], Resources.Version(read), None));
        Assert.Equal(412, stale.Status);

        var replacement = Resources.User(userName);
        replacement["displayName"] = "Countess";
        var replaced = await client.ReplaceAsync("Users", id, replacement, Resources.Version(patched), None);
        Assert.Equal("Countess", replaced["displayName"]!.GetValue<string>());
        Assert.Null(replaced["title"]);

        Assert.True(await client.DeleteAsync("Users", id, None));
        Assert.False(await client.DeleteAsync("Users", id, None));
        Assert.Null(await client.GetAsync("Users", id, null, None));

        Assert.Contains(log.Entries, e => e.Method == HttpMethod.Patch);
        Assert.Equal(0, client.Stats.Retries);
        Assert.Equal(1, client.Stats.Failures); // the stale If-Match
    }

    [Fact]
    public async Task A_group_patch_answered_204_returns_null()
    {
        using var client = target.Server.Client();
        var user = await client.CreateAsync("Users", Resources.User(Resources.Unique("member")), None);
        var group = await client.CreateAsync("Groups", Resources.Group(Resources.Unique("group")), None);

        var result = await client.PatchAsync("Groups", Resources.Id(group),
            [Resources.Op("add", "members", new JsonArray(new JsonObject { ["value"] = Resources.Id(user) }))], null, None);

        Assert.Null(result);
        var members = (await client.GetAsync("Groups", Resources.Id(group), null, None))!["members"]!.AsArray();
        Assert.Equal(Resources.Id(user), members.Single()!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_400_is_not_retried_and_carries_status_scimType_and_detail()
    {
        var log = new RequestLog();
        using var client = target.Server.Client(log: log);

        var e = await Assert.ThrowsAsync<ScimClientException>(async () =>
        {
            await foreach (var _ in client.ListAsync("Users", new ListOptions { Filter = "userName zz \"x\"" }, None)) { }
        });

        Assert.Equal(400, e.Status);
        Assert.Equal("invalidFilter", e.ScimType);
        Assert.False(string.IsNullOrEmpty(e.Detail));
        Assert.Contains("invalidFilter", e.Message);
        Assert.Single(log.Entries, x => x.Uri.AbsolutePath.EndsWith("/Users", StringComparison.Ordinal));
        Assert.Equal(0, client.Stats.Retries);
        Assert.Equal(1, client.Stats.Failures);
    }

    [Fact]
    public async Task A_duplicate_create_is_409_uniqueness()
    {
        using var client = target.Server.Client();
        var userName = Resources.Unique("dup");
        await client.CreateAsync("Users", Resources.User(userName), None);

        var e = await Assert.ThrowsAsync<ScimClientException>(() => client.CreateAsync("Users", Resources.User(userName), None));

        Assert.Equal(409, e.Status);
        Assert.Equal("uniqueness", e.ScimType);
    }

    [Fact]
    public async Task UsePutForUpdates_never_sends_PATCH_and_keeps_what_the_patch_does_not_touch()
    {
        var log = new RequestLog();
        using var client = target.Server.Client(o => o with { UsePutForUpdates = true }, log);
        Assert.False((await client.GetCapabilitiesAsync(None)).Patch);
        var created = await client.CreateAsync("Users", Resources.User(Resources.Unique("put")), None);
        var id = Resources.Id(created);

        var patched = await client.PatchAsync("Users", id,
        [
            Resources.Op("replace", "title", JsonValue.Create("Engineer")),
            Resources.Op("add", Resources.Enterprise + ":department", JsonValue.Create("R&D")),
            Resources.Op("remove", "name.familyName"),
        ], null, None);

        Assert.Equal("Engineer", patched!["title"]!.GetValue<string>());
        Assert.Equal("R&D", patched[Resources.Enterprise]!["department"]!.GetValue<string>());
        Assert.Null(patched["name"]!["familyName"]);
        Assert.Equal("Ada", patched["name"]!["givenName"]!.GetValue<string>());
        Assert.Single(patched["emails"]!.AsArray());
        Assert.DoesNotContain(log.Entries, e => e.Method == HttpMethod.Patch);
        Assert.Equal(1, log.Entries.Count(e => e.Method == HttpMethod.Put));

        // A patch that changes nothing needs no write at all.
        var same = await client.PatchAsync("Users", id, [Resources.Op("replace", "title", JsonValue.Create("Engineer"))], null, None);
        Assert.Equal("Engineer", same!["title"]!.GetValue<string>());
        Assert.Equal(1, log.Entries.Count(e => e.Method == HttpMethod.Put));

        // The caller's If-Match still guards the emulated patch.
        var stale = await Assert.ThrowsAsync<ScimClientException>(() =>
            client.PatchAsync("Users", id, [Resources.Op("replace", "title", JsonValue.Create("Boss"))], Resources.Version(created), None));
        Assert.Equal(412, stale.Status);

        // An invalid operation fails locally, as the service provider would have answered.
        var invalid = await Assert.ThrowsAsync<ScimClientException>(() =>
            client.PatchAsync("Users", id, [Resources.Op("replace", "nosuchattribute", JsonValue.Create(1))], null, None));
        Assert.Equal(400, invalid.Status);
        Assert.NotNull(invalid.ScimType);
    }

    [Fact]
    public async Task Feed_paths_starting_with_a_slash_are_relative_to_the_origin()
    {
        using var client = target.Server.Client();
        var subscription = await client.PostJsonAsync("/feeds/v1/subscriptions",
            new JsonObject { ["name"] = Resources.Unique("sub"), ["audience"] = "https://receiver.test" }, None);
        var id = subscription["id"]!.GetValue<string>();

        var read = await client.GetJsonAsync($"/feeds/v1/subscriptions/{id}", None);
        Assert.Equal(id, read!["id"]!.GetValue<string>());
        var poll = await client.PostJsonAsync($"/feeds/v1/subscriptions/{id}/poll", new JsonObject { ["returnImmediately"] = true }, None);
        Assert.NotNull(poll["sets"]);
        Assert.Null(await client.GetJsonAsync("/feeds/v1/subscriptions/no-such-subscription", None));

        // Relative to the SCIM root without the slash.
        var spc = await client.GetJsonAsync("ServiceProviderConfig", None);
        Assert.NotNull(spc!["pagination"]);
        // Credentials never leave for another origin.
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetJsonAsync("http://elsewhere.invalid/scim/v2/Users", None));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetJsonAsync("//elsewhere.invalid/scim/v2/Users", None));
    }
}

/// <summary>A target that answers PATCH with 501 and says so: the client switches to PUT by itself.</summary>
public sealed class NoPatchTargetTests(NoPatchTarget target) : IClassFixture<NoPatchTarget>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Patches_become_PUTs_when_the_target_does_not_advertise_PATCH()
    {
        var log = new RequestLog();
        using var client = target.Server.Client(log: log);
        Assert.False((await client.GetCapabilitiesAsync(None)).Patch);
        var user = await client.CreateAsync("Users", Resources.User(Resources.Unique("nopatch")), None);
        var group = await client.CreateAsync("Groups", Resources.Group(Resources.Unique("nopatch-group")), None);

        var patchedUser = await client.PatchAsync("Users", Resources.Id(user), [Resources.Op("replace", "active", JsonValue.Create(false))], null, None);
        var patchedGroup = await client.PatchAsync("Groups", Resources.Id(group),
            [Resources.Op("add", "members", new JsonArray(new JsonObject { ["value"] = Resources.Id(user) }))], null, None);

        Assert.False(patchedUser!["active"]!.GetValue<bool>());
        Assert.Equal(Resources.Id(user), patchedGroup!["members"]!.AsArray().Single()!["value"]!.GetValue<string>());
        Assert.DoesNotContain(log.Entries, e => e.Method == HttpMethod.Patch);
        Assert.Equal(0, client.Stats.Failures);
    }
}
