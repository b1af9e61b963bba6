using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Events;
using ScimSync.Server.Security;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// Who changed what: the journal records the name of the credential behind each change, and SETs name it only to a
/// subscription that asks, polled with the admin scope (docs/journal.md, "Writers").
/// </summary>
public sealed class WriterTests(FeedServerFixture server) : IClassFixture<FeedServerFixture>
{
    private readonly HttpClient _admin = server.Client;

    private async Task<(HttpClient Client, string Name)> WriterAsync()
    {
        var tokens = server.Services.GetRequiredService<TokenService>();
        var name = Unique("hr-portal");
        var (secret, _) = await tokens.CreateAsync(name, [Scopes.Read, Scopes.Write], null, null, default);
        return (server.CreateClient(secret), name);
    }

    private async Task<JsonObject> SubscribeAsync(JsonObject config)
    {
        config["name"] = Unique("sub");
        config["audience"] = "https://receiver.test";
        config["payload"] = "full";
        config["resourceTypes"] = new JsonArray("User");
        var r = await _admin.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", config);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json;
    }

    /// <summary>The SETs of <paramref name="id"/> polled with <paramref name="client"/> until one is about <paramref name="userId"/>.</summary>
    private static async Task<JsonObject> ReceiveAsync(HttpClient client, string subscription, string userId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            var r = await client.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{subscription}/poll", new JsonObject { ["maxEvents"] = 100, ["returnImmediately"] = false });
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            foreach (var (_, token) in r.Json["sets"]!.AsObject())
            {
                var claims = SetToken.Claims(token!.GetValue<string>());
                if (claims["sub_id"]!["id"]!.GetValue<string>() == userId) return claims;
            }
        }
        throw new TimeoutException($"no SET about {userId}");
    }

    [Fact]
    public async Task The_journal_records_the_name_of_the_credential_behind_each_change()
    {
        var (hr, name) = await WriterAsync();
        var id = await hr.CreateUserAsync(Unique("grace"));
        Assert.Equal(HttpStatusCode.OK, (await _admin.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "Rear Admiral")))).Status);

        // A list waits, as every list does, until the writes acknowledged before it are readable: on PostgreSQL a
        // journal entry is readable only once every transaction that began before it has ended, anywhere in the
        // cluster (docs/postgres.md), and the per-resource read below, made for fan-out up to a known position,
        // does not wait itself.
        Assert.Equal(HttpStatusCode.OK, (await _admin.GetScimAsync($"Users?filter=id eq \"{id}\"")).Status);
        var store = server.Services.GetRequiredService<IResourceStore>();
        var entries = await store.ReadResourceJournalAsync(id, 0, long.MaxValue, 10, default);
        // A token is known by its name; the environment's admin token, which has none, as "admin".
        Assert.Equal([name, "admin"], entries.Select(e => e.Change.Writer));
    }

    [Fact]
    public async Task Only_a_subscription_that_asks_and_polls_with_the_admin_scope_receives_the_writer()
    {
        var named = await SubscribeAsync(new JsonObject { ["writer"] = true, ["journalPosition"] = true });
        var plain = await SubscribeAsync(new JsonObject());
        var (hr, name) = await WriterAsync();
        var id = await hr.CreateUserAsync(Unique("grace"));

        var withWriter = await ReceiveAsync(_admin, named["id"]!.GetValue<string>(), id);
        Assert.Equal(name, withWriter[SetEncoder.WriterClaim]!.GetValue<string>());
        Assert.True(withWriter[SetEncoder.JournalPositionClaim]!.GetValue<long>() > 0);
        // The time of the change (RFC 8417 toe), in seconds, close to now.
        Assert.InRange(withWriter["toe"]!.GetValue<double>(), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);

        // A subscription that did not ask gets no writer, even when an admin polls it; its own poll token gets none either.
        using var plainPoller = server.CreateClient(plain["pollToken"]!.GetValue<string>());
        var withoutWriter = await ReceiveAsync(plainPoller, plain["id"]!.GetValue<string>(), id);
        Assert.Null(withoutWriter[SetEncoder.WriterClaim]);
        Assert.DoesNotContain(name, withoutWriter.ToJsonString(), StringComparison.Ordinal);

        // The poll token of a subscription that names writers is not an admin credential: refused, whatever is queued.
        using var namedPoller = server.CreateClient(named["pollToken"]!.GetValue<string>());
        AssertError(await namedPoller.SendAsync(HttpMethod.Post, $"/feeds/v1/subscriptions/{named["id"]}/poll", new JsonObject { ["returnImmediately"] = true }), HttpStatusCode.Forbidden, null);

        // Push has no credential to show: a subscription naming writers is poll only, at creation and on change.
        AssertError(await _admin.SendAsync(HttpMethod.Post, "/feeds/v1/subscriptions", new JsonObject
        {
            ["name"] = Unique("push"), ["audience"] = "a", ["delivery"] = "push", ["pushUrl"] = "http://127.0.0.1:9/events", ["writer"] = true,
        }), HttpStatusCode.BadRequest, "invalidValue");
        AssertError(await _admin.SendAsync(HttpMethod.Patch, $"/feeds/v1/subscriptions/{plain["id"]}", new JsonObject
        {
            ["delivery"] = "push", ["pushUrl"] = "http://127.0.0.1:9/events", ["writer"] = true,
        }), HttpStatusCode.BadRequest, "invalidValue");
    }
}
