using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Journal;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Journal;

/// <summary>
/// Every successful write lands in the change journal in the same transaction; failed and no-op writes
/// leave no trace; positions are totally ordered and become visible strictly in order.
/// </summary>
public sealed class ChangeJournalTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;
    private IResourceStore Store => server.Services.GetRequiredService<IResourceStore>();

    private async Task<long> Head() => (await Store.ReadJournalAsync(0, int.MaxValue, default)).LastOrDefault()?.Position ?? 0;

    private async Task<IReadOnlyList<JournalEntry>> After(long position) => await Store.ReadJournalAsync(position, 10_000, default);

    [Fact]
    public async Task Each_kind_of_write_is_journaled_with_its_version_and_changed_attributes()
    {
        var start = await Head();
        var id = await _c.CreateUserAsync(Unique("j"), u => u["title"] = "t1");
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "t2"), Op("add", "name", new JsonObject { ["givenName"] = "G" })));
        await _c.PutAsync($"Users/{id}", User((await _c.GetScimAsync($"Users/{id}")).Json["userName"]!.GetValue<string>(), u => u["nickName"] = "n"));
        var gid = await _c.CreateGroupAsync(Unique("jg"), id);
        await _c.DeleteScimAsync($"Users/{id}");

        var entries = (await After(start)).Where(e => e.Change.ResourceId == id || e.Change.ResourceId == gid).ToList();
        Assert.Equal(
            [JournalOperation.Create, JournalOperation.Patch, JournalOperation.Put, JournalOperation.Create, JournalOperation.Delete, JournalOperation.Patch],
            entries.Select(e => e.Change.Operation));
        Assert.Equal([1L, 2, 3], entries.Take(3).Select(e => e.Change.Version));
        Assert.Equal(["name", "title"], entries[1].Change.Attributes); // schema order
        Assert.Contains("nickName", entries[2].Change.Attributes);
        Assert.Contains("title", entries[2].Change.Attributes);
        Assert.Contains("members", entries[3].Change.Attributes);
        Assert.Equal(gid, entries[5].Change.ResourceId); // the group that lost its member
        Assert.Equal(["members"], entries[5].Change.Attributes);
        Assert.Equal(entries[4].Change.Txn, entries[5].Change.Txn);
        Assert.Equal("admin-env", entries[0].Change.Actor);
        Assert.Contains("\"t2\"", entries[1].Change.Data);
        Assert.Contains("\"replace\"", entries[1].Change.Request);
        Assert.True(entries.Zip(entries.Skip(1)).All(p => p.First.Position < p.Second.Position));
    }

    [Fact]
    public async Task Passwords_never_reach_the_journal()
    {
        var start = await Head();
        var id = await _c.CreateUserAsync(Unique("pwj"), u => u["password"] = "Secret-One-1");
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "password", "Secret-Two-2")));
        await _c.PatchAsync($"Users/{id}", Patch(Op("replace", null, new JsonObject { ["password"] = "Secret-Three-3", ["title"] = "t" })));
        var entries = (await After(start)).Where(e => e.Change.ResourceId == id).ToList();
        Assert.Equal(3, entries.Count);
        Assert.All(entries, e => Assert.Contains("password", e.Change.Attributes));
        foreach (var e in entries)
        {
            Assert.DoesNotContain("Secret-", e.Change.Data ?? "");
            Assert.DoesNotContain("Secret-", e.Change.Request ?? "");
        }
    }

    [Fact]
    public async Task Failed_and_no_op_writes_leave_no_entry()
    {
        var name = Unique("noentry");
        var id = await _c.CreateUserAsync(name, u => u["title"] = "x");
        var uid = await _c.CreateUserAsync(Unique("m"));
        var gid = await _c.CreateGroupAsync(Unique("g"), uid);
        var start = await Head();
        Assert.Equal(HttpStatusCode.Conflict, (await _c.PostAsync("Users", User(name))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "y"), Op("remove", "userName")))).Status);
        Assert.Equal(HttpStatusCode.OK, (await _c.PutAsync($"Users/{id}", User(name, u => u["title"] = "x"))).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.PatchAsync($"Groups/{gid}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = uid }))))).Status);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await _c.SendAsync(HttpMethod.Delete, $"Users/{id}", configure: m => m.Headers.TryAddWithoutValidation("If-Match", "W/\"999\""))).Status);
        Assert.DoesNotContain(await After(start), e => e.Change.ResourceId == id || e.Change.ResourceId == gid);
    }

    [Fact]
    public async Task Concurrent_writers_produce_an_order_that_readers_never_see_out_of_order()
    {
        var start = await Head();
        using var stop = new CancellationTokenSource();
        var violations = new List<string>();
        var read = new List<long>();
        // A reader polls the journal while writers run: whatever it sees must extend what it saw before, and
        // nothing may appear later behind it. With out-of-order visibility it would see N+1 and later N appear.
        // Positions are dense on SQLite and sparse on PostgreSQL (PostgresJournal): only their order is promised.
        var reader = Task.Run(async () =>
        {
            var seen = start;
            while (true)
            {
                var done = stop.IsCancellationRequested;
                var batch = await Store.ReadJournalAsync(seen, 1000, default);
                foreach (var e in batch)
                {
                    if (e.Position <= seen) lock (violations) violations.Add($"saw {e.Position} after {seen}");
                    seen = e.Position;
                    read.Add(e.Position);
                }
                if (done) return;
                if (batch.Count == 0) await Task.Delay(1);
            }
        });
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                var id = await _c.CreateUserAsync(Unique($"cw{w}"));
                await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", $"t{i}")));
            }
        })).ToArray();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        await reader;
        Assert.Empty(violations);
        var entries = await After(start);
        Assert.Equal(640, entries.Count);
        Assert.Equal(entries.Select(e => e.Position), read); // nothing appeared behind what the reader had seen
    }
}
