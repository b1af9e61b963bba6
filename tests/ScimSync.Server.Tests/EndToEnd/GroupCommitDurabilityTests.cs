using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// Group commit under load, with the real process and its default durability: 32 clients write at once, some of
/// their requests fail (a duplicate userName, a PATCH of a missing user), and the server is killed with SIGKILL
/// while they do. Every write that was acknowledged must then be in the database file, with its journal entry
/// (DESIGN.md invariant 1), and no failed request may have left anything. Writes must actually have been
/// committed in groups, or this would test nothing new.
/// </summary>
public sealed class GroupCommitDurabilityTests
{
    private const string Token = "group-admin";
    private const int Clients = 32;

    [Fact]
    public async Task Acknowledged_writes_of_concurrent_clients_are_in_the_file_after_kill_9()
    {
        var root = Path.Combine(Path.GetTempPath(), "scimsync-group-" + Guid.NewGuid().ToString("N")[..12]);
        var dataDir = Path.Combine(root, "data");
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token);
        var acknowledged = new ConcurrentDictionary<string, string>(); // id -> userName
        var refused = new ConcurrentBag<string>();                     // userNames whose create was refused (409)
        long serverErrors = 0;
        double commits = 0, members = 0;
        try
        {
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Clients };
            using var c = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, Clients).Select(w => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        // Every fourth request of a client repeats its previous userName (409); every seventh is a
                        // PATCH of a user that does not exist (404): failures inside the groups.
                        if (i % 7 == 6)
                        {
                            using var missing = await c.PatchAsync($"scim/v2/Users/{Guid.NewGuid()}", new StringContent(
                                """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}""",
                                Encoding.UTF8, "application/scim+json"));
                            if ((int)missing.StatusCode >= 500) Interlocked.Increment(ref serverErrors);
                            continue;
                        }
                        var userName = i % 4 == 3 ? $"g-{w}-{i - 1}" : $"g-{w}-{i}";
                        using var resp = await c.PostAsync("scim/v2/Users", new StringContent(
                            $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{userName}}"}""", Encoding.UTF8, "application/scim+json"));
                        if (resp.StatusCode == HttpStatusCode.Created)
                            acknowledged[JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>()] = userName;
                        else if (resp.StatusCode == HttpStatusCode.Conflict) refused.Add(userName);
                        else if ((int)resp.StatusCode >= 500) Interlocked.Increment(ref serverErrors);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        // The server is gone: a request without an answer may or may not have been committed.
                    }
                }
            })).ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (acknowledged.Count < 1500 && DateTime.UtcNow < deadline) await Task.Delay(20);
            var metrics = await c.GetStringAsync("metrics");
            commits = Counter(metrics, "scimsync_store_group_commits_total");
            members = Counter(metrics, "scimsync_store_group_members_total");
            server.Kill(entireProcessTree: true); // SIGKILL while the clients are still writing
            await server.WaitForExitAsync();
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }
        finally
        {
            if (!server.HasExited) server.Kill(true);
        }
        try
        {
            Assert.Equal(0, serverErrors);
            Assert.True(acknowledged.Count >= 500, $"only {acknowledged.Count} writes acknowledged before the kill");
            Assert.NotEmpty(refused);
            // Groups formed: more request writes than commits (one fsync for several acknowledgements).
            Assert.True(members > commits * 1.5, $"{members} writes in {commits} commits: not grouped");

            // The file as the kill left it (database and WAL), read directly.
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "scimsync.db"), Pooling = false }.ToString());
            db.Open();
            var stored = Rows(db, "SELECT id, user_name_fold FROM resources WHERE type = 'User'");
            var journaled = Rows(db, "SELECT resource_id, operation FROM journal");
            var missing = acknowledged.Keys.Where(id => !stored.ContainsKey(id) || journaled.GetValueOrDefault(id) != "create").ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged creates are not in the file with their journal entry, e.g. {missing.FirstOrDefault()}");
            // Nothing from a refused request: one user per userName, and every stored user has its journal entry.
            Assert.Equal(stored.Count, stored.Values.Distinct().Count());
            Assert.All(stored.Keys, id => Assert.Equal("create", journaled.GetValueOrDefault(id)));
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { } // the key file, beside the data, with it
        }
    }

    private static Dictionary<string, string> Rows(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        while (r.Read()) rows[r.GetString(0)] = r.GetString(1);
        return rows;
    }

    private static double Counter(string prometheus, string name)
    {
        var m = Regex.Match(prometheus, "^" + Regex.Escape(name) + @"(\{[^}]*\})?\s+([0-9.eE+]+)", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
    }
}
