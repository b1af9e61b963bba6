using System.Net;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.Observability;

/// <summary>/healthz/ready fails when the store cannot be read or the disk is short, and recovers; /healthz and /healthz/live do not.</summary>
public sealed class ReadinessTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    internal static async Task<(HttpStatusCode Status, JsonObject Body)> ProbeAsync(ScimServerFixture server, string path)
    {
        using var http = new HttpClient();
        var r = await http.GetAsync(new Uri(server.BaseAddress, path));
        var text = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, JsonNode.Parse(text) as JsonObject ?? throw new InvalidOperationException(text));
    }

    [Fact]
    public async Task Readiness_fails_while_the_store_cannot_be_read()
    {
        var (status, body) = await ProbeAsync(server, "/healthz/ready");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", body["checks"]!["store"]!["status"]!.GetValue<string>());

        await using (await server.TakeStoreAwayAsync())
        {
            (status, body) = await ProbeAsync(server, "/healthz/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("Unhealthy", body["status"]!.GetValue<string>());
            Assert.Equal("Unhealthy", body["checks"]!["store"]!["status"]!.GetValue<string>());
            Assert.StartsWith("the store does not answer", body["checks"]!["store"]!["description"]!.GetValue<string>());
            Assert.Equal("Healthy", body["checks"]!["disk"]!["status"]!.GetValue<string>());
            // Liveness and the old contract are about the process, not its dependencies.
            Assert.Equal(HttpStatusCode.OK, (await ProbeAsync(server, "/healthz/live")).Status);
            using var http = new HttpClient();
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(server.BaseAddress, "/healthz"))).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await ProbeAsync(server, "/healthz/ready")).Status);
    }
}

/// <summary>A server whose free-space minimum is more than any disk has: readiness fails on the disk check alone.</summary>
public sealed class DiskReadinessTests(DiskReadinessTests.Server server) : IClassFixture<DiskReadinessTests.Server>
{
    public sealed class Server : ScimServerFixture
    {
        protected override ScimServerOptions Configure(ScimServerOptions options) => options with { ReadyMinFreeBytes = long.MaxValue };
    }

    [Fact]
    public async Task Readiness_fails_when_free_space_is_below_the_minimum()
    {
        var (status, body) = await ReadinessTests.ProbeAsync(server, "/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("Unhealthy", body["checks"]!["disk"]!["status"]!.GetValue<string>());
        Assert.Contains("MiB free in " + server.DataDirectory, body["checks"]!["disk"]!["description"]!.GetValue<string>());
        Assert.Equal("Healthy", body["checks"]!["store"]!["status"]!.GetValue<string>());
        Assert.Equal("Healthy", body["checks"]!["fanout"]!["status"]!.GetValue<string>());
    }
}
