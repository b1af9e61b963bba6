using System.Text;
using System.Text.Json.Nodes;
using NATS.Client.Core;
using NATS.Client.JetStream;
using ScimSync.Client;
using ScimSync.Events;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// <c>sync watch</c> with <c>source.changes.nats</c>: the source relays its journal to a real nats-server
/// (<c>serve --nats</c>) and the engine takes its changes from there, with a durable consumer, instead of polling
/// the source's feed; across a restart of the engine too.
/// </summary>
public sealed class JetStreamWatchTests
{
    [SkippableFact]
    public async Task The_engine_takes_the_sources_changes_from_JetStream_to_a_target()
    {
        await using var nats = await NatsServer.StartAsync();
        var root = Path.Combine(Path.GetTempPath(), "scimsync-jsw-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        await using var hr = await Server.StartAsync("hr", root, "--nats", nats.Url);
        await using var app = await Server.StartAsync("app", root);
        var ann = await hr.CreateUserAsync("ann@example.com", kind: "employee");
        var bob = await hr.CreateUserAsync("bob@example.com", kind: "employee");
        var config = Path.Combine(root, "sync.yaml");
        await File.WriteAllTextAsync(config, $$"""
            state: ./state
            source:
              type: scim
              url: {{hr.ScimUrl}}
              auth: { type: bearer, token: {{hr.Token}} }
              changes: { nats: "{{nats.Url}}" }
            targets:
              - name: app
                url: {{app.ScimUrl}}
                auth: { type: bearer, token: {{app.Token}} }
                correlation: [userName]
            """);
        var log = new StringBuilder();
        var engine = Cli.Start(["sync", "watch", "--config", config], null, log);
        try
        {
            await WaitAsync(async () => Names(await app.UsersAsync()).SetEquals(["ann@example.com", "bob@example.com"]), log);
            // Written after the engine's snapshot: these reach the target only through the stream.
            await hr.CreateUserAsync("cid@example.com", kind: "employee");
            await hr.PatchAsync("Users", Id(ann), Server.Replace("title", "Lead"));
            await hr.PatchAsync("Users", Id(bob), Server.Replace("active", false));
            await WaitAsync(async () => Names(await app.UsersAsync()).Contains("cid@example.com"), log);
            await WaitAsync(async () => (await FindAsync(app, "ann@example.com"))?["title"]?.GetValue<string>() == "Lead", log);
            await WaitAsync(async () => (await FindAsync(app, "bob@example.com"))?["active"]?.GetValue<bool>() == false, log);

            // Stopped, a change made meanwhile, started again: the durable consumer resumes where it was.
            engine.Kill(true);
            await engine.WaitForExitAsync();
            engine.Dispose();
            await hr.PatchAsync("Users", Id(ann), Server.Replace("title", "Director"));
            lock (log) log.Clear();
            engine = Cli.Start(["sync", "watch", "--config", config], null, log);
            await WaitAsync(async () => (await FindAsync(app, "ann@example.com"))?["title"]?.GetValue<string>() == "Director", log);
            lock (log) Assert.Contains("Resuming", log.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            engine.Kill(true);
            await engine.WaitForExitAsync();
            engine.Dispose();
        }

        // The changes came from JetStream: the engine never subscribed to the source's own feed, and its consumer is
        // on the stream.
        var subscriptions = await hr.Client.GetJsonAsync("/feeds/v1/subscriptions", CancellationToken.None);
        Assert.Empty(subscriptions!["subscriptions"]!.AsArray());
        await using var connection = new NatsConnection(NatsOpts.Default with { Url = nats.Url });
        var names = new List<string>();
        await foreach (var name in new NatsJSContext(connection).ListConsumerNamesAsync(EventStream.DefaultStream)) names.Add(name);
        Assert.Contains(names, n => n.StartsWith("scimsync-sync-engine-", StringComparison.Ordinal));
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string Id(JsonObject user) => user["id"]!.GetValue<string>();

    private static HashSet<string> Names(IEnumerable<JsonObject> users) => users.Select(u => u["userName"]!.GetValue<string>()).ToHashSet();

    private static async Task<JsonObject?> FindAsync(Server server, string userName)
    {
        await foreach (var page in server.Client.ListAsync("Users", new ListOptions { Filter = $"userName eq \"{userName}\"" }, CancellationToken.None))
            return page.Resources.FirstOrDefault();
        return null;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, StringBuilder log)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is ScimClientException or HttpRequestException or NullReferenceException) { }
            await Task.Delay(100);
        }
        lock (log) Assert.Fail("condition not met in time; engine output:\n" + log);
    }
}
