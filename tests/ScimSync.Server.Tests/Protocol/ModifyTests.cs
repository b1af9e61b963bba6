using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>RFC 7644 §3.5 (PUT, PATCH), §3.6 (DELETE) and §3.14 (ETags) over HTTP.</summary>
public sealed class ModifyTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    [Fact]
    public async Task Put_replaces_and_clears_omitted_attributes()
    {
        var name = Unique("put");
        var id = await _c.CreateUserAsync(name, u => { u["nickName"] = "Babs"; u["title"] = "Boss"; });
        var r = await _c.PutAsync($"Users/{id}", User(name, u => { u["nickName"] = null; u["id"] = "ignored"; u["meta"] = new JsonObject { ["created"] = "2000-01-01T00:00:00Z" }; }));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Null(r.Json["nickName"]);
        Assert.Null(r.Json["title"]);
        Assert.Equal(id, r.Json["id"]!.GetValue<string>());
        Assert.NotEqual("2000-01-01T00:00:00Z", r.Json["meta"]!["created"]!.GetValue<string>());
    }

    [Fact]
    public async Task Put_never_creates()
    {
        AssertError(await _c.PutAsync("Users/no-such-id", User(Unique("ghost"))), HttpStatusCode.NotFound, null);
    }

    [Fact]
    public async Task Put_without_change_keeps_the_etag_and_a_change_moves_it()
    {
        var name = Unique("noop");
        var id = await _c.CreateUserAsync(name, u => u["title"] = "x");
        var before = (await _c.GetScimAsync($"Users/{id}")).ETag;
        var same = await _c.PutAsync($"Users/{id}", User(name, u => u["title"] = "x"));
        Assert.Equal(before, same.ETag);
        var changed = await _c.PutAsync($"Users/{id}", User(name, u => u["title"] = "y"));
        Assert.NotEqual(before, changed.ETag);
    }

    [Fact]
    public async Task Stale_if_match_is_412_and_changes_nothing()
    {
        var name = Unique("412");
        var id = await _c.CreateUserAsync(name);
        var v1 = (await _c.GetScimAsync($"Users/{id}")).ETag!;
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "new")));
        var put = await _c.SendAsync(HttpMethod.Put, $"Users/{id}", User(name, u => u["title"] = "stale"), m => m.Headers.TryAddWithoutValidation("If-Match", v1));
        AssertError(put, HttpStatusCode.PreconditionFailed, null);
        var patch = await _c.SendAsync(HttpMethod.Patch, $"Users/{id}", Patch(Op("replace", "title", "stale")), m => m.Headers.TryAddWithoutValidation("If-Match", v1));
        AssertError(patch, HttpStatusCode.PreconditionFailed, null);
        var del = await _c.SendAsync(HttpMethod.Delete, $"Users/{id}", configure: m => m.Headers.TryAddWithoutValidation("If-Match", v1));
        AssertError(del, HttpStatusCode.PreconditionFailed, null);
        Assert.Equal("new", (await _c.GetScimAsync($"Users/{id}")).Json["title"]!.GetValue<string>());
        var current = (await _c.GetScimAsync($"Users/{id}")).ETag!;
        var ok = await _c.SendAsync(HttpMethod.Patch, $"Users/{id}", Patch(Op("replace", "title", "fresh")), m => m.Headers.TryAddWithoutValidation("If-Match", current));
        Assert.Equal(HttpStatusCode.OK, ok.Status);
    }

    [Fact]
    public async Task Patch_is_atomic()
    {
        var id = await _c.CreateUserAsync(Unique("atomic"), u => u["displayName"] = "Before");
        var r = await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "displayName", "After"), Op("remove", "userName")));
        AssertError(r, HttpStatusCode.BadRequest, "mutability");
        Assert.Equal("Before", (await _c.GetScimAsync($"Users/{id}")).Json["displayName"]!.GetValue<string>());
    }

    [Fact]
    public async Task Patch_noop_add_keeps_etag_and_lastModified()
    {
        var uid = await _c.CreateUserAsync(Unique("m"));
        var gid = await _c.CreateGroupAsync(Unique("noopgrp"), uid);
        var before = await _c.GetScimAsync($"Groups/{gid}");
        var r = await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = uid }))));
        Assert.Equal(before.ETag, r.ETag);
        var after = await _c.GetScimAsync($"Groups/{gid}");
        Assert.Equal(before.Json["meta"]!["lastModified"]!.ToJsonString(), after.Json["meta"]!["lastModified"]!.ToJsonString());
    }

    [Fact]
    public async Task Patch_membership_adds_and_removes_single_members()
    {
        var a = await _c.CreateUserAsync(Unique("a"));
        var b = await _c.CreateUserAsync(Unique("b"));
        var gid = await _c.CreateGroupAsync(Unique("grp"), a);
        var add = await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = b }))));
        Assert.Equal(HttpStatusCode.NoContent, add.Status);
        Assert.NotNull(add.ETag);
        var members = (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()).ToHashSet();
        Assert.Equal([a, b], members.Order().ToArray() is var s ? new[] { a, b }.Order().ToArray() : s);
        var remove = await _c.PatchAsync($"Groups/{gid}", Patch(Op("remove", $"members[value eq \"{a}\"]")));
        Assert.Equal(HttpStatusCode.NoContent, remove.Status);
        var left = (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()).ToArray();
        Assert.Equal([b], left);
        var withAttrs = await _c.PatchAsync($"Groups/{gid}?attributes=displayName", Patch(Op("replace", "displayName", "renamed")));
        Assert.Equal(HttpStatusCode.OK, withAttrs.Status);
        Assert.Equal("renamed", withAttrs.Json["displayName"]!.GetValue<string>());
        Assert.Null(withAttrs.Json["members"]);
    }

    [Fact]
    public async Task Patch_without_a_path_by_the_qualified_members_name_changes_the_members()
    {
        // The member planner knew the key "members" only: the qualified one went to the patch engine, which wrote
        // the member into the group's stored document beside its member rows, and the next row-by-row change
        // made the group render "members" twice.
        var a = await _c.CreateUserAsync(Unique("q1"));
        var gid = await _c.CreateGroupAsync(Unique("qgrp"));
        var members = new JsonObject { ["urn:ietf:params:scim:schemas:core:2.0:Group:members"] = new JsonArray(new JsonObject { ["value"] = a }) };
        Assert.Equal(HttpStatusCode.NoContent, (await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", null, members)))).Status);
        Assert.Equal([a], (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));
        var b = await _c.CreateUserAsync(Unique("q2"));
        await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = b }))));
        Assert.Equal(new[] { a, b }.Order(), (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()).Order());
        await _c.PatchAsync($"Groups/{gid}", Patch(Op("remove", $"members[value eq \"{a}\"]")));
        Assert.Equal([b], (await _c.GetScimAsync($"Groups/{gid}")).Json["members"]!.AsArray().Select(m => m!["value"]!.GetValue<string>()));
        var found = await _c.GetScimAsync($"Groups?filter=" + Uri.EscapeDataString($"members.value eq \"{a}\" and id eq \"{gid}\""));
        Assert.Equal(0, found.Json["totalResults"]!.GetValue<int>());
    }

    [Fact]
    public async Task Patch_on_membership_with_a_display_filter_still_works()
    {
        var a = await _c.CreateUserAsync(Unique("d1"));
        var gid = await _c.CreateGroupAsync(Unique("dgrp"));
        await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = a, ["display"] = "Ann" }))));
        var r = await _c.PatchAsync($"Groups/{gid}", Patch(Op("remove", "members[display eq \"Ann\"]")));
        Assert.Equal(HttpStatusCode.NoContent, r.Status);
        Assert.Null((await _c.GetScimAsync($"Groups/{gid}")).Json["members"]);
    }

    [Fact]
    public async Task Patch_on_read_only_groups_of_user_is_mutability()
    {
        var id = await _c.CreateUserAsync(Unique("ro"));
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("add", "groups", new JsonArray(new JsonObject { ["value"] = "g" })))), HttpStatusCode.BadRequest, "mutability");
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "id", "other"))), HttpStatusCode.BadRequest, "mutability");
    }

    [Fact]
    public async Task A_member_filter_that_matches_nothing_is_noTarget_for_replace_and_harmless_for_remove()
    {
        var uid = await _c.CreateUserAsync(Unique("nt"));
        var gid = await _c.CreateGroupAsync(Unique("ntg"), uid);
        var etag = (await _c.GetScimAsync($"Groups/{gid}")).ETag;
        // RFC 7644 §3.5.2.3: a replace whose value filter matches nothing is 400 noTarget.
        AssertError(await _c.PatchAsync($"Groups/{gid}", Patch(Op("replace", "members[value eq \"nope\"].display", "x"))), HttpStatusCode.BadRequest, "noTarget");
        AssertError(await _c.PatchAsync($"Groups/{gid}", Patch(Op("replace", "members[value eq \"nope\"]", new JsonObject { ["display"] = "x" }))), HttpStatusCode.BadRequest, "noTarget");
        AssertError(await _c.PatchAsync($"Users/{uid}", Patch(Op("replace", "emails[value eq \"nope@example.com\"].type", "work"))), HttpStatusCode.BadRequest, "noTarget");
        // §3.5.2.2 gives remove no such error: removing a member that is already gone stays a no-op, so
        // retried removals (Okta, the sync engine) are harmless.
        Assert.Equal(HttpStatusCode.NoContent, (await _c.PatchAsync($"Groups/{gid}", Patch(Op("remove", "members[value eq \"nope\"]")))).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.PatchAsync($"Groups/{gid}", Patch(Op("remove", "members[display eq \"nope\"]")))).Status);
        Assert.Equal(etag, (await _c.GetScimAsync($"Groups/{gid}")).ETag);
    }

    [Theory]
    [InlineData("""{"Operations":[{"op":"add","path":"title","value":"x"}]}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"frobnicate","path":"title"}]}""", "invalidSyntax")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove"}]}""", "noTarget")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\" and value co \"x\"]","value":{"value":"a@b"}}]}""", "noTarget")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[type eq","value":"x"}]}""", null)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"nosuchattr","value":"x"}]}""", "invalidPath")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"active","value":"perhaps"}]}""", "invalidValue")]
    public async Task Bad_patches_are_clear_400s(string body, string? scimType)
    {
        var id = await _c.CreateUserAsync(Unique("badpatch"));
        var r = await _c.PatchAsync($"Users/{id}", body);
        AssertError(r, HttpStatusCode.BadRequest, scimType);
        if (scimType is null) Assert.Contains(r.ScimType, new[] { "invalidPath", "invalidFilter" });
    }

    [Fact]
    public async Task Delete_then_everything_is_404_and_groups_lose_the_member()
    {
        var uid = await _c.CreateUserAsync(Unique("gone"));
        var gid = await _c.CreateGroupAsync(Unique("keeps"), uid);
        var groupEtag = (await _c.GetScimAsync($"Groups/{gid}")).ETag;
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Users/{uid}")).Status);
        AssertError(await _c.GetScimAsync($"Users/{uid}"), HttpStatusCode.NotFound, null);
        AssertError(await _c.DeleteScimAsync($"Users/{uid}"), HttpStatusCode.NotFound, null);
        AssertError(await _c.PatchAsync($"Users/{uid}", Patch(Op("replace", "title", "x"))), HttpStatusCode.NotFound, null);
        var g = await _c.GetScimAsync($"Groups/{gid}");
        Assert.Null(g.Json["members"]);
        Assert.NotEqual(groupEtag, g.ETag);
    }

    [Fact]
    public async Task Password_survives_a_put_that_omits_it()
    {
        var name = Unique("pwput");
        var id = await _c.CreateUserAsync(name, u => u["password"] = "first-Secret1");
        var store = (ScimSync.Store.IResourceStore)server.Services.GetService(typeof(ScimSync.Store.IResourceStore))!;
        var registry = (ScimSync.Protocol.Schemas.SchemaRegistry)server.Services.GetService(typeof(ScimSync.Protocol.Schemas.SchemaRegistry))!;
        var hash1 = (await store.FindAsync(registry.User, id, ScimSync.Store.Resources.LoadOptions.None, default))!.PasswordHash;
        await _c.PutAsync($"Users/{id}", User(name, u => u["title"] = "t"));
        var hash2 = (await store.FindAsync(registry.User, id, ScimSync.Store.Resources.LoadOptions.None, default))!.PasswordHash;
        Assert.NotNull(hash1);
        Assert.Equal(hash1, hash2);
        Assert.True(ScimSync.Server.Security.PasswordHasher.Verify("first-Secret1", hash2!));
        Assert.DoesNotContain("first-Secret1", hash2);
    }
}
