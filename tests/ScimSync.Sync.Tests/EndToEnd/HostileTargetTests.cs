using System.Text.Json.Nodes;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// The real engine with two targets: a hostile one and a healthy `scimsync serve`. Whatever the hostile
/// one answers fails its own work, with a reason, in bounded time and memory; the engine process carries
/// on and the healthy target is provisioned in full.
/// </summary>
[Collection("EndToEnd")]
public sealed class HostileTargetTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData(Hostility.CreateWithoutResource, "without a usable resource")]
    [InlineData(Hostility.RedirectElsewhere, "not followed")]
    [InlineData(Hostility.ResourcesNotAnArray, "not an array")]
    [InlineData(Hostility.GzipBomb, "larger than")]
    [InlineData(Hostility.EndlessPages, "30 pages")]
    [InlineData(Hostility.MalformedJson, "The list response is not a JSON object")]
    public async Task A_hostile_target_fails_alone_and_the_healthy_one_is_provisioned(Hostility mode, string reason)
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-hostile-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        try
        {
            await using var source = await Server.StartAsync("hr", root);
            await using var good = await Server.StartAsync("good", root);
            await using var hostile = await HostileTarget.StartAsync(mode);
            for (var i = 0; i < 12; i++) await source.CreateUserAsync($"u{i:00}@example.com", kind: "employee");
            var config = Path.Combine(root, "sync.yaml");
            File.WriteAllText(config, $$"""
                state: ./state
                source: { type: scim, url: "{{source.ScimUrl}}", auth: { type: bearer, token: {{source.Token}} } }
                targets:
                  - name: hostile
                    url: {{hostile.ScimUrl}}
                    auth: { type: bearer, token: secret-of-the-hostile-target }
                    limits: { maxResponseMiB: 4, maxListPages: 30 }
                  - name: good
                    url: {{good.ScimUrl}}
                    auth: { type: bearer, token: {{good.Token}} }
                """);

            var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config, "--json");

            // A failed target, not a crashed engine: the good target's accounts were applied, so the run is partially applied (5).
            Assert.True(code == 5, output);
            var report = Cli.Json(output)["targets"]!.AsArray();
            var bad = report.Single(t => t!["target"]!.GetValue<string>() == "hostile")!;
            var said = bad["error"]?.GetValue<string>() ?? string.Join("; ", bad["executed"]?["errors"]?.AsArray().Select(e => e!.GetValue<string>()) ?? []);
            Assert.Contains(reason, said);
            Assert.Equal(12, (await good.UsersAsync()).Count);
            Assert.Null(report.Single(t => t!["target"]!.GetValue<string>() == "good")!["error"]);
            Assert.Equal(0, hostile.Elsewhere);
            // A read that failed is never "the target is empty": nothing was created there.
            if (mode is not (Hostility.CreateWithoutResource or Hostility.RedirectElsewhere)) Assert.Equal(0, hostile.Creates);
            if (mode == Hostility.EndlessPages) Assert.InRange(hostile.Lists, 30, 32);

            // Each failed operation is audited with its reason.
            if (mode == Hostility.CreateWithoutResource)
            {
                var (_, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config, "--json", "--audit", "50");
                var audit = Cli.Json(status).AsArray().Single(t => t!["target"]!.GetValue<string>() == "hostile")!["recentAudit"]!.AsArray();
                Assert.Equal(12, audit.Count(a => a!["result"]!.GetValue<string>() == "failed" && a["detail"]!.GetValue<string>().Contains(reason, StringComparison.Ordinal)));
            }
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
