using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>A feed the configuration asks for and cannot have is an error before anything is written, never a silent fallback.</summary>
[Collection("EndToEnd")]
public sealed class SourceCredentialTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_read_only_source_credential_cannot_set_up_the_feed_and_the_run_stops_before_any_target()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-cred-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        try
        {
            await using var source = await Server.StartAsync("hr", root);
            await using var app = await Server.StartAsync("app", root);
            await source.CreateUserAsync("ann@example.com", kind: "employee");
            using var admin = new HttpClient();
            admin.DefaultRequestHeaders.Authorization = new("Bearer", source.Token);
            var created = await admin.PostAsJsonAsync($"http://127.0.0.1:{source.Port}/admin/tokens", new JsonObject { ["name"] = "engine-reader", ["scopes"] = new JsonArray("scim:read") });
            var reader = (await created.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!.GetValue<string>();
            var config = Path.Combine(root, "sync.yaml");
            string Config(string feed) => $$"""
                state: ./state-{{feed}}
                source: { type: scim, url: "{{source.ScimUrl}}", auth: { type: bearer, token: {{reader}} }, feed: {{feed}} }
                targets:
                  - name: app
                    url: {{app.ScimUrl}}
                    auth: { type: bearer, token: {{app.Token}} }
                """;

            File.WriteAllText(config, Config("poll"));
            var (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
            Assert.True(code == 3, output);
            Assert.Contains("needs the admin scope", output);
            Assert.Empty(await app.UsersAsync());

            // Asked for explicitly, queries need only scim:read.
            File.WriteAllText(config, Config("lastModified"));
            (code, output) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
            Assert.True(code == 0, output);
            Assert.Single(await app.UsersAsync());
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
