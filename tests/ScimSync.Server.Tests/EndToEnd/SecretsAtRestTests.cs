using System.Net;
using System.Net.Http.Headers;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// DESIGN.md invariant 9 against the real `scimsync serve`, judged the way an attacker holding a copy of the data
/// directory (a backup, a stray file, a local account) would: file modes and raw bytes. Nothing here uses the
/// server's own code to look, only the files, the process and HTTP.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class SecretsAtRestTests
{
    private const string Token = "secrets-admin";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static HttpClient Client(int port)
    {
        var c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return c;
    }

    private static async Task<JsonObject> PostAsync(HttpClient c, string path, string json)
    {
        using var resp = await c.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/scim+json"));
        var text = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.IsSuccessStatusCode, $"{path}: {(int)resp.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static Task<JsonObject> SubscribeAsync(HttpClient c, string name, string signing) => PostAsync(c, "feeds/v1/subscriptions",
        $$"""{"name":"{{name}}","audience":"https://receiver.test","delivery":"poll","payload":"full","resourceTypes":["User"],"signing":"{{signing}}"}""");

    private static Task<JsonObject> CreateUserAsync(HttpClient c, string userName) =>
        PostAsync(c, "scim/v2/Users", $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{userName}}"}""");

    private static async Task StopAsync(System.Diagnostics.Process server)
    {
        server.Kill(entireProcessTree: true); // SIGKILL: the WAL stays as it was, nothing is tidied up
        await server.WaitForExitAsync();
    }

    private static void Cleanup(string root)
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_fresh_data_directory_is_private_and_its_key_file_lives_apart()
    {
        var root = RawFiles.NewRoot("scimsync-modes-");
        var dataDir = Path.Combine(root, "nested", "data");
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token);
        try
        {
            using var c = Client(port);
            await SubscribeAsync(c, "modes", "HS256");
            await CreateUserAsync(c, "modes-user");
            using (var page = await c.GetAsync("scim/v2/Users?cursor&count=1")) Assert.Equal(HttpStatusCode.OK, page.StatusCode);

            // Checked while the server runs, when the WAL and shared-memory files exist.
            Assert.Equal("0700", RawFiles.Mode(dataDir));
            var files = Directory.GetFiles(dataDir).Select(Path.GetFileName).ToArray();
            Assert.Contains("scimsync.db", files);
            Assert.Contains("scimsync.db-wal", files);
            Assert.Contains("scimsync.db-shm", files);
            Assert.Contains("cursor.key", files);
            Assert.All(Directory.GetFiles(dataDir), f => Assert.True(RawFiles.Mode(f) == "0600", $"{Path.GetFileName(f)} is {RawFiles.Mode(f)}"));

            var keyFile = dataDir + ".key";
            Assert.True(File.Exists(keyFile), "no key file beside the data directory");
            Assert.Equal("0600", RawFiles.Mode(keyFile));
        }
        finally
        {
            await StopAsync(server);
            Cleanup(root);
        }
    }

    [Theory]
    [InlineData("directory readable by others")]
    [InlineData("directory writable by group")]
    [InlineData("database readable by others")]
    [InlineData("key file readable by others")]
    [InlineData("key file inside the data directory")]
    public async Task Serve_refuses_data_or_keys_others_can_reach_with_one_clear_line(string exposure)
    {
        var root = RawFiles.NewRoot("scimsync-refuse-");
        var dataDir = Path.Combine(root, "data");
        Directory.CreateDirectory(dataDir, Private);
        string[] extra = [];
        var named = dataDir;
        switch (exposure)
        {
            case "directory readable by others":
                File.SetUnixFileMode(dataDir, Private | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                break;
            case "directory writable by group":
                File.SetUnixFileMode(dataDir, Private | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
                break;
            case "database readable by others":
                // An empty file is an empty SQLite database: what a copy made with the wrong umask looks like.
                named = Path.Combine(dataDir, "scimsync.db");
                File.WriteAllBytes(named, []);
                File.SetUnixFileMode(named, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                break;
            case "key file readable by others":
                named = dataDir + ".key";
                File.WriteAllText(named, "{}");
                File.SetUnixFileMode(named, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
                break;
            case "key file inside the data directory":
                named = Path.Combine(dataDir, "keys");
                extra = ["--key-file", named];
                break;
        }
        try
        {
            var (code, err) = await ServeProcess.StartExpectingRefusalAsync(dataDir, extra);
            Assert.NotEqual(0, code);
            var message = err.Trim();
            Assert.DoesNotContain('\n', message);
            Assert.StartsWith("scimsync: ", message);
            Assert.Contains(named, message);
            Assert.DoesNotContain("   at ", message); // a message, not a stack trace
        }
        finally
        {
            File.SetUnixFileMode(dataDir, Private);
            Cleanup(root);
        }
    }

    [Fact]
    public async Task No_signing_key_or_cursor_key_is_in_clear_in_the_data_directory()
    {
        var root = RawFiles.NewRoot("scimsync-clear-");
        var dataDir = Path.Combine(root, "data");
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token);
        string secret;
        try
        {
            using var c = Client(port);
            secret = (await SubscribeAsync(c, "hs", "HS256"))["secret"]!.GetValue<string>();
            await SubscribeAsync(c, "rs", "RS256");
            await SubscribeAsync(c, "es", "ES256");
            for (var i = 0; i < 5; i++) await CreateUserAsync(c, "clear-" + i);
            using (var page = await c.GetAsync("scim/v2/Users?cursor&count=2")) Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }
        finally
        {
            await StopAsync(server);
        }
        try
        {
            // The WAL is left as the kill found it: frames not yet checkpointed count as much as the database.
            Assert.Empty(RawFiles.FilesContaining(dataDir, secret));
            Assert.Empty(RawFiles.FilesContaining(dataDir, Convert.FromBase64String(secret)));
            Assert.Empty(RawFiles.FilesContaining(dataDir, "PRIVATE KEY"));
            var cursorKey = File.ReadAllText(Path.Combine(dataDir, "cursor.key")).Trim();
            var buffer = new byte[64];
            Assert.False(Convert.TryFromBase64String(cursorKey, buffer, out var length) && length == 32, "cursor.key holds a clear 256-bit key");
        }
        finally
        {
            Cleanup(root);
        }
    }

    /// <summary>
    /// A data directory written by the previous build (Storage/LegacyData, from commit cbf6183): after the
    /// operator's `chmod -R go-rwx`, the first start seals every key in place, leaves no clear copy in the files,
    /// and the same keys go on signing (subscribers need no new secret).
    /// </summary>
    [Fact]
    public async Task A_previous_builds_data_directory_is_sealed_in_place_and_keeps_its_keys()
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "Storage", "LegacyData");
        var legacy = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture, "secrets.json")))!;
        var root = RawFiles.NewRoot("scimsync-legacy-");
        var dataDir = Path.Combine(root, "data");
        Directory.CreateDirectory(dataDir, Private);
        foreach (var name in new[] { "scimsync.db", "cursor.key" })
        {
            File.Copy(Path.Combine(fixture, name), Path.Combine(dataDir, name));
            File.SetUnixFileMode(Path.Combine(dataDir, name), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        // What must not survive in clear, read from the old files themselves.
        var hsSecret = legacy["hs256"]!["secret"]!.GetValue<string>();
        var cursorKey = legacy["cursorKey"]!.GetValue<string>();
        const string engineSecret = "4tu42G2Xv4sXVI/uVdkbvn8lCzW1WX+e8HMdtbkc2Qs="; // the sync engine's subscription (LegacyData/README.md)
        Assert.NotEmpty(RawFiles.FilesContaining(dataDir, hsSecret));
        Assert.NotEmpty(RawFiles.FilesContaining(dataDir, engineSecret));
        Assert.NotEmpty(RawFiles.FilesContaining(dataDir, "PRIVATE KEY"));

        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token);
        try
        {
            using var c = Client(port);
            // The same RS256 and ES256 keys: their published JWKS is what it was.
            foreach (var alg in new[] { "rs256", "es256" })
            {
                var jwks = await c.GetStringAsync($"feeds/v1/subscriptions/{legacy[alg]!["id"]!.GetValue<string>()}/jwks");
                Assert.True(JsonNode.DeepEquals(legacy[alg]!["jwks"], JsonNode.Parse(jwks)), $"{alg} JWKS changed: {jwks}");
            }
            // The same HS256 secret: a SET for a new change verifies with the secret the subscriber got back then.
            var created = await CreateUserAsync(c, "after-upgrade");
            using var poller = new HttpClient { BaseAddress = c.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            poller.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", legacy["hs256"]!["pollToken"]!.GetValue<string>());
            var hsId = legacy["hs256"]!["id"]!.GetValue<string>();
            var tokens = new List<string>();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!tokens.Any(t => SetToken.Claims(t)["sub_id"]?["id"]?.GetValue<string>() == created["id"]!.GetValue<string>()) && DateTime.UtcNow < deadline)
            {
                using var resp = await poller.PostAsync($"feeds/v1/subscriptions/{hsId}/poll",
                    new StringContent("""{"maxEvents":100,"returnImmediately":false}""", Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
                tokens.AddRange(JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["sets"]!.AsObject().Select(kv => kv.Value!.GetValue<string>()));
            }
            Assert.Contains(tokens, t => SetToken.Claims(t)["sub_id"]?["id"]?.GetValue<string>() == created["id"]!.GetValue<string>());
            Assert.All(tokens, t => Assert.True(VerifiesHs256(t, Convert.FromBase64String(hsSecret)), "a SET does not verify with the subscription's secret"));
            using (var page = await c.GetAsync("scim/v2/Users?cursor&count=2")) Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }
        finally
        {
            await StopAsync(server);
        }
        try
        {
            Assert.Empty(RawFiles.FilesContaining(dataDir, hsSecret));
            Assert.Empty(RawFiles.FilesContaining(dataDir, Convert.FromBase64String(hsSecret)));
            Assert.Empty(RawFiles.FilesContaining(dataDir, engineSecret));
            Assert.Empty(RawFiles.FilesContaining(dataDir, "PRIVATE KEY"));
            Assert.Empty(RawFiles.FilesContaining(dataDir, cursorKey));
            Assert.Empty(RawFiles.FilesContaining(dataDir, Convert.FromBase64String(cursorKey)));
            Assert.True(File.Exists(dataDir + ".key"), "no key file beside the data directory");
            Assert.Equal("0600", RawFiles.Mode(dataDir + ".key"));
        }
        finally
        {
            Cleanup(root);
        }
    }

    [Fact]
    public async Task Keys_rotate_waits_for_the_server_to_stop_then_reseals_everything_and_the_old_key_is_gone()
    {
        var root = RawFiles.NewRoot("scimsync-rotate-");
        var dataDir = Path.Combine(root, "data");
        var keyFile = Path.Combine(root, "elsewhere.key");
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(dataDir, port, Token, "--key-file", keyFile);
        string secret, pollToken, id, jwks, rsId;
        try
        {
            using var c = Client(port);
            var hs = await SubscribeAsync(c, "hs", "HS256");
            (secret, pollToken, id) = (hs["secret"]!.GetValue<string>(), hs["pollToken"]!.GetValue<string>(), hs["id"]!.GetValue<string>());
            rsId = (await SubscribeAsync(c, "rs", "RS256"))["id"]!.GetValue<string>();
            jwks = await c.GetStringAsync($"feeds/v1/subscriptions/{rsId}/jwks");
            Assert.False(File.Exists(dataDir + ".key"), "--key-file was not used");

            var (busy, _, busyErr) = await ServeProcess.RunCliAsync("keys", "rotate", "--data", dataDir, "--key-file", keyFile);
            Assert.Equal(3, busy);
            Assert.Contains("stop it first", busyErr);
        }
        finally
        {
            await StopAsync(server);
        }
        try
        {
            var before = JsonNode.Parse(File.ReadAllText(keyFile))!["current"]!.GetValue<string>();
            var (code, output, err) = await ServeProcess.RunCliAsync("keys", "rotate", "--data", dataDir, "--key-file", keyFile);
            Assert.True(code == 0, err);
            var keys = JsonNode.Parse(File.ReadAllText(keyFile))!;
            var after = keys["current"]!.GetValue<string>();
            Assert.NotEqual(before, after);
            Assert.Contains(before, output);
            Assert.Equal([after], keys["keys"]!.AsArray().Select(k => k!["id"]!.GetValue<string>()));
            Assert.Empty(RawFiles.FilesContaining(dataDir, $"scimsync-sealed:v1:{before}:"));
            Assert.NotEmpty(RawFiles.FilesContaining(dataDir, $"scimsync-sealed:v1:{after}:"));

            port = ServeProcess.FreePort();
            server = await ServeProcess.StartAsync(dataDir, port, Token, "--key-file", keyFile);
            try
            {
                using var c = Client(port);
                Assert.Equal(jwks, await c.GetStringAsync($"feeds/v1/subscriptions/{rsId}/jwks"));
                await CreateUserAsync(c, "after-rotation");
                using var poller = new HttpClient { BaseAddress = c.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
                poller.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", pollToken);
                using var resp = await poller.PostAsync($"feeds/v1/subscriptions/{id}/poll",
                    new StringContent("""{"maxEvents":10,"returnImmediately":false}""", Encoding.UTF8, "application/json"));
                var set = Assert.Single(JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["sets"]!.AsObject()).Value!.GetValue<string>();
                Assert.True(VerifiesHs256(set, Convert.FromBase64String(secret)));
            }
            finally
            {
                await StopAsync(server);
            }

            // Without its key file the data cannot be used: the start is refused, naming what is missing.
            File.Move(keyFile, keyFile + ".away");
            var (refused, message) = await ServeProcess.StartExpectingRefusalAsync(dataDir, "--key-file", keyFile);
            Assert.Equal(3, refused);
            Assert.Contains(keyFile, message);
            Assert.Contains(after, message);
        }
        finally
        {
            Cleanup(root);
        }
    }

    private static bool VerifiesHs256(string jws, byte[] secret)
    {
        var dot = jws.LastIndexOf('.');
        var mac = HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(jws[..dot]));
        return System.Buffers.Text.Base64Url.EncodeToString(mac) == jws[(dot + 1)..];
    }
}
