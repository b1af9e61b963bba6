using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.EndToEnd;

/// <summary>
/// The command line as a person and a script meet it, on the real `scimsync` binary: help everywhere and
/// without side effects, mistakes refused with a suggestion (exit 2), the version with its commit, JSON that
/// parses on standard output, tables that do not wrap into a pipe, text without JSON escapes.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-cli-" + Guid.NewGuid().ToString("N")[..12]);

    public CommandLineTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        File.Delete(_root + "-data.key");
    }

    /// <summary>Every verb and sub-verb; the test below checks this list against the root's help so a new verb is not forgotten.</summary>
    public static readonly string[][] Verbs =
    [
        [], ["serve"], ["status"],
        ["token"], ["token", "create"], ["token", "list"], ["token", "revoke"],
        ["events"], ["events", "list"], ["events", "create"], ["events", "show"], ["events", "pause"], ["events", "resume"], ["events", "disable"],
        ["events", "delete"], ["events", "rewind"], ["events", "dead-letters"], ["events", "replay"], ["events", "discard"],
        ["keys"], ["keys", "rotate"],
        ["sync"], ["sync", "plan"], ["sync", "run"], ["sync", "confirm"], ["sync", "reconcile"], ["sync", "status"], ["sync", "watch"],
    ];

    [Fact]
    public async Task Help_on_every_verb_prints_usage_and_touches_nothing()
    {
        // The port is held by this test: a verb that tried to serve would fail to bind and say so, not print help.
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var data = Path.Combine(_root, "never-created");
        var env = new Dictionary<string, string> { ["SCIMSYNC_DATA"] = data, ["SCIMSYNC_URLS"] = $"http://127.0.0.1:{port}", ["SCIMSYNC_ADMIN_TOKEN"] = "help" };
        var work = Path.Combine(_root, "cwd");
        Directory.CreateDirectory(work);
        var listed = new List<string>();
        foreach (var verb in Verbs)
        {
            // Arguments that would make the verb do something if --help did not win.
            string[] extra = verb switch
            {
                ["serve"] => ["--data", data, "--urls", $"http://127.0.0.1:{port}"],
                ["sync", _] or ["keys", "rotate"] => ["--config", Path.Combine(work, "sync.yaml")],
                ["token", "create"] => ["--name", "x", "--data", data],
                _ => [],
            };
            var (code, stdout, stderr) = await ServeProcess.RunCliInAsync(env, work, [.. verb, .. extra, "--help"]);
            Assert.True(code == 0, $"scimsync {string.Join(' ', verb)} --help exited {code}: {stderr}");
            Assert.Contains("Usage:", stdout);
            Assert.Equal("", stderr);
            if (verb.Length == 0) listed.AddRange(stdout.Split('\n').SkipWhile(l => !l.StartsWith("Commands:", StringComparison.Ordinal)).Skip(1)
                .Select(l => l.Trim().Split(' ')[0]).Where(w => w.Length > 0));
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
        Assert.False(Directory.Exists(data));
        Assert.False(File.Exists(data + ".key"));
        Assert.Equal(listed.Order(), Verbs.Where(v => v.Length == 1).Select(v => v[0]).Order());
    }

    [Theory]
    [InlineData("--max-results", "serve", "--max-result", "5")]
    [InlineData("--confirm", "sync", "run", "--config", "x.yaml", "--confrim")]
    [InlineData("token", "tokn", "list")]
    [InlineData("dead-letters", "events", "dead-leters", "x")]
    [InlineData("--report-only", "sync", "reconcile", "--config", "x.yaml", "--report-onyl")]
    public async Task Unknown_verbs_and_options_exit_2_with_a_suggestion(string suggestion, params string[] args)
    {
        var (code, stdout, stderr) = await ServeProcess.RunCliInAsync(null, _root, args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout); // a script reading standard output gets nothing half-done
        Assert.Contains("Did you mean", stderr);
        Assert.Contains(suggestion, stderr);
        Assert.Contains("--help", stderr);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    [Theory]
    [InlineData("needs a whole number", "token", "create", "--name", "n", "--expires-days", "soon")]
    [InlineData("is required", "sync", "plan")]
    [InlineData("--durability must be full or normal", "serve", "--durability", "fast")]
    [InlineData("--password-hash-iterations must be at least 1000", "serve", "--password-hash-iterations", "999")]
    [InlineData("--password-hash-iterations must be at most 10000000", "serve", "--password-hash-iterations", "10000001")]
    [InlineData("is not an http:// or https:// URL", "serve", "--urls", "ftp://127.0.0.1:21")]
    [InlineData("Required command", "keys")]
    public async Task Malformed_values_exit_2_before_anything_is_touched(string message, params string[] args)
    {
        var (code, stdout, stderr) = await ServeProcess.RunCliInAsync(new Dictionary<string, string> { ["SCIMSYNC_DATA"] = Path.Combine(_root, "data") }, _root, args);
        Assert.True(code == 2, stderr);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stdout + stderr);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    [Fact]
    public async Task Version_names_the_commit_it_was_built_from()
    {
        var (code, stdout, _) = await ServeProcess.RunCliAsync("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^scimsync \d+\.\d+\.\d+\S* \(commit ([0-9a-f]{7,12}|unknown)\)$", stdout.Trim());
    }

    [Fact]
    public async Task The_suggest_directive_completes_verbs_and_options_for_the_shell()
    {
        var (code, stdout, _) = await ServeProcess.RunCliAsync("[suggest:12]", "scimsync ser");
        Assert.Equal(0, code);
        Assert.Contains("serve", stdout.Split('\n', StringSplitOptions.TrimEntries));
        var line = "scimsync sync run --con";
        (code, stdout, _) = await ServeProcess.RunCliAsync($"[suggest:{line.Length}]", line);
        Assert.Equal(0, code);
        Assert.Contains("--config", stdout.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("--confirm", stdout.Split('\n', StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Store_listings_parse_as_json_and_tables_do_not_wrap_into_a_pipe()
    {
        var data = _root + "-data";
        try
        {
            var longName = "integration-" + new string('x', 150);
            var (code, created, err) = await ServeProcess.RunCliAsync("token", "create", "--name", longName, "--scopes", "scim:read", "--data", data, "--json");
            Assert.True(code == 0, err);
            var token = JsonNode.Parse(created)!;
            Assert.StartsWith("scimsync_", token["secret"]!.GetValue<string>());

            var (listCode, list, _) = await ServeProcess.RunCliAsync("token", "list", "--data", data, "--json");
            Assert.Equal(0, listCode);
            var entry = JsonNode.Parse(list)!.AsArray().Single()!;
            Assert.Equal(longName, entry["name"]!.GetValue<string>());
            Assert.Equal("active", entry["state"]!.GetValue<string>());

            // Standard output is a pipe here: one line per token, the long name whole, no box drawing.
            var (_, table, _) = await ServeProcess.RunCliAsync("token", "list", "--data", data);
            var lines = table.TrimEnd().Split('\n');
            Assert.Equal(2, lines.Length);
            Assert.StartsWith("id", lines[0]);
            Assert.Contains(longName, lines[1]);
            Assert.DoesNotContain("─", table);

            var (statusCode, status, _) = await ServeProcess.RunCliAsync("status", "--data", data, "--json");
            Assert.Equal(0, statusCode);
            Assert.Equal(0, JsonNode.Parse(status)!["users"]!.GetValue<int>());

            var (rotateCode, rotated, rotateErr) = await ServeProcess.RunCliAsync("keys", "rotate", "--data", data, "--json");
            Assert.True(rotateCode == 0, rotateErr);
            Assert.Equal(data + ".key", JsonNode.Parse(rotated)!["keyFile"]!.GetValue<string>());

            // A token that does not exist is a failure (1), not a usage error.
            Assert.Equal(1, (await ServeProcess.RunCliAsync("token", "revoke", "nobody", "--data", data)).Code);
            Assert.Equal(1, (await ServeProcess.RunCliAsync("status", "--data", Path.Combine(_root, "empty"))).Code);
        }
        finally
        {
            try
            {
                Directory.Delete(data, true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task Event_listings_parse_as_json_and_a_secret_is_printed_as_it_is()
    {
        var data = _root + "-data";
        var port = ServeProcess.FreePort();
        var server = await ServeProcess.StartAsync(data, port, "cli-json");
        try
        {
            string[] common = ["--url", $"http://127.0.0.1:{port}", "--token", "cli-json"];
            // Secrets are base64: one in two holds a '+', which a default JSON encoder writes as \u002B.
            string? secret = null, human = null;
            for (var i = 0; i < 12 && secret is null; i++)
            {
                var (code, stdout, err) = await ServeProcess.RunCliAsync(["events", "create", "--name", $"s{i}", "--audience", "https://a.test", .. common]);
                Assert.True(code == 0, err);
                var line = stdout.Split('\n').Single(l => l.StartsWith("secret:", StringComparison.Ordinal));
                if (line.Contains('+', StringComparison.Ordinal)) (secret, human) = (line["secret:".Length..].Trim(), stdout);
            }
            Assert.NotNull(secret);
            Assert.DoesNotContain("\\u", human);
            Assert.DoesNotContain("{", human); // fields, not a JSON document

            var (jsonCode, json, _) = await ServeProcess.RunCliAsync(["events", "create", "--name", "scripted", "--audience", "https://a.test", "--json", .. common]);
            Assert.Equal(0, jsonCode);
            var createdSecret = JsonNode.Parse(json)!["secret"]!.GetValue<string>();
            Assert.Contains($"\"{createdSecret}\"", json); // written as it is, escapes or not

            var (listCode, list, _) = await ServeProcess.RunCliAsync(["events", "list", "--json", .. common]);
            Assert.Equal(0, listCode);
            Assert.Contains(JsonNode.Parse(list)!["subscriptions"]!.AsArray(), s => s!["name"]!.GetValue<string>() == "scripted");
            var (showCode, show, _) = await ServeProcess.RunCliAsync(["events", "show", "scripted", "--json", .. common]);
            Assert.Equal(0, showCode);
            Assert.Equal("scripted", JsonNode.Parse(show)!["name"]!.GetValue<string>());
            var (deadCode, dead, _) = await ServeProcess.RunCliAsync(["events", "dead-letters", "scripted", "--json", .. common]);
            Assert.Equal(0, deadCode);
            Assert.Empty(JsonNode.Parse(dead)!["deadLetters"]!.AsArray());

            // What the server answers maps onto the table: no such subscription is a failure (1).
            Assert.Equal(1, (await ServeProcess.RunCliAsync(["events", "show", "nobody", .. common])).Code);
        }
        finally
        {
            server.Kill(true);
            await server.WaitForExitAsync();
            try
            {
                Directory.Delete(data, true);
            }
            catch (IOException)
            {
            }
            File.Delete(data + ".key");
        }
    }
}
