using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Journal;
using ScimSync.Store.Querying;
using ScimSync.Store.Resources;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// DESIGN.md invariant 2 across instances: three server instances on one PostgreSQL database take writes
/// concurrently (creates, replaces of each other's users, deletes) while two consumers follow: one reads the
/// journal through whichever instance comes next and fails on any position appearing behind one it has seen, the
/// other polls a subscription through whichever instance comes next (fan-out runs on one of them). At the end of
/// every round both copies are byte-equal to the source. Twenty rounds.
/// Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class MultiInstanceJournalTests : IAsyncLifetime
{
    private const int Rounds = 20;
    private PostgresInstances _pg = null!;

    public async Task InitializeAsync()
    {
        _pg = await PostgresInstances.CreateAsync();
        for (var i = 0; i < 3; i++) await _pg.StartInProcessAsync();
    }

    public async Task DisposeAsync() => await _pg.DisposeAsync();

    private IResourceStore Store(int i) => _pg.Services[i].GetRequiredService<IResourceStore>();

    /// <summary>The stored document as compared: parsed and written again, without id and meta.</summary>
    private static string Canonical(JsonObject doc)
    {
        var o = doc.DeepClone().AsObject();
        o.Remove("id");
        o.Remove("meta");
        return o.ToJsonString();
    }

    [SkippableFact]
    public async Task Three_instances_writing_concurrently_and_two_consumers_end_byte_equal_every_round()
    {
        var registry = SchemaRegistry.CreateDefault();
        for (var round = 0; round < Rounds; round++)
        {
            var prefix = $"r{round:D2}-{Guid.NewGuid().ToString("N")[..6]}";
            // Where both consumers start: the head, as a list response reports it.
            var head = (await Store(round % 3).QueryAsync(new ResourceQuery([new TypeFilter(registry.User, null, null)], null, new PageRequest(1, 0), LoadOptions.None), default)).JournalPosition;
            var sub = await _pg.PostFeedAsync(round % 3, "", new JsonObject
            {
                ["name"] = "consumer-" + prefix, ["audience"] = "test", ["delivery"] = "poll", ["payload"] = "full",
                ["resourceTypes"] = new JsonArray("User"), ["signing"] = "none", ["startAfter"] = head,
            });
            var subId = sub["id"]!.GetValue<string>();

            using var stop = new CancellationTokenSource();
            var journalCopy = new Dictionary<string, (long Version, string? Doc)>();
            var journalErrors = new List<string>();
            var journalReader = Task.Run(async () =>
            {
                var seen = head;
                for (var n = 0; ; n++)
                {
                    var done = stop.IsCancellationRequested;
                    foreach (var e in await Store(n % 3).ReadJournalAsync(seen, 1000, default))
                    {
                        if (e.Position <= seen) journalErrors.Add($"{e.Position} after {seen}");
                        seen = e.Position;
                        var c = e.Change;
                        if (c.ResourceType != "User") continue;
                        journalCopy.TryGetValue(c.ResourceId, out var known);
                        if (known.Version > c.Version || (known.Version == c.Version && known.Doc is null)) continue;
                        journalCopy[c.ResourceId] = (c.Version, c.Operation == JournalOperation.Delete ? null : Canonical(JsonNode.Parse(c.Data!)!.AsObject()));
                    }
                    if (done) return;
                    await Task.Delay(2);
                }
            });

            // Writers: one per instance, each creating users and then replacing or deleting users any instance created.
            var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Task.WhenAll(Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
            {
                var c = _pg.Clients[w];
                var rnd = new Random(round * 10 + w);
                for (var i = 0; i < 6; i++) ids.Add(await c.CreateUserAsync($"{prefix}-{w}-{i}", u => u["title"] = "new"));
                for (var i = 0; i < 10; i++)
                {
                    var all = ids.ToArray();
                    var target = all[rnd.Next(all.Length)];
                    if (i % 5 == 4)
                    {
                        await c.DeleteScimAsync($"Users/{target}"); // 404 when another writer deleted it first
                        continue;
                    }
                    var current = await c.GetScimAsync($"Users/{target}");
                    if (current.Status != System.Net.HttpStatusCode.OK) continue;
                    var userName = current.Json["userName"]!.GetValue<string>();
                    await c.PutAsync($"Users/{target}", User(userName, u => u["title"] = $"w{w}-{i}"));
                }
            })));

            // The feed consumer: polls through each instance in turn, acknowledging what it applied.
            var feedCopy = new Dictionary<string, (long Version, string? Doc)>();
            var truth = await SourceAsync(prefix);
            var ack = new JsonArray();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            for (var n = 0; ; n++)
            {
                var polled = await _pg.PostFeedAsync(n % 3, $"/{subId}/poll", new JsonObject { ["ack"] = ack, ["maxEvents"] = 500, ["returnImmediately"] = true });
                ack = [];
                foreach (var (jti, token) in (IEnumerable<KeyValuePair<string, JsonNode?>>)polled["sets"]!.AsObject())
                {
                    ack.Add(jti);
                    Apply(feedCopy, SetToken.Claims(token!.GetValue<string>()));
                }
                if (Live(feedCopy).SequenceEqual(truth) && ack.Count == 0) break;
                Assert.True(DateTime.UtcNow < deadline, $"round {round}: the feed consumer did not converge: {Live(feedCopy).Count} of {truth.Count} users");
                if (ack.Count == 0) await Task.Delay(20);
            }
            await stop.CancelAsync();
            await journalReader;
            Assert.Empty(journalErrors);
            Assert.Equal(truth, Live(journalCopy));
            Assert.Equal(truth, Live(feedCopy));
            Assert.True(truth.Count >= 6, "most users should survive the round");
        }
    }

    private static SortedDictionary<string, string> Live(Dictionary<string, (long Version, string? Doc)> copy) =>
        new(copy.Where(kv => kv.Value.Doc is not null).ToDictionary(kv => kv.Key, kv => kv.Value.Doc!), StringComparer.Ordinal);

    /// <summary>The source: every user of the round as stored, read through the store.</summary>
    private async Task<SortedDictionary<string, string>> SourceAsync(string prefix)
    {
        var registry = SchemaRegistry.CreateDefault();
        var filter = FilterBinder.Bind(ScimFilterParser.Parse($"userName sw \"{prefix}\""), registry.User, registry, strict: true);
        var page = await Store(0).QueryAsync(new ResourceQuery([new TypeFilter(registry.User, filter, null)], null, new PageRequest(1, 1000), LoadOptions.None), default);
        return new SortedDictionary<string, string>(page.Resources.ToDictionary(r => r.Id, r => Canonical(JsonNode.Parse(r.Data)!.AsObject())), StringComparer.Ordinal);
    }

    /// <summary>Applies one SET by version, never going backwards; a deletion is final.</summary>
    private static void Apply(Dictionary<string, (long Version, string? Doc)> copy, JsonObject claims)
    {
        var id = claims["sub_id"]!["uri"]!.GetValue<string>().Split('/')[^1];
        copy.TryGetValue(id, out var known);
        if (known.Version > 0 && known.Doc is null) return;
        foreach (var (uri, evt) in claims["events"]!.AsObject())
        {
            if (uri.EndsWith(":prov:delete", StringComparison.Ordinal))
            {
                copy[id] = (long.MaxValue, null);
                return;
            }
            if (evt?["data"] is not JsonObject data || evt["version"] is not { } v) continue;
            var version = long.Parse(v.GetValue<string>()[3..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (version > known.Version) copy[id] = (version, Canonical(data));
        }
    }
}
