using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Store;
using ScimSync.Store.Journal;
using ScimSync.Store.Resources;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Storage;

/// <summary>
/// Group commit on a real SQLite file: write sessions that overlap share one transaction, each in its own
/// savepoint. The order of events is forced with tasks (a session waiting for the writer is a pending task), not
/// with timing.
/// </summary>
public sealed class GroupCommitTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", "group-" + Guid.NewGuid().ToString("N"));
    private readonly ResourceTypeDefinition _user = SchemaRegistry.CreateDefault().User;
    private SqliteResourceStore _store = null!;

    public async Task InitializeAsync()
    {
        PrivateFiles.EnsureDirectory(_dir, "data directory");
        _store = new SqliteResourceStore(Path.Combine(_dir, "scimsync.db"));
        await _store.InitializeAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A create as ResourceService writes it: the resource, then its journal entry, in the session.</summary>
    private async Task<string> CreateAsync(IWriteSession s, string userName)
    {
        var id = Guid.CreateVersion7().ToString();
        var stored = await s.InsertAsync(_user, id, new JsonObject { ["userName"] = userName }, null, null, Now, default);
        await s.AppendJournalAsync(new JournalAppend("txn-" + userName, "User", id, JournalOperation.Create, stored.Version, ["userName"],
            """{"userName":"x"}""", null, "test", Now), default);
        return id;
    }

    private async Task<bool> VisibleAsync(string id) => await _store.FindAsync(_user, id, LoadOptions.None, default) is not null;

    [Fact]
    public async Task Overlapping_writes_commit_together_and_one_that_fails_takes_nothing_else_with_it()
    {
        var a = await _store.BeginWriteAsync(default);
        // b and c wait for the writer while a holds it: they will join a's transaction.
        var bJoining = _store.BeginWriteAsync(default);
        var cJoining = _store.BeginWriteAsync(default);
        Assert.False(bJoining.IsCompleted);
        var aId = await CreateAsync(a, "alice");
        var aCommitted = a.CommitAsync(default);

        var b = await bJoining;
        Assert.False(aCommitted.IsCompleted, "a was acknowledged before the transaction holding it committed");
        Assert.False(await VisibleAsync(aId));
        Assert.NotNull(await b.FindAsync(_user, aId, LoadOptions.None, default)); // a member reads what the group wrote before it
        var bId = await CreateAsync(b, "bob");
        // A real SQL failure inside the group: alice's userName is taken (by a, not yet committed). The statement
        // fails; the group transaction does not.
        var conflict = await Assert.ThrowsAsync<ScimException>(() => CreateAsync(b, "ALICE"));
        Assert.Equal(409, conflict.Status);
        var bEnded = b.DisposeAsync().AsTask(); // no commit: b's writes are undone, b's own answer waits for the group

        var c = await cJoining;
        var cId = await CreateAsync(c, "carol");
        Assert.False(aCommitted.IsCompleted);
        await c.CommitAsync(default); // nobody left waiting: this commit carries a and c
        await aCommitted;
        await bEnded;
        await c.DisposeAsync();
        await a.DisposeAsync();

        Assert.True(await VisibleAsync(aId));
        Assert.False(await VisibleAsync(bId));
        Assert.True(await VisibleAsync(cId));
        var journal = await _store.ReadJournalAsync(0, 100, default);
        Assert.Equal([aId, cId], journal.Select(e => e.Change.ResourceId));
        Assert.Equal([1L, 2L], journal.Select(e => e.Position)); // b's position was rolled back with it, nothing in between
    }

    [Fact]
    public async Task A_write_alone_commits_at_once_and_the_store_reports_full_durability()
    {
        Assert.Equal("FULL", _store.Synchronous);
        Assert.Equal("FULL", (await _store.DescribeAsync(default))["synchronous"]);
        await using var s = await _store.BeginWriteAsync(default);
        var id = await CreateAsync(s, "solo");
        await s.CommitAsync(default);
        Assert.True(await VisibleAsync(id));
    }

    [Fact]
    public async Task Another_writer_of_its_own_commits_the_open_group_first()
    {
        var a = await _store.BeginWriteAsync(default);
        var bJoining = _store.BeginWriteAsync(default);
        var aId = await CreateAsync(a, "dave");
        var aCommitted = a.CommitAsync(default);
        var b = await bJoining;
        // While b holds the writer, a token write (a transaction of its own) queues behind it.
        var token = _store.Tokens.AddAsync(new Store.Tokens.AccessToken("t1", "t1", "hash-t1", ["scim:read"], null, Now, null, null), default);
        Assert.False(token.IsCompleted);
        // b changes nothing and ends: no joiner is counted, so b commits a's group itself and a is acknowledged.
        await b.DisposeAsync();
        await aCommitted;
        await token;
        Assert.True(await VisibleAsync(aId));
        await a.DisposeAsync();
    }

    [Fact]
    public async Task Many_concurrent_writes_with_failures_among_them_all_settle_correctly()
    {
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            await using var s = await _store.BeginWriteAsync(default);
            // Every fifth write collides with the write before it (same userName) and fails with 409.
            var name = i % 5 == 4 ? "user-" + (i - 1) : "user-" + i;
            try
            {
                var id = await CreateAsync(s, name);
                await s.CommitAsync(default);
                return (Name: name, Id: (string?)id);
            }
            catch (ScimException e) when (e.Status == 409)
            {
                return (Name: name, Id: (string?)null);
            }
        })));
        var committed = outcomes.Where(o => o.Id is not null).ToArray();
        Assert.Equal(160, committed.Length);
        Assert.Equal(160, committed.Select(o => o.Name).Distinct().Count());
        foreach (var (_, id) in committed) Assert.True(await VisibleAsync(id!));
        var journal = await _store.ReadJournalAsync(0, 1000, default);
        Assert.Equal(committed.Select(o => o.Id).Order(), journal.Select(e => e.Change.ResourceId).Order());
    }
}
