using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Feed;
using ScimSync.Feed.Delivery;
using ScimSync.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Schemas;
using ScimSync.Secrets;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Feed;
using ScimSync.Store.Journal;
using ScimSync.Store.Sqlite;

namespace ScimSync.Server.Tests.Feed;

/// <summary>
/// Fan-out against a real SQLite file with no server and no background service: the test writes journal
/// entries itself (as ResourceService would) and runs <see cref="FanoutWorker"/> rounds one at a time.
/// </summary>
internal sealed class FeedHarness : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", "feed-" + Guid.NewGuid().ToString("N"));
    private long _txn;

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    public SqliteResourceStore Store { get; }
    public SchemaRegistry Registry { get; } = SchemaRegistry.CreateDefault();
    public FeedOptions Options { get; }
    public SubscriptionService Subscriptions { get; }
    public FanoutWorker Worker { get; }

    private FeedHarness(int fanoutBatch, string? path)
    {
        PrivateFiles.EnsureDirectory(_dir, "data directory");
        path ??= Path.Combine(_dir, "feed.db");
        // The key file beside the database's directory, as the server has it: a database reopened finds its keys.
        Store = new SqliteResourceStore(path, keys: KeyRing.ForDirectory(Path.GetDirectoryName(path)!, null));
        Options = new FeedOptions { Issuer = "https://scimsync.test", FanoutBatch = fanoutBatch };
        Subscriptions = new SubscriptionService(Store, Registry, Options, Time);
        Worker = new FanoutWorker(Store, Registry, new SetEncoder(Time), Options, null, Time);
    }

    public static async Task<FeedHarness> StartAsync(int fanoutBatch, string? path = null)
    {
        var h = new FeedHarness(fanoutBatch, path);
        await h.Store.InitializeAsync(default);
        return h;
    }

    public static JsonObject UserDoc(string userName, bool active = true, string? title = null)
    {
        var o = new JsonObject { ["schemas"] = new JsonArray(Scim.UserSchema), ["userName"] = userName, ["active"] = active };
        if (title is not null) o["title"] = title;
        return o;
    }

    public static JournalAppend Change(string id, JournalOperation op, long version, JsonObject? data, params string[] attributes) =>
        new("txn", "User", id, op, version, attributes, data?.ToJsonString(), null, "test", new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Positions of the harness's changes by txn, read back from the journal, which is read past <see cref="_tail"/>.</summary>
    private readonly Dictionary<string, long> _positions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reading = new(1, 1);
    private long _tail;

    /// <summary>Appends the changes in one transaction; returns their positions.</summary>
    public async Task<long[]> AppendAsync(params JournalAppend[] changes)
    {
        var txns = new string[changes.Length];
        await using (var tx = await Store.BeginWriteAsync(default))
        {
            for (var i = 0; i < changes.Length; i++)
                await tx.AppendJournalAsync(changes[i] with { Txn = txns[i] = "t" + Interlocked.Increment(ref _txn) }, default);
            await tx.CommitAsync(default);
        }
        await _reading.WaitAsync();
        try
        {
            for (var page = await Store.ReadJournalAsync(_tail, 10_000, default); page.Count > 0; page = await Store.ReadJournalAsync(_tail, 10_000, default))
            {
                foreach (var e in page) _positions[e.Change.Txn] = e.Position;
                _tail = page[^1].Position;
            }
            return txns.Select(t => _positions[t]).ToArray();
        }
        finally
        {
            _reading.Release();
        }
    }

    /// <summary><paramref name="count"/> creates of distinct users: a routine backlog.</summary>
    public async Task<long[]> BacklogAsync(int count, string prefix = "routine")
    {
        var changes = Enumerable.Range(0, count)
            .Select(i => Change($"{prefix}-{i:D6}", JournalOperation.Create, 1, UserDoc($"{prefix}{i}"), "userName", "active"))
            .ToArray();
        return await AppendAsync(changes);
    }

    public async Task<Subscription> SubscribeAsync(SubscriptionConfig config, long startAfter = 0) =>
        await Subscriptions.CreateAsync("sub-" + Guid.NewGuid().ToString("N")[..8], config, startAfter, default);

    public async Task<Subscription> ReloadAsync(Subscription s) => (await Subscriptions.FindAsync(s.Id, default))!;

    /// <summary>Runs rounds with a freshly read subscription until fan-out is caught up; returns how many.</summary>
    public async Task<int> FanOutAllAsync(Subscription s)
    {
        var rounds = 0;
        while (await Worker.RunOnceAsync(await ReloadAsync(s), default) > 0) rounds++;
        return rounds;
    }

    /// <summary>Claims one event at a time and acknowledges it, as a receiver would: the delivery order.</summary>
    public async Task<List<DeliveryRecord>> ReceiveAsync(Subscription s, int max = int.MaxValue)
    {
        var got = new List<DeliveryRecord>();
        while (got.Count < max)
        {
            var claimed = await Store.Feed.ClaimAsync(s.Id, 1, Time.GetUtcNow(), TimeSpan.FromMinutes(1), default);
            if (claimed.Count == 0) break;
            got.Add(claimed[0]);
            await Store.Feed.AckAsync(s.Id, [claimed[0].Jti], default);
        }
        return got;
    }

    /// <summary>The event URIs of a SET, e.g. ["…:prov:patch:notice", "…:prov:deactivate"].</summary>
    public static string[] Events(DeliveryRecord d) =>
        SetToken.Claims(d.Token)["events"]!.AsObject().Select(kv => kv.Key.Replace("urn:ietf:params:scim:event:", "", StringComparison.Ordinal)).ToArray();

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        _reading.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        File.Delete(KeyRing.DefaultPathFor(_dir));
    }
}
