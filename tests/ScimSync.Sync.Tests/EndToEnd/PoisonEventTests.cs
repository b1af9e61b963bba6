using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// One SET from the source that the engine's validator refuses must not stop its feed: the real engine
/// (`sync run --watch`) against a real `scimsync serve` source whose poll answers pass through a proxy that
/// spoils every SET about one person.
/// </summary>
[Collection("EndToEnd")]
public sealed class PoisonEventTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_SET_the_validator_refuses_is_reported_to_the_source_recorded_and_the_feed_goes_on()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-poison-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        await using var source = await Server.StartAsync("hr", root);
        await using var app = await Server.StartAsync("app", root);
        var poison = await source.CreateUserAsync("poison@example.com", kind: "employee");
        await source.CreateUserAsync("steady@example.com", kind: "employee");
        var poisonId = poison["id"]!.GetValue<string>();
        string? spoiled = null;
        await using var proxy = await FaultProxy.StartAsync(source.ScimUrl, failEvery: 0, rewritePost: PoisonSets.SpoilSetsAbout(() => Volatile.Read(ref spoiled)));
        var config = Path.Combine(root, "sync.yaml");
        File.WriteAllText(config, $$"""
            state: ./state
            source: { type: scim, url: "{{proxy.ScimUrl}}", auth: { type: bearer, token: {{source.Token}} } }
            targets:
              - name: app
                url: {{app.ScimUrl}}
                auth: { type: bearer, token: {{app.Token}} }
            """);
        var output = new StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch", "--log-format", "json"], null, output);
        try
        {
            await WaitAsync(async () => (await app.UsersAsync()).Count == 2, output);

            // The person's change arrives as a SET the engine refuses; changes after it must still flow.
            Volatile.Write(ref spoiled, poisonId);
            await source.PatchAsync("Users", poisonId, Server.Replace("title", "Spoiled"));
            await source.CreateUserAsync("after@example.com", kind: "employee");
            await WaitAsync(async () => (await app.UsersAsync()).Any(u => u["userName"]!.GetValue<string>() == "after@example.com"), output);

            // Refused to the source (RFC 8936 setErrs): it dead-letters the SET rather than delivering it for ever.
            var subscriptions = await source.Client.GetJsonAsync("/feeds/v1/subscriptions", CancellationToken.None);
            var engineSubscription = ((JsonArray)subscriptions!["subscriptions"]!).Single(s => s!["name"]!.GetValue<string>().StartsWith("scimsync-sync-", StringComparison.Ordinal))!;
            JsonArray? dead = null;
            await WaitAsync(async () =>
            {
                dead = (JsonArray)(await source.Client.GetJsonAsync($"/feeds/v1/subscriptions/{engineSubscription["id"]}/dead-letters", CancellationToken.None))!["deadLetters"]!;
                return dead.Count > 0;
            }, output);
            var letter = Assert.Single(dead!)!;
            Assert.Equal(poisonId, letter["resourceId"]!.GetValue<string>());
            Assert.StartsWith("invalid_request", letter["error"]!.GetValue<string>(), StringComparison.Ordinal);

            // Logged with its own event id, naming the SET.
            var jti = letter["jti"]!.GetValue<string>();
            await WaitAsync(() => Task.FromResult(Entries(output).Any(e => e["EventId"]?.GetValue<int>() == 3409 && e.ToJsonString().Contains(jti, StringComparison.Ordinal))), output);
            Assert.NotEqual("Spoiled", (await app.UsersAsync()).Single(u => u["userName"]!.GetValue<string>() == "poison@example.com")["title"]?.GetValue<string>());
        }
        finally
        {
            engine.Kill(true);
            await engine.WaitForExitAsync();
        }

        // And `sync status`, another process, shows it from the engine's state.
        var (code, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config);
        Assert.True(code == 0, status);
        Assert.Contains("1 SET refused", status, StringComparison.Ordinal);
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static List<JsonObject> Entries(StringBuilder output)
    {
        string text;
        lock (output) text = output.ToString();
        var entries = new List<JsonObject>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!line.StartsWith('{')) continue;
            try
            {
                if (JsonNode.Parse(line) is JsonObject o) entries.Add(o);
            }
            catch (System.Text.Json.JsonException)
            {
            }
        }
        return entries;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, StringBuilder log, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is Client.ScimClientException or HttpRequestException or NullReferenceException) { }
            await Task.Delay(100);
        }
        string text;
        lock (log) text = log.ToString();
        Assert.Fail("condition not met in time; engine output:\n" + text);
    }
}
