using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>
/// Nested groups (RFC 7643 §4.1.2, §4.2): a group's members may be groups; User.groups lists the groups a user is
/// in directly ("direct") and those reached through nesting ("indirect"), each once, direct winning; filters on
/// groups see the same list; a cycle of groups is allowed and read finitely; a group in itself is refused.
/// Runs on SQLite and, in CI, again on PostgreSQL (a .Protocol. namespace).
/// </summary>
public sealed class NestedGroupTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    private static string Q(string filter) => Uri.EscapeDataString(filter);

    /// <summary>The user's groups as id → type, asserting that no group appears twice.</summary>
    private async Task<Dictionary<string, string>> GroupsOf(string userId)
    {
        var r = await _c.GetScimAsync($"Users/{userId}");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return ToMap(r.Json);
    }

    private static Dictionary<string, string> ToMap(JsonObject user)
    {
        var groups = user["groups"]?.AsArray() ?? [];
        var map = new Dictionary<string, string>();
        foreach (var g in groups)
            Assert.True(map.TryAdd(g!["value"]!.GetValue<string>(), g["type"]!.GetValue<string>()), $"group listed twice: {user.ToJsonString()}");
        return map;
    }

    private async Task<string[]> UserIds(string filter)
    {
        var r = await _c.GetScimAsync($"Users?filter={Q(filter)}&count=100");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return r.Json["Resources"]?.AsArray().Select(x => x!["id"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToArray() ?? [];
    }

    private async Task AddMemberAsync(string groupId, string memberId)
    {
        var r = await _c.PatchAsync($"Groups/{groupId}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = memberId }))));
        Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.NoContent, r.ToString());
    }

    private static string[] Sorted(params string[] ids) => ids.Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task Three_levels_show_the_direct_group_and_the_two_above_it_as_indirect()
    {
        var p = Unique("lvl");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A", u);
        var b = await _c.CreateGroupAsync(p + "-B", a);
        var c = await _c.CreateGroupAsync(p + "-C", b);
        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "indirect", [c] = "indirect" }, await GroupsOf(u));

        var r = await _c.GetScimAsync($"Users/{u}");
        var cEntry = r.Json["groups"]!.AsArray().Single(g => g!["value"]!.GetValue<string>() == c)!;
        Assert.Equal(p + "-C", cEntry["display"]!.GetValue<string>());
        Assert.EndsWith($"/Groups/{c}", cEntry["$ref"]!.GetValue<string>());

        // A group's members are not expanded: C lists B only, as a Group.
        var group = await _c.GetScimAsync($"Groups/{c}");
        var members = group.Json["members"]!.AsArray();
        Assert.Equal(b, Assert.Single(members)!["value"]!.GetValue<string>());
        Assert.Equal("Group", members[0]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_list_page_shows_the_same_groups_and_direct_wins_over_indirect()
    {
        var p = Unique("page");
        var u1 = await _c.CreateUserAsync(p + "-1");
        var u2 = await _c.CreateUserAsync(p + "-2");
        var a = await _c.CreateGroupAsync(p + "-A", u1, u2);
        var b = await _c.CreateGroupAsync(p + "-B", a, u2); // u2 is in B directly and through A
        var r = await _c.GetScimAsync($"Users?filter={Q($"userName sw \"{p}\"")}&sortBy=userName");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        var users = r.Json["Resources"]!.AsArray().Select(x => x!.AsObject()).ToArray();
        Assert.Equal(2, users.Length);
        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "indirect" }, ToMap(users[0]));
        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "direct" }, ToMap(users[1]));
        Assert.Equal(ToMap(users[1]), await GroupsOf(u2));
    }

    [Fact]
    public async Task Filters_on_groups_match_indirect_groups_as_shown()
    {
        var p = Unique("flt");
        var u1 = await _c.CreateUserAsync(p + "-1");
        var u2 = await _c.CreateUserAsync(p + "-2");
        var u3 = await _c.CreateUserAsync(p + "-3");
        var a = await _c.CreateGroupAsync(p + "-A", u1);
        var b = await _c.CreateGroupAsync(p + "-B", a, u2);
        var c = await _c.CreateGroupAsync(p + "-C", b);
        var scope = $"userName sw \"{p}\" and ";
        Assert.Equal(Sorted(u1, u2), await UserIds($"groups.value eq \"{c}\""));
        Assert.Equal(Sorted(u1, u2), await UserIds($"groups.value eq \"{b}\""));
        Assert.Equal([u1], await UserIds($"groups.value eq \"{a}\""));
        Assert.Equal(Sorted(u1, u2), await UserIds(scope + $"groups.display eq \"{p}-C\""));
        Assert.Equal(Sorted(u1, u2), await UserIds(scope + "groups.type eq \"indirect\""));
        Assert.Equal([u1], await UserIds(scope + $"groups[value eq \"{b}\" and type eq \"indirect\"]"));
        Assert.Equal([u2], await UserIds(scope + $"groups[value eq \"{b}\" and type eq \"direct\"]"));
        Assert.Equal([u3], await UserIds(scope + "not (groups pr)"));
        _ = c;
    }

    [Fact]
    public async Task A_cycle_of_two_groups_is_allowed_and_read_finitely()
    {
        var p = Unique("cyc");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A", u);
        var b = await _c.CreateGroupAsync(p + "-B", a);
        await AddMemberAsync(a, b); // A in B and B in A

        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "indirect" }, await GroupsOf(u));
        Assert.Equal([u], await UserIds($"groups.value eq \"{b}\""));
        Assert.Equal([u], await UserIds($"groups.value eq \"{a}\""));
        Assert.Equal([u], await UserIds($"userName sw \"{p}\" and groups[display eq \"{p}-B\" and type eq \"indirect\"]"));
        var list = await _c.GetScimAsync($"Users?filter={Q($"userName sw \"{p}\"")}");
        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "indirect" }, ToMap(list.Json["Resources"]![0]!.AsObject()));
    }

    [Fact]
    public async Task Nesting_is_followed_32_links_up_and_no_further()
    {
        var p = Unique("deep");
        var u = await _c.CreateUserAsync(p + "-u");
        // chain[k] is k links above the user's direct group chain[0].
        var chain = new List<string> { await _c.CreateGroupAsync(p + "-0", u) };
        for (var k = 1; k <= 33; k++) chain.Add(await _c.CreateGroupAsync($"{p}-{k}", chain[k - 1]));

        var groups = await GroupsOf(u);
        Assert.Equal(33, groups.Count);
        Assert.Equal("direct", groups[chain[0]]);
        Assert.Equal("indirect", groups[chain[32]]);
        Assert.False(groups.ContainsKey(chain[33]));
        Assert.Equal([u], await UserIds($"groups.value eq \"{chain[32]}\""));
        Assert.Empty(await UserIds($"groups.value eq \"{chain[33]}\""));
        Assert.Empty(await UserIds($"userName eq \"{p}-u\" and groups[value eq \"{chain[33]}\" or display eq \"{p}-33\"]"));
    }

    [Fact]
    public async Task A_group_cannot_be_a_member_of_itself()
    {
        var p = Unique("self");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A", u);
        var before = await _c.GetScimAsync($"Groups/{a}");

        AssertError(await _c.PatchAsync($"Groups/{a}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = a })))),
            HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.PatchAsync($"Groups/{a}", Patch(Op("replace", "members", new JsonArray(new JsonObject { ["value"] = u }, new JsonObject { ["value"] = a })))),
            HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.PutAsync($"Groups/{a}", new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = p + "-A",
            ["members"] = new JsonArray(new JsonObject { ["value"] = a, ["type"] = "Group" }),
        }), HttpStatusCode.BadRequest, "invalidValue");

        var after = await _c.GetScimAsync($"Groups/{a}");
        Assert.Equal(before.ETag, after.ETag);
        Assert.Equal(u, Assert.Single(after.Json["members"]!.AsArray())!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_group_member_must_exist_and_be_a_group_when_typed_so()
    {
        var p = Unique("ref");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A");
        AssertError(await _c.PatchAsync($"Groups/{a}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = p + "-missing", ["type"] = "Group" })))),
            HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _c.PatchAsync($"Groups/{a}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = u, ["type"] = "Group" })))),
            HttpStatusCode.BadRequest, "invalidValue");
    }

    [Fact]
    public async Task Removing_a_link_removes_the_groups_reached_through_it()
    {
        var p = Unique("unlink");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A", u);
        var b = await _c.CreateGroupAsync(p + "-B", a);
        var c = await _c.CreateGroupAsync(p + "-C", b);
        Assert.Equal(3, (await GroupsOf(u)).Count);

        var r = await _c.PatchAsync($"Groups/{c}", Patch(Op("remove", $"members[value eq \"{b}\"]")));
        Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.NoContent, r.ToString());
        Assert.Equal(new Dictionary<string, string> { [a] = "direct", [b] = "indirect" }, await GroupsOf(u));
        Assert.Empty(await UserIds($"groups.value eq \"{c}\""));

        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Groups/{a}")).Status);
        Assert.Empty(await GroupsOf(u));
        Assert.Empty(await UserIds($"groups.value eq \"{b}\""));
    }

    [Fact]
    public async Task Indirect_membership_changes_do_not_change_the_users_version()
    {
        var p = Unique("ver");
        var u = await _c.CreateUserAsync(p + "-u");
        var a = await _c.CreateGroupAsync(p + "-A", u);
        var b = await _c.CreateGroupAsync(p + "-B");
        var before = await _c.GetScimAsync($"Users/{u}");
        await AddMemberAsync(b, a);
        var after = await _c.GetScimAsync($"Users/{u}");
        Assert.Equal("indirect", ToMap(after.Json)[b]);
        // groups is derived and read-only: outside the user's version (docs/compliance.md), as for direct membership.
        Assert.Equal(before.ETag, after.ETag);
        Assert.Equal(before.Json["meta"]!["version"]!.GetValue<string>(), after.Json["meta"]!["version"]!.GetValue<string>());
    }
}
