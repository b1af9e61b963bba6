using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Bench;

/// <summary>
/// Issue 11: a /Bulk whose bulkId references form a reverse chain (operation i has the group of operation
/// i+1 as its member, so the last runs first). Reports the server's CPU time per request.
/// </summary>
internal static class BulkChainBench
{
    public static async Task<string> RunAsync(string cli, string work, int length, int runs)
    {
        const string token = "bench-token";
        await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "chain-data"), token);
        using var http = new HttpClient { BaseAddress = new Uri(server.BaseUri, "scim/v2/"), Timeout = TimeSpan.FromMinutes(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        string Chain(string tag) => new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
            ["Operations"] = new JsonArray(Enumerable.Range(0, length).Select(i =>
            {
                var data = new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                    ["displayName"] = $"{tag}-{i}",
                    ["externalId"] = $"{tag}-{i}-" + string.Join('-', Enumerable.Range(0, 20)),
                };
                if (i < length - 1) data["members"] = new JsonArray(new JsonObject { ["value"] = $"bulkId:g{i + 1}" });
                return (JsonNode)new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = $"g{i}", ["data"] = data };
            }).ToArray()),
        }.ToJsonString();
        async Task<(TimeSpan Wall, TimeSpan Cpu, int Created)> Send(string tag)
        {
            var body = Chain(tag);
            var cpu = server.Cpu;
            var sw = Stopwatch.StartNew();
            using var resp = await http.PostAsync("Bulk", new StringContent(body, Encoding.UTF8, "application/scim+json"));
            var json = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
            var created = json["Operations"]!.AsArray().Count(o => o!["status"]!.GetValue<string>() == "201");
            return (sw.Elapsed, server.Cpu - cpu, created);
        }
        await Send("warm-up");
        var load = new LoadSample(server.Pid);
        var md = new StringBuilder();
        md.AppendLine("| run | created | server CPU | wall time |");
        md.AppendLine("|---:|---:|---:|---:|");
        for (var r = 1; r <= runs; r++)
        {
            var (wall, cpu, created) = await Send($"run{r}");
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r} | {created:N0} | {cpu.TotalSeconds:F2} s | {wall.TotalSeconds:F2} s |");
            Console.WriteLine($"run {r}: {created} created, CPU {cpu.TotalSeconds:F2} s, wall {wall.TotalSeconds:F2} s");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Chain of {length:N0} group creates, after one warm-up request; {load.Describe()}.");
        return md.ToString();
    }
}
