using System.Text.Json.Nodes;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>
/// A data directory holding <see cref="Count"/> users, made once per test run through the client's own
/// POST /Bulk; each test starts a server on a copy of it, configured as it needs.
/// </summary>
public sealed class SeededUsers : IAsyncLifetime
{
    public const int Count = 2500;

    public string Directory { get; private set; } = null!;

    public static string UserName(int i) => $"seeded-{i:0000}";

    public async Task InitializeAsync()
    {
        var server = await TargetServer.StartAsync();
        Directory = server.DataDirectory;
        using (var client = server.Client())
        {
            for (var batch = 0; batch < Count; batch += 1000)
            {
                var ops = new JsonArray();
                for (var i = batch; i < Math.Min(Count, batch + 1000); i++)
                {
                    ops.Add(new JsonObject
                    {
                        ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = $"u{i}",
                        ["data"] = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = UserName(i) },
                    });
                }
                var response = await client.PostJsonAsync("Bulk", new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                    ["Operations"] = ops,
                }, CancellationToken.None);
                var failed = response["Operations"]!.AsArray().Where(o => o!["status"]!.GetValue<string>() != "201").ToList();
                Assert.True(failed.Count == 0, $"seeding failed: {failed.FirstOrDefault()?.ToJsonString()}");
            }
        }
        await server.StopAsync();
    }

    public Task DisposeAsync()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class SeededCollection : ICollectionFixture<SeededUsers>
{
    public const string Name = "seeded target";
}
