using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Server.Security;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>
/// Passwords set at the source reach the targets with <c>passwords: sync</c> and no other, and are stored in clear
/// nowhere: real `scimsync serve` processes (a source, a PATCH target, a PUT-only target, a `never` target) and the
/// real engine (`sync run --watch`), every file of theirs and everything they logged searched byte by byte.
/// </summary>
[Collection("EndToEnd")]
public sealed class PasswordSyncTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    private static string Root() => Path.Combine(Path.GetTempPath(), "scimsync-pw-" + Guid.NewGuid().ToString("N")[..10]);

    private static string Config(string root, Server source, params (Server Server, string Extra)[] targets)
    {
        var yaml = new StringBuilder($$"""
            state: ./state
            source: { type: scim, url: "{{source.ScimUrl}}", auth: { type: bearer, token: {{source.Token}} } }
            targets:

            """);
        foreach (var (t, extra) in targets)
            yaml.Append($$"""
                  - name: {{t.Name}}
                    url: {{t.ScimUrl}}
                    auth: { type: bearer, token: {{t.Token}} }
                {{extra}}

                """);
        var path = Path.Combine(root, "sync.yaml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    [Fact]
    public async Task A_password_changed_at_the_source_reaches_the_sync_targets_only_and_is_stored_in_clear_nowhere()
    {
        var root = Root();
        Directory.CreateDirectory(root);
        await using var source = await Server.StartAsync("hr", root, "--log-level", "debug");
        await using var patchTarget = await Server.StartAsync("mail", root, "--log-level", "debug");
        await using var putTarget = await Server.StartAsync("wiki", root, "--disable", "patch", "--log-level", "debug");
        await using var never = await Server.StartAsync("crm", root, "--log-level", "debug");
        var ann = await source.CreateUserAsync("ann@example.com", kind: "employee");
        var annId = ann["id"]!.GetValue<string>();
        var config = Config(root, source,
            (patchTarget, "    passwords: sync"),
            (putTarget, "    dialect: { usePut: true }\n    passwords: sync"),
            (never, ""));
        // A subscriber without the right to passwords, reading full payloads: it must never see any password material.
        var bystander = await source.Client.PostJsonAsync("/feeds/v1/subscriptions", new JsonObject
        {
            ["name"] = "bystander", ["audience"] = "https://bystander.test", ["payload"] = "full", ["delivery"] = "poll",
        }, CancellationToken.None);
        var bystanderId = bystander["id"]!.GetValue<string>();

        var engineLog = new StringBuilder();
        using var engine = Cli.Start(["sync", "run", "--config", config, "--watch", "--log-format", "json", "--log-level", "debug"], null, engineLog);
        var secret = "Pw-" + Guid.NewGuid().ToString("N") + "-\"ünïcödé\"\\";
        try
        {
            await WaitAsync(async () => (await patchTarget.UsersAsync()).Count == 1 && (await putTarget.UsersAsync()).Count == 1 && (await never.UsersAsync()).Count == 1, engineLog);
            await WaitAsync(() => Task.FromResult(Subscriptions(source).Result.Any(s => s["passwordKey"] is JsonObject)), engineLog);

            await source.PatchAsync("Users", annId, Server.Replace("password", secret));
            await WaitAsync(() => Task.FromResult(PasswordIs(patchTarget, "ann@example.com", secret) && PasswordIs(putTarget, "ann@example.com", secret)), engineLog);
            // The audit says "password set" for each sync target, with the result and no value.
            await WaitAsync(async () =>
            {
                var (_, log) = await Cli.RunAsync(RunTimeout, "sync", "log", "--config", config, "--user", "ann@example.com", "--json");
                return log.Split("password set").Length - 1 >= 2 && !log.Contains("\"failed\"", StringComparison.Ordinal);
            }, engineLog);

            // A second change, made while a routine change goes with it, replaces the first everywhere it goes.
            var second = secret + "-2";
            await source.PatchAsync("Users", annId, Server.Replace("password", second), Server.Replace("title", "Engineer"));
            await WaitAsync(() => Task.FromResult(PasswordIs(patchTarget, "ann@example.com", second) && PasswordIs(putTarget, "ann@example.com", second)), engineLog);
            await WaitAsync(async () => (await never.UsersAsync()).Single()["title"]?.GetValue<string>() == "Engineer", engineLog);
            Assert.Null(HashOf(never, "ann@example.com"));

            // The bystander's events say a password changed and nothing more; its passwords endpoint is closed.
            // (Fan-out is asynchronous: polled until both changes arrived.)
            var sets = new List<string>();
            var ack = new JsonArray();
            await WaitAsync(async () =>
            {
                var polled = await source.Client.PostJsonAsync($"/feeds/v1/subscriptions/{bystanderId}/poll",
                    new JsonObject { ["returnImmediately"] = true, ["maxEvents"] = 100, ["ack"] = ack }, CancellationToken.None);
                ack = [];
                foreach (var (jti, token) in (JsonObject)polled["sets"]!)
                {
                    sets.Add(SetClaims(token!.GetValue<string>()));
                    ack.Add(jti);
                }
                return sets.Count >= 2;
            }, engineLog);
            foreach (var claims in sets)
            {
                Assert.DoesNotContain(secret[3..35], claims, StringComparison.Ordinal);
                Assert.DoesNotContain("jwe", claims, StringComparison.OrdinalIgnoreCase);
            }
            var refused = await Assert.ThrowsAsync<Client.ScimClientException>(() =>
                source.Client.PostJsonAsync($"/feeds/v1/subscriptions/{bystanderId}/passwords", new JsonObject { ["returnImmediately"] = true }, CancellationToken.None));
            Assert.Equal(403, refused.Status);
            // Nor may the engine subscription's own poll token take passwords: whoever takes one decides whether it is delivered.
            var engineSub = (await Subscriptions(source)).Single(s => s["passwordKey"] is JsonObject);
            Assert.Equal(HttpStatusCode.Forbidden, await PostWithoutAdminAsync(source, $"/feeds/v1/subscriptions/{engineSub["id"]}/passwords"));
        }
        finally
        {
            engine.Kill(true);
            await engine.WaitForExitAsync();
        }
        foreach (var s in new[] { source, patchTarget, putTarget, never }) await s.StopAsync();

        // Every file of the servers and the engine (databases, WAL, keys, state) and everything they printed.
        var logs = new StringBuilder().Append(engineLog).Append(source.Output).Append(patchTarget.Output).Append(putTarget.Output).Append(never.Output).ToString();
        Assert.Contains("password set", logs, StringComparison.Ordinal);
        foreach (var value in new[] { secret, secret + "-2" })
        {
            Assert.Empty(ClearText.Find(root, value));
            Assert.False(ClearText.Contains(Encoding.UTF8.GetBytes(logs), value), "the value is in a log");
        }
        Delete(root);
    }

    [Fact]
    public async Task The_scan_finds_a_value_that_is_stored()
    {
        // What proves the scan above can fail: an attribute that is not a secret, stored by the source and a target.
        var root = Root();
        Directory.CreateDirectory(root);
        await using var source = await Server.StartAsync("hr", root);
        var planted = "Planted-" + Guid.NewGuid().ToString("N") + "-\"ünïcödé\"\\";
        await source.CreateUserAsync("bob@example.com");
        var bob = (await source.UsersAsync()).Single();
        await source.PatchAsync("Users", bob["id"]!.GetValue<string>(), Server.Replace("title", planted));
        await source.StopAsync();
        Assert.NotEmpty(ClearText.Find(root, planted));
        // And each form it looks for, alone, in a file of its own.
        foreach (var form in ClearText.Forms(planted))
        {
            var file = Path.Combine(root, "planted.bin");
            File.WriteAllBytes(file, [0, 1, .. form, 2]);
            Assert.Contains(file, ClearText.Find(root, planted));
            File.Delete(file);
        }
        Delete(root);
    }

    [Fact]
    public async Task A_password_that_expires_before_the_engine_takes_it_is_reported_not_delivered()
    {
        var root = Root();
        Directory.CreateDirectory(root);
        await using var source = await Server.StartAsync("hr", root, "--password-expiry", "1");
        await using var target = await Server.StartAsync("mail", root);
        var ann = await source.CreateUserAsync("ann@example.com", kind: "employee");
        var config = Config(root, source, (target, "    passwords: sync"));
        var engineLog = new StringBuilder();
        var engine = Cli.Start(["sync", "run", "--config", config, "--watch", "--log-format", "json"], null, engineLog);
        await WaitAsync(async () => (await target.UsersAsync()).Count == 1 && (await Subscriptions(source)).Any(s => s["passwordKey"] is JsonObject), engineLog);
        engine.Kill(true);
        await engine.WaitForExitAsync();
        engine.Dispose();

        // Changed while the engine is down; it expires (and the source says so) before the engine comes back.
        var secret = "Late-" + Guid.NewGuid().ToString("N");
        await source.PatchAsync("Users", ann["id"]!.GetValue<string>(), Server.Replace("password", secret));
        await WaitAsync(() => Task.FromResult(Text(source.Output).Contains("expired", StringComparison.Ordinal) && Text(source.Output).Contains(ann["id"]!.GetValue<string>(), StringComparison.Ordinal)), source.Output);

        engineLog.Clear();
        using (var again = Cli.Start(["sync", "watch", "--config", config, "--log-format", "json"], null, engineLog))
        {
            try
            {
                await WaitAsync(() => Task.FromResult(Text(engineLog).Contains("\"EventId\":3700", StringComparison.Ordinal)), engineLog);
            }
            finally
            {
                again.Kill(true);
                await again.WaitForExitAsync();
            }
        }
        Assert.Null(HashOf(target, "ann@example.com"));
        // Reported in the provisioning log (which `sync status` shows too), and not retried: the source forgot it.
        var (_, log) = await Cli.RunAsync(RunTimeout, "sync", "log", "--config", config, "--user", "ann@example.com", "--json");
        Assert.Contains("password set", log, StringComparison.Ordinal);
        Assert.Contains("expired", log, StringComparison.Ordinal);
        var (_, status) = await Cli.RunAsync(RunTimeout, "sync", "status", "--config", config);
        Assert.Contains("password set", status, StringComparison.Ordinal);
        var sub = (await Subscriptions(source)).Single(s => s["passwordKey"] is JsonObject);
        var left = await source.Client.PostJsonAsync($"/feeds/v1/subscriptions/{sub["id"]}/passwords", new JsonObject { ["returnImmediately"] = true }, CancellationToken.None);
        Assert.Empty((JsonArray)left["passwords"]!);
        await source.StopAsync();
        await target.StopAsync();
        Assert.Empty(ClearText.Find(root, secret));
        Delete(root);
    }

    private static async Task<List<JsonObject>> Subscriptions(Server source) =>
        ((JsonArray)(await source.Client.GetJsonAsync("/feeds/v1/subscriptions", CancellationToken.None))!["subscriptions"]!).OfType<JsonObject>().ToList();

    /// <summary>A call with a token that has every SCIM scope but admin.</summary>
    private static async Task<HttpStatusCode> PostWithoutAdminAsync(Server source, string path)
    {
        var created = await source.Client.PostJsonAsync("/admin/tokens", new JsonObject { ["name"] = "rw-" + Guid.NewGuid().ToString("N")[..6], ["scopes"] = new JsonArray("scim:read", "scim:write") }, CancellationToken.None);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{source.Port}{path}") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", created["secret"]!.GetValue<string>());
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private static string SetClaims(string token) =>
        Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(token.Split('.')[1]));

    /// <summary>The target's stored hash (test-only: the target never returns a password), checked with the server's own hasher.</summary>
    private static bool PasswordIs(Server target, string userName, string password) =>
        HashOf(target, userName) is { } hash && PasswordHasher.Verify(password, hash);

    private static string? HashOf(Server target, string userName)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(target.DataDir, "scimsync.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT password_hash FROM resources WHERE type = 'User' AND json_extract(data, '$.userName') = $u";
        cmd.Parameters.AddWithValue("$u", userName);
        return cmd.ExecuteScalar() as string;
    }

    private static string Text(StringBuilder b)
    {
        lock (b) return b.ToString();
    }

    private static void Delete(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, StringBuilder log, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is Client.ScimClientException or HttpRequestException or NullReferenceException or SqliteException or InvalidOperationException) { }
            await Task.Delay(100);
        }
        Assert.Fail("condition not met in time; output:\n" + Text(log));
    }
}

