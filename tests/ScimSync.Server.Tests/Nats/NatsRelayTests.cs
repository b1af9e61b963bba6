using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Client.Updates;
using ScimSync.Events;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Nats;

/// <summary>
/// <c>serve --nats</c> against a real nats-server: the stream holds the journal in order, once, across a killed
/// server; a consumer doing the documented snapshot → stream handoff ends equal to the source; a NATS outage
/// neither blocks writes nor loses a change.
/// </summary>
public sealed class NatsRelayTests : IAsyncLifetime
{
    private const string Token = "nats-relay-token";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "scimsync-tests", "nats-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly int _port = ServeProcess.FreePort();
    private NatsServer? _nats;
    private Process? _server;
    private HttpClient _c = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task StartAsync()
    {
        _nats ??= await NatsServer.StartAsync();
        _server = await ServeProcess.StartAsync(_data, _port, Token, "--nats", _nats.Url);
        _c ??= new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}/scim/v2/"), DefaultRequestHeaders = { { "Authorization", "Bearer " + Token } } };
    }

    private async Task KillServerAsync()
    {
        _server!.Kill(true);
        await _server.WaitForExitAsync();
    }

    /// <summary>The journal's head: what a list response says it is consistent with.</summary>
    private async Task<long> HeadAsync() =>
        (await _c.GetScimAsync("Users?count=0")).Json["urn:scimsync:params:scim:api:messages:2.0:ListResponse"]!["journalPosition"]!.GetValue<long>();

    [SkippableFact]
    public async Task The_stream_holds_every_change_once_and_in_order_across_a_killed_server()
    {
        await StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 40; i++) ids.Add(await _c.CreateUserAsync(Unique("relay")));
        // Killed while the relay is most likely still publishing that burst: it resumes from the stream's end.
        await KillServerAsync();
        await StartAsync();
        foreach (var id in ids.Take(20))
            Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "displayName", "Renamed")))).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Users/{ids[^1]}")).Status);
        var head = await HeadAsync();
        Assert.Equal(61, head);
        await using var stream = new RelayedStream(_nats!.Url);
        var messages = await stream.WaitForAsync(head, TimeSpan.FromSeconds(30));
        RelayedStream.AssertContinuous(messages, head);
        // Subjects per resource type and lane: creates and renames are routine, the deletion urgent.
        Assert.All(messages.Take(60), m => Assert.Equal("scimsync.events.User.routine", m.Subject));
        Assert.Equal("scimsync.events.User.urgent", messages[^1].Subject);
        Assert.Equal(EventStream.Audience, messages[0].Claims["aud"]!.AsArray().Single()!.GetValue<string>());

        // A restart with nothing new publishes nothing again.
        await KillServerAsync();
        await StartAsync();
        await Task.Delay(1500);
        Assert.Equal(head, (await stream.ReadAllAsync()).Count);
    }

    [SkippableFact]
    public async Task A_consumer_that_loads_a_snapshot_and_then_the_stream_after_its_position_ends_equal_to_the_source()
    {
        await StartAsync();
        var users = new List<string>();
        for (var i = 0; i < 10; i++) users.Add(await _c.CreateUserAsync(Unique("handoff"), u => u["title"] = "t" + i));
        var group = await _c.CreateGroupAsync(Unique("g"), users[0], users[1]);

        // 1. The snapshot, and the journal position it is consistent with.
        var (snapshot, position) = await SnapshotAsync();

        // Writes after the snapshot: the consumer must learn every one of them from the stream.
        for (var i = 0; i < 5; i++) users.Add(await _c.CreateUserAsync(Unique("handoff-late")));
        var put = (await _c.GetScimAsync($"Users/{users[2]}")).Json;
        put["title"] = "replaced";
        put.Remove("meta");
        Assert.Equal(HttpStatusCode.OK, (await _c.PutAsync($"Users/{users[2]}", put)).Status);
        Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{users[3]}", Patch(Op("replace", "title", "patched"), Op("add", "nickName", "Nick")))).Status);
        Assert.Equal(HttpStatusCode.OK, (await _c.PatchAsync($"Users/{users[4]}", Patch(Op("replace", "active", false)))).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Users/{users[5]}")).Status);
        Assert.True((await _c.PatchAsync($"Groups/{group}", Patch(Op("add", "members", new JsonArray(new JsonObject { ["value"] = users[12] }))))).Status is HttpStatusCode.OK or HttpStatusCode.NoContent);
        // Removes a member of the group too: the group's own entry is then a notice the consumer reads the group for.
        Assert.Equal(HttpStatusCode.NoContent, (await _c.DeleteScimAsync($"Users/{users[0]}")).Status);
        var head = await HeadAsync();

        // 2. A JetStream consumer starting at the first message after the position (docs/nats.md).
        await using var stream = new RelayedStream(_nats!.Url);
        await stream.WaitForAsync(head, TimeSpan.FromSeconds(30));
        var js = stream.JetStream;
        var s = await js.GetStreamAsync(EventStream.DefaultStream);
        var start = await FirstAfterAsync(s, position);
        var consumer = await s.CreateOrUpdateConsumerAsync(new ConsumerConfig("handoff-test")
        {
            DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence, OptStartSeq = start, AckPolicy = ConsumerConfigAckPolicy.Explicit,
        });
        var applied = position;
        var patcher = new PatchByPut();
        while (applied < head)
        {
            var msg = await consumer.NextAsync<byte[]>(NATS.Client.Core.NatsRawSerializer<byte[]>.Default, new NatsJSNextOpts { Expires = TimeSpan.FromSeconds(5) })
                ?? throw new Xunit.Sdk.XunitException($"the stream ran dry at position {applied}, before {head}");
            var p = long.Parse(msg.Headers![EventStream.PositionHeader].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            var previous = long.Parse(msg.Headers![EventStream.PreviousHeader].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(previous <= applied, $"a hole before position {p}");
            var set = SetEncoder.Receive(System.Text.Encoding.ASCII.GetString(msg.Data!), SigningKey.Generate(SigningKey.None), null, EventStream.Audience);
            var key = (Type: set.ResourceType ?? throw new Xunit.Sdk.XunitException("a SET about an unknown resource type"), Id: set.ResourceId);
            if (set.Removed) snapshot.Remove(key);
            else if (set.Data is { } data) snapshot[key] = data;
            else if (set.PatchOp?["Operations"] is JsonArray ops && snapshot.TryGetValue(key, out var current) && set.ResourceType == "User")
            {
                var next = patcher.Apply("Users", set.ResourceId, current, ops.OfType<JsonObject>().ToArray()) ?? current;
                next["id"] = set.ResourceId;
                next["meta"] = new JsonObject { ["version"] = set.Version };
                snapshot[key] = next;
            }
            // A notice (or a group's member PATCH): the consumer reads the resource, as RFC 9967 intends.
            else snapshot[key] = (await _c.GetScimAsync($"{set.ResourceType}s/{set.ResourceId}")).Json;
            await msg.AckAsync();
            applied = p;
        }

        var (expected, _) = await SnapshotAsync();
        Assert.Equal(expected.Keys.Order(), snapshot.Keys.Order());
        foreach (var (key, doc) in expected)
            Assert.Equal(Canonical(doc, key.Type), Canonical(snapshot[key], key.Type));
    }

    [SkippableFact]
    public async Task Writes_go_on_while_NATS_is_down_and_the_relay_catches_up_when_it_is_back()
    {
        await StartAsync();
        for (var i = 0; i < 5; i++) await _c.CreateUserAsync(Unique("outage"));
        await using (var stream = new RelayedStream(_nats!.Url))
            await stream.WaitForAsync(5, TimeSpan.FromSeconds(30));
        await _nats.StopAsync();

        var timer = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++) await _c.CreateUserAsync(Unique("outage-down"));
        // Nothing waits for NATS: twenty writes take what twenty writes take, not twenty publish timeouts.
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(20), $"20 writes took {timer.Elapsed.TotalSeconds:F1} s with NATS down");
        using (var probe = new HttpClient())
        {
            var ready = await probe.GetAsync($"http://127.0.0.1:{_port}/healthz/ready");
            var body = await ready.Content.ReadAsStringAsync();
            // Reported, not failed: a 503 would take the server out of its load balancer and stop the writes.
            Assert.True(ready.StatusCode == HttpStatusCode.OK, body);
            var check = JsonNode.Parse(body)!["checks"]!["nats-relay"]!;
            Assert.Equal("Degraded", check["status"]!.GetValue<string>());

            // The lag shows in the metrics beside the feed's (the relay looks at the journal between retries).
            var deadline = DateTime.UtcNow.AddSeconds(30);
            long lag = 0;
            double age = 0;
            while (DateTime.UtcNow < deadline && (lag < 20 || age <= 0))
            {
                var text = await probe.GetStringAsync($"http://127.0.0.1:{_port}/metrics");
                lag = Gauge(text, "scimsync_feed_relay_lag") is { } l ? (long)l : 0;
                age = Gauge(text, "scimsync_feed_relay_lag_age_seconds") ?? 0;
                await Task.Delay(200);
            }
            Assert.True(lag >= 20 && age > 0, $"relay lag {lag} entries, {age} s");
        }

        await _nats.StartAgainAsync();
        var head = await HeadAsync();
        await using var after = new RelayedStream(_nats.Url);
        RelayedStream.AssertContinuous(await after.WaitForAsync(head, TimeSpan.FromSeconds(60)), head);
    }

    private static double? Gauge(string prometheus, string name) =>
        System.Text.RegularExpressions.Regex.Match(prometheus, "^" + name + @"(\{[^}]*\})? ([0-9.eE+-]+)", System.Text.RegularExpressions.RegexOptions.Multiline) is { Success: true } m
            ? double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>Every User and Group, keyed by type and id, and the smaller of the two lists' positions.</summary>
    private async Task<(Dictionary<(string Type, string Id), JsonObject> Docs, long Position)> SnapshotAsync()
    {
        var docs = new Dictionary<(string, string), JsonObject>();
        var position = long.MaxValue;
        foreach (var type in new[] { "User", "Group" })
        {
            var r = (await _c.GetScimAsync($"{type}s?count=1000")).Json;
            position = Math.Min(position, r["urn:scimsync:params:scim:api:messages:2.0:ListResponse"]!["journalPosition"]!.GetValue<long>());
            foreach (var doc in r["Resources"]!.AsArray()) docs[(type, doc!["id"]!.GetValue<string>())] = doc.AsObject().DeepClone().AsObject();
        }
        return (docs, position);
    }

    /// <summary>The stream sequence of the first message after <paramref name="position"/> (binary search, docs/nats.md).</summary>
    private static async Task<ulong> FirstAfterAsync(INatsJSStream s, long position)
    {
        ulong lo = s.Info.State.FirstSeq, hi = s.Info.State.LastSeq + 1;
        while (lo < hi)
        {
            var mid = lo + (hi - lo) / 2;
            var m = await s.GetDirectAsync(new StreamMsgGetRequest { Seq = mid }, NATS.Client.Core.NatsRawSerializer<byte[]>.Default);
            if (long.Parse(m.Headers![EventStream.PositionHeader].ToString(), System.Globalization.CultureInfo.InvariantCulture) > position) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>
    /// What both sides know of a resource, keys in order: the document with its version, without what only a GET
    /// renders (meta's dates and location, a user's computed groups, members' $ref and display).
    /// </summary>
    private static string Canonical(JsonObject doc, string type)
    {
        var o = doc.DeepClone().AsObject();
        var version = o["meta"]?["version"]?.GetValue<string>();
        o.Remove("meta");
        o.Remove("groups");
        if (o["members"] is JsonArray members)
            o["members"] = new JsonArray(members.Select(m => m!["value"]!.GetValue<string>()).Order(StringComparer.Ordinal).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        return type + " " + version + " " + Sorted(o)!.ToJsonString();
    }

    private static JsonNode? Sorted(JsonNode? n) => n switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        _ => n?.DeepClone(),
    };

    public async Task DisposeAsync()
    {
        if (_server is { HasExited: false }) await KillServerAsync();
        _c?.Dispose();
        if (_nats is not null) await _nats.DisposeAsync();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
