using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

using ScimSync.Secrets;
using ScimSync.Server.Hosting;

namespace ScimSync.Server.Tests.Observability;

/// <summary>Standard error belongs to the whole process: these tests run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCapture
{
    public const string Name = "Console capture";
}

/// <summary>
/// The server as `serve --log-format json` builds it (ScimServerHost with Observability.ConfigureLogging), its
/// standard error captured: every line is one JSON object with an event id, and fields travel as fields.
/// </summary>
[Collection(ConsoleCapture.Name)]
public sealed class JsonLogTests
{
    [Fact]
    public async Task Every_line_is_a_json_object_with_an_event_id_and_its_fields()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scimsync-tests", Guid.NewGuid().ToString("N"));
        PrivateFiles.EnsureDirectory(dir, "data directory");
        var captured = new StringWriter();
        var stderr = Console.Error;
        // Before the host exists: the console logger takes standard error when it is created.
        Console.SetError(TextWriter.Synchronized(captured));
        try
        {
            var app = ScimServerHost.Build(new ScimServerOptions { DataDirectory = dir, AdminToken = "admin" }, ["--urls", "http://127.0.0.1:0"],
                b => ScimSync.Cli.Observability.ConfigureLogging(b.Logging, "json", LogLevel.Information));
            await app.StartAsync();
            var root = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using (var http = new HttpClient { BaseAddress = new Uri(root) })
            {
                // Six refused tokens from one address: one entry now, the other five counted into the next.
                for (var i = 0; i < 6; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/scim/v2/Users");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-token-" + i);
                    Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request)).StatusCode);
                }
                using var ok = new HttpRequestMessage(HttpMethod.Get, "/scim/v2/Users");
                ok.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "admin");
                Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(ok)).StatusCode);
            }
            await app.StopAsync();
            // Disposing the host disposes the console logger, which writes out its queue first.
            await app.DisposeAsync();
        }
        finally
        {
            Console.SetError(stderr);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            File.Delete(KeyRing.DefaultPathFor(dir));
        }

        var lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEmpty(lines);
        var entries = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.All(entries, e =>
        {
            Assert.True(e.GetProperty("EventId").GetInt32() >= 0);
            Assert.False(string.IsNullOrEmpty(e.GetProperty("LogLevel").GetString()));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Category").GetString()));
            Assert.True(e.TryGetProperty("Timestamp", out _));
        });
        var refused = Assert.Single(entries, e => e.GetProperty("EventId").GetInt32() == 1001);
        Assert.Equal("Warning", refused.GetProperty("LogLevel").GetString());
        var state = refused.GetProperty("State");
        Assert.Equal("127.0.0.1", state.GetProperty("ClientAddress").GetString());
        Assert.Equal("unknown, revoked or expired token", state.GetProperty("Reason").GetString());
        Assert.Equal("/scim/v2/Users", state.GetProperty("Path").GetString());
        Assert.Equal(0, state.GetProperty("Suppressed").GetInt32());
        // A request that succeeds is not logged, nor is ASP.NET Core's per-request chatter at Information.
        Assert.DoesNotContain(entries, e => e.GetProperty("Category").GetString()!.StartsWith("Microsoft.AspNetCore.Hosting", StringComparison.Ordinal));
    }
}