/// <summary>
/// Searches files byte by byte for a value in every form it could be written in: UTF-8, JSON-escaped (strict and
/// relaxed encoders), UTF-16, base64 and base64url of its UTF-8 bytes, and its longest ASCII run alone.
/// </summary>
internal static class ClearText
{
    public static IEnumerable<byte[]> Forms(string value)
    {
        yield return Encoding.UTF8.GetBytes(value);
        var strict = System.Text.Json.JsonSerializer.Serialize(value);
        yield return Encoding.UTF8.GetBytes(strict[1..^1]);
        var relaxed = System.Text.Json.JsonSerializer.Serialize(value, new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        yield return Encoding.UTF8.GetBytes(relaxed[1..^1]);
        yield return Encoding.Unicode.GetBytes(value);
        yield return Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).TrimEnd('=')[..^4]);
        yield return Encoding.ASCII.GetBytes(System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(value))[..^4]);
        // The random part alone: whatever else surrounds or escapes it.
        var ascii = value.Split(['"', '\\', 'ü', 'ï', 'ö', 'é']).OrderByDescending(p => p.Length).First();
        yield return Encoding.ASCII.GetBytes(ascii);
    }

    public static List<string> Find(string root, string value)
    {
        var forms = Forms(value).ToArray();
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (IOException)
            {
                continue;
            }
            if (forms.Any(f => bytes.AsSpan().IndexOf(f) >= 0)) found.Add(file);
        }
        return found;
    }

    public static bool Contains(byte[] bytes, string value) => Forms(value).Any(f => bytes.AsSpan().IndexOf(f) >= 0);
}
