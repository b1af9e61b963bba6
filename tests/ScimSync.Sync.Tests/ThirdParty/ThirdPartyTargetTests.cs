using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ScimSync.Sync.Tests.ThirdParty;

/// <summary>
/// The third-party targets really behave like the servers they stand for (so end-to-end tests against
/// them prove something), and their outage controls work. Raw HTTP only: no ScimSync code is involved.
/// </summary>
[Collection("ThirdParty")]
public sealed partial class ThirdPartyTargetTests
{
    private const int Users = 120;

    private static JsonObject NewUser(int i) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
        ["userName"] = $"person{i}@example.com",
        ["externalId"] = $"hr-{i}",
        ["active"] = true,
        ["name"] = new JsonObject { ["givenName"] = "Person", ["familyName"] = $"Number{i}" },
        ["emails"] = new JsonArray(new JsonObject { ["value"] = $"person{i}@example.com", ["type"] = "work" }),
    };

    /// <summary>Creates the users with raw POSTs, checking each create's headers, and returns their ids in order.</summary>
    private static async Task<List<string>> CreateUsersAsync(ThirdPartyTarget target, int count = Users)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            using var response = await target.SendRawAsync(HttpMethod.Post, "Users", NewUser(i));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{target.Name}: POST answered {(int)response.StatusCode}: {text}");
            // Neither server says where the resource is, nor versions it.
            Assert.Null(response.Headers.Location);
            Assert.Null(response.Headers.ETag);
            var body = JsonNode.Parse(text)!;
            Assert.Null(body["meta"]?["version"]);
            ids.Add(body["id"]!.GetValue<string>());
        }
        return ids;
    }

    private static string Filter(string expression) => Uri.EscapeDataString(expression);

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex HexId();

    [Fact]
    public async Task Quirk_target_pages_ids_put_patch_and_filters_like_the_servers_it_imitates()
    {
        await using var t = await ThirdPartyTarget.StartQuirkAsync("quirk");
        var ids = await CreateUsersAsync(t);
        Assert.All(ids, id => Assert.Matches(HexId(), id));

        // Pages are capped at 50 whatever count asks, and totalResults counts the page, not the result set.
        var (status, page) = await t.GetAsync("Users?count=100");
        Assert.Equal(200, status);
        Assert.Equal(50, page!["Resources"]!.AsArray().Count);
        Assert.Equal(50, page["totalResults"]!.GetValue<int>());
        (_, page) = await t.GetAsync("Users?startIndex=101&count=100");
        Assert.Equal(20, page!["Resources"]!.AsArray().Count);
        Assert.Equal(20, page["totalResults"]!.GetValue<int>());
        Assert.Equal(ids[100], page["Resources"]![0]!["id"]!.GetValue<string>());

        // Index paging in creation order still reaches everyone, for a client that reads until an empty page.
        var seen = new List<string>();
        for (var start = 1; ; )
        {
            (_, page) = await t.GetAsync($"Users?startIndex={start}&count=100");
            var resources = page!["Resources"]!.AsArray();
            if (resources.Count == 0) break;
            seen.AddRange(resources.Select(r => r!["id"]!.GetValue<string>()));
            start += resources.Count;
        }
        Assert.Equal(ids, seen);

        // PUT merges: what the body leaves out is kept.
        var (putStatus, put) = await t.PutAsync($"Users/{ids[0]}", new JsonObject { ["userName"] = "person0@example.com", ["title"] = "Clerk" });
        Assert.Equal(200, putStatus);
        Assert.Equal("Clerk", put!["title"]!.GetValue<string>());
        Assert.Equal("hr-0", put["externalId"]!.GetValue<string>());
        Assert.Equal("person0@example.com", put["emails"]![0]!["value"]!.GetValue<string>());

        // PATCH answers 204 with nothing in it.
        using (var patch = await t.SendRawAsync(HttpMethod.Patch, $"Users/{ids[1]}", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
            ["Operations"] = new JsonArray(new JsonObject { ["op"] = "Replace", ["path"] = "active", ["value"] = false }),
        }))
        {
            Assert.Equal(HttpStatusCode.NoContent, patch.StatusCode);
            Assert.Empty(await patch.Content.ReadAsByteArrayAsync());
        }
        using (var get = await t.SendRawAsync(HttpMethod.Get, $"Users/{ids[1]}", null))
        {
            Assert.Null(get.Headers.ETag);
            Assert.False(JsonNode.Parse(await get.Content.ReadAsStringAsync())!["active"]!.GetValue<bool>());
        }

        // userName eq compares case-sensitively; anything but eq is refused.
        var (_, exact) = await t.GetAsync($"Users?filter={Filter("userName eq \"person7@example.com\"")}");
        Assert.Equal(ids[7], exact!["Resources"]![0]!["id"]!.GetValue<string>());
        var (_, other) = await t.GetAsync($"Users?filter={Filter("userName eq \"Person7@Example.com\"")}");
        Assert.Empty(other!["Resources"]!.AsArray());
        var (swStatus, sw) = await t.GetAsync($"Users?filter={Filter("userName sw \"person\"")}");
        Assert.Equal(400, swStatus);
        Assert.Equal("invalidFilter", sw!["scimType"]!.GetValue<string>());

        // userName is unique (without case); a deleted user stays in its groups.
        var (dupStatus, dup) = await t.PostAsync("Users", NewUser(3).Also(u => u["userName"] = "PERSON3@example.com"));
        Assert.Equal(409, dupStatus);
        Assert.Equal("uniqueness", dup!["scimType"]!.GetValue<string>());
        var (_, group) = await t.PostAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Staff",
            ["members"] = new JsonArray(new JsonObject { ["value"] = ids[2] }, new JsonObject { ["value"] = ids[3] }),
        });
        Assert.Equal(204, (await t.DeleteAsync($"Users/{ids[3]}")).Status);
        var stored = Assert.Single(await t.StoredGroupsAsync());
        Assert.Equal(group!["id"]!.GetValue<string>(), stored["id"]!.GetValue<string>());
        Assert.Equal([ids[2], ids[3]], stored["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));
        Assert.Equal(Users - 1, (await t.StoredUsersAsync()).Count);

        var (_, config) = await t.GetAsync("ServiceProviderConfig");
        Assert.False(config!["etag"]!["supported"]!.GetValue<bool>());
        Assert.False(config["bulk"]!["supported"]!.GetValue<bool>());
        Assert.Equal(50, config["filter"]!["maxResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Scimmy_keeps_its_native_behaviour()
    {
        await using var t = await ThirdPartyTarget.StartScimmyAsync("scimmy");
        var ids = await CreateUsersAsync(t);

        // Without count SCIMMY answers a small page (20 in 1.3.5), with a true totalResults.
        var (status, page) = await t.GetAsync("Users");
        Assert.Equal(200, status);
        var firstPage = page!["Resources"]!.AsArray().Count;
        Assert.InRange(firstPage, 1, Users - 1);
        Assert.Equal(Users, page["totalResults"]!.GetValue<int>());
        (_, page) = await t.GetAsync("Users?startIndex=101&count=100");
        Assert.Equal(20, page!["Resources"]!.AsArray().Count);
        // A startIndex past the end does not give an empty page: SCIMMY starts again from the first resource.
        (_, page) = await t.GetAsync($"Users?startIndex={Users + 10}&count=5");
        Assert.Equal(ids[0], page!["Resources"]![0]!["id"]!.GetValue<string>());

        using (var get = await t.SendRawAsync(HttpMethod.Get, $"Users/{ids[0]}", null))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Null(get.Headers.ETag);
        }

        // Filters compare values case-sensitively (RFC 7643 says userName must not).
        var (_, exact) = await t.GetAsync($"Users?filter={Filter("userName eq \"person7@example.com\"")}");
        Assert.Equal(ids[7], exact!["Resources"]![0]!["id"]!.GetValue<string>());
        var (_, other) = await t.GetAsync($"Users?filter={Filter("userName eq \"Person7@Example.com\"")}");
        Assert.Equal(0, other!["totalResults"]!.GetValue<int>());

        // PATCH goes through egress and ingress: 200 with the resource when something changed.
        var (patchStatus, patched) = await t.PatchAsync($"Users/{ids[1]}", new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false });
        Assert.Equal(200, patchStatus);
        Assert.False(patched!["active"]!.GetValue<bool>());
        var (_, titled) = await t.PatchAsync($"Users/{ids[1]}", new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "x" });
        Assert.Equal("x", titled!["title"]!.GetValue<string>());
        var storedUser = (await t.StoredUsersAsync()).Single(u => u["id"]!.GetValue<string>() == ids[1]);
        Assert.False(storedUser["active"]!.GetValue<bool>());
        Assert.Equal("hr-1", storedUser["externalId"]!.GetValue<string>());

        // Group members through PATCH, checked in the application's own storage.
        var (groupStatus, group) = await t.PostAsync("Groups", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
            ["displayName"] = "Staff",
            ["members"] = new JsonArray(new JsonObject { ["value"] = ids[2] }),
        });
        Assert.Equal(201, groupStatus);
        var gid = group!["id"]!.GetValue<string>();
        var (addStatus, _) = await t.PatchAsync($"Groups/{gid}", new JsonObject
        {
            ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = ids[3] }),
        });
        Assert.Equal(200, addStatus);
        var (removeStatus, _) = await t.PatchAsync($"Groups/{gid}", new JsonObject { ["op"] = "remove", ["path"] = $"members[value eq \"{ids[2]}\"]" });
        Assert.Equal(200, removeStatus);
        var storedGroup = Assert.Single(await t.StoredGroupsAsync());
        Assert.Equal([ids[3]], storedGroup["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));

        var (dupStatus, dup) = await t.PostAsync("Users", NewUser(5));
        Assert.Equal(409, dupStatus);
        Assert.Equal("uniqueness", dup!["scimType"]!.GetValue<string>());
        Assert.Equal(Users, (await t.StoredUsersAsync()).Count);
    }

    [Theory]
    [InlineData("scimmy")]
    [InlineData("quirk")]
    public async Task Down_refuses_connections_and_up_brings_back_the_same_data(string kind)
    {
        await using var t = kind == "scimmy" ? await ThirdPartyTarget.StartScimmyAsync("outage-scimmy") : await ThirdPartyTarget.StartQuirkAsync("outage-quirk");
        var id = (await CreateUsersAsync(t, 1)).Single();
        // A pooled keep-alive connection exists now; the outage must cut it too.
        Assert.Equal(200, (await t.GetAsync($"Users/{id}")).Status);

        await t.DownAsync();
        using (var client = new TcpClient())
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, t.Port));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
        await Assert.ThrowsAsync<HttpRequestException>(() => t.GetAsync($"Users/{id}"));

        await t.UpAsync();
        using (var client = new TcpClient())
            await client.ConnectAsync(IPAddress.Loopback, t.Port);
        var (status, user) = await t.GetAsync($"Users/{id}");
        Assert.Equal(200, status);
        Assert.Equal("person0@example.com", user!["userName"]!.GetValue<string>());
        Assert.Single(await t.StoredUsersAsync());

        // And again: the controls are repeatable.
        await t.DownAsync();
        await t.UpAsync();
        Assert.Equal(200, (await t.GetAsync($"Users/{id}")).Status);
    }
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject o, Action<JsonObject> change)
    {
        change(o);
        return o;
    }
}
