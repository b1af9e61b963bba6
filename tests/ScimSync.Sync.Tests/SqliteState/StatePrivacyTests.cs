using System.Net;
using System.Runtime.Versioning;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Intake;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Tests.SqliteState;

/// <summary>
/// DESIGN.md invariant 9 for the engine's state directory (it holds the source feed's HS256 key and every
/// target's accounts), judged from the files: modes, and raw bytes for the secret.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class StatePrivacyTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-state-" + Guid.NewGuid().ToString("N")[..10]);

    public StatePrivacyTests() => Directory.CreateDirectory(_root, Private);

    private string StateDir => Path.Combine(_root, "state");

    private static string Mode(string path) => Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0');

    private static bool Contains(string directory, byte[] needle) =>
        Directory.EnumerateFiles(directory).Any(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0);

    /// <summary>Answers the engine's subscription request as a source would: an id and, once, the HS256 secret.</summary>
    private sealed class SourceAnswer(string secret) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created)
            {
                Content = new StringContent(new JsonObject { ["id"] = "sub-1", ["secret"] = secret }.ToJsonString(), Encoding.UTF8, "application/json"),
            });
    }

    [Fact]
    public void A_fresh_state_directory_and_its_files_are_private()
    {
        var state = Path.Combine(StateDir, "nested");
        using (var store = SqliteSyncState.Open(state))
        {
            store.SetCheckpoint("run.last", "x");
            Assert.Equal("0700", Mode(state));
            Assert.Contains("sync.db-wal", Directory.GetFiles(state).Select(Path.GetFileName));
            Assert.All(Directory.GetFiles(state), f => Assert.True(Mode(f) == "0600", $"{Path.GetFileName(f)} is {Mode(f)}"));
        }
    }

    [Fact]
    public void A_state_directory_others_can_read_is_refused()
    {
        Directory.CreateDirectory(StateDir, Private | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(StateDir, Private | UnixFileMode.OtherRead | UnixFileMode.OtherExecute); // whatever the umask
        var e = Assert.ThrowsAny<Exception>(() => SqliteSyncState.Open(StateDir).Dispose());
        Assert.Contains(StateDir, e.Message);
        Assert.Contains("chmod", e.Message);
        Assert.False(File.Exists(Path.Combine(StateDir, "sync.db")));
    }

    [Fact]
    public async Task The_feed_secret_is_not_kept_in_clear_and_still_verifies_what_the_source_signs()
    {
        var secret = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());
        using (var state = SqliteSyncState.Open(StateDir))
        using (var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, new SourceAnswer(secret)))
            await new SourceFeed(client, state, "engine").EnsureAsync(0, CancellationToken.None);
        Assert.False(Contains(StateDir, Encoding.ASCII.GetBytes(secret)), "the feed secret is in a state file in clear (base64)");
        Assert.False(Contains(StateDir, Convert.FromBase64String(secret)), "the feed secret is in a state file in clear (raw)");
    }

    /// <summary>
    /// The state of a real engine built from commit cbf6183 (LegacyState/README.md), whose feed secret sat in
    /// clear in its checkpoints: opened by this build (after `chmod -R go-rwx`), the secret is sealed in place,
    /// gone from the file in clear, and the engine still has it.
    /// </summary>
    [Fact]
    public void A_previous_builds_state_is_sealed_in_place()
    {
        const string legacySecret = "4tu42G2Xv4sXVI/uVdkbvn8lCzW1WX+e8HMdtbkc2Qs=";
        Directory.CreateDirectory(StateDir, Private);
        var db = Path.Combine(StateDir, "sync.db");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "SqliteState", "LegacyState", "sync.db"), db);
        File.SetUnixFileMode(db, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.True(Contains(StateDir, Encoding.ASCII.GetBytes(legacySecret)));

        using (var state = SqliteSyncState.Open(StateDir))
        {
            Assert.Equal("01a2361f3aa179d2906059156ce97d8c", state.GetCheckpoint("feed.subscription"));
            Assert.Equal(legacySecret, state.GetSecret("feed.secret"));
            Assert.Null(state.GetCheckpoint("feed.secret"));
        }
        Assert.False(Contains(StateDir, Encoding.ASCII.GetBytes(legacySecret)), "the legacy feed secret is still in the state files in clear");
        Assert.True(File.Exists(StateDir + ".key"));
        Assert.Equal("0600", Mode(StateDir + ".key"));
        using (var again = SqliteSyncState.Open(StateDir))
            Assert.Equal(legacySecret, again.GetSecret("feed.secret"));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
