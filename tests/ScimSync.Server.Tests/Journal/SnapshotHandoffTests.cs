using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Journal;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Journal;

/// <summary>
/// DESIGN.md invariant 2: a consumer that takes a paged snapshot while writers run, then applies the
/// journal after the snapshot's position (by version, never backwards), ends equal to the server.
/// </summary>
public sealed class SnapshotHandoffTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    /// <summary>The resource as the store keeps it: everything but id, meta and the computed groups.</summary>
    private static (string Id, long Version, string Doc) Normalize(JsonNode r)
    {
        var o = r.AsObject().DeepClone().AsObject();
        var id = o["id"]!.GetValue<string>();
        var etag = o["meta"]!["version"]!.GetValue<string>();
        o.Remove("id");
        o.Remove("meta");
        o.Remove("groups");
        return (id, long.Parse(etag[3..^1], System.Globalization.CultureInfo.InvariantCulture), o.ToJsonString());
    }

    private async Task<(Dictionary<string, (long Version, string Doc)> State, long Position)> WalkAsync(string prefix, int count, Func<int, Task>? betweenPages = null)
    {
        var state = new Dictionary<string, (long, string)>();
        var filter = Uri.EscapeDataString($"userName sw \"{prefix}\"");
        string? cursor = "";
        long? position = null;
        var page = 0;
        while (cursor is not null)
        {
            var r = await _c.GetScimAsync($"Users?filter={filter}&count={count}&cursor={cursor}");
            var p = long.Parse(r.Headers.GetValues("ScimSync-Journal-Position").Single(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(p, r.Json["urn:scimsync:params:scim:api:messages:2.0:ListResponse"]!["journalPosition"]!.GetValue<long>());
            position ??= p;
            Assert.Equal(position, p); // one position for the whole walk
            foreach (var res in r.Json["Resources"]?.AsArray() ?? [])
            {
                var (id, version, doc) = Normalize(res!);
                state[id] = (version, doc);
            }
            cursor = r.Json["nextCursor"]?.GetValue<string>();
            if (betweenPages is not null) await betweenPages(page++);
        }
        return (state, position!.Value);
    }

    [Fact]
    public async Task Snapshot_plus_journal_after_its_position_equals_the_server()
    {
        var prefix = Unique("hand");
        var ids = new List<string>();
        for (var i = 0; i < 60; i++) ids.Add(await _c.CreateUserAsync($"{prefix}-{i:D3}", u => u["title"] = "v0"));

        using var stop = new CancellationTokenSource();
        var rnd = new Random(3);
        var created = 0;
        var writer = Task.Run(async () =>
        {
            var n = 0;
            // Bounded, so that the walk (which sees users created behind its cursor) always finishes.
            while (!stop.IsCancellationRequested && n < 400)
            {
                var target = ids[rnd.Next(ids.Count)];
                switch (n++ % 4)
                {
                    case 0: await _c.PatchAsync($"Users/{target}", Patch(Op("replace", "title", $"v{n}"))); break;
                    case 1: ids.Add(await _c.CreateUserAsync($"{prefix}-new-{created++:D3}", u => u["title"] = "fresh")); break;
                    case 2: await _c.DeleteScimAsync($"Users/{target}"); break;
                    default: await _c.PatchAsync($"Users/{target}", Patch(Op("add", "nickName", $"n{n}"))); break;
                }
            }
        });

        // Slow consumer: small pages, a pause between them, so writes land during the walk.
        var (state, position) = await WalkAsync(prefix, 7, _ => Task.Delay(15));
        await Task.Delay(100);
        await stop.CancelAsync();
        await writer;

        var store = server.Services.GetRequiredService<IResourceStore>();
        foreach (var e in await store.ReadJournalAsync(position, 100_000, default))
        {
            var c = e.Change;
            if (c.ResourceType != "User") continue;
            if (c.Operation == JournalOperation.Delete) { state.Remove(c.ResourceId); continue; }
            var doc = JsonNode.Parse(c.Data!)!.AsObject();
            if (!doc["userName"]!.GetValue<string>().StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (state.TryGetValue(c.ResourceId, out var known) && known.Version >= c.Version) continue; // never backwards
            state[c.ResourceId] = (c.Version, doc.ToJsonString());
        }

        var (truth, _) = await WalkAsync(prefix, 1000);
        Assert.True(truth.Count > 30, "the writer should have left most users in place");
        Assert.Equal(truth.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        foreach (var (id, (version, doc)) in truth)
        {
            Assert.Equal(version, state[id].Version);
            Assert.Equal(doc, state[id].Doc);
        }
    }
}
