using System.Runtime.Versioning;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Secrets;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.SqliteState;

/// <summary>
/// The state file's layout version (SQLite's user_version, SqliteStateSchema): a previous build's file is brought up
/// to it in place, a newer build's file and a file that is not a state are refused without being changed, and the
/// command line reports a state it cannot use as a configuration problem, not as a crash.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class StateLayoutTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-layout-" + Guid.NewGuid().ToString("N")[..10]);

    private string StateDir => Path.Combine(_root, "state");

    private string DbPath => Path.Combine(StateDir, "sync.db");

    public StateLayoutTests() => PrivateFiles.EnsureDirectory(StateDir, "state directory");

    private long UserVersion()
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA user_version";
        return (long)cmd.ExecuteScalar()!;
    }

    private void Exec(string sql)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Pooling = false }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public void A_new_state_and_a_previous_builds_state_end_at_the_current_version()
    {
        using (SqliteSyncState.Open(StateDir))
        {
        }
        Assert.Equal(SqliteStateSchema.Version, UserVersion());

        File.Delete(DbPath);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "SqliteState", "LegacyState", "sync.db"), DbPath);
        File.SetUnixFileMode(DbPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(0, UserVersion());
        using (var state = SqliteSyncState.Open(StateDir))
            Assert.Equal(3, state.Log(new AuditQuery()).Count);
        Assert.Equal(SqliteStateSchema.Version, UserVersion());
        // Opened again: nothing left to do, and what it holds is unchanged.
        using (var again = SqliteSyncState.Open(StateDir))
            Assert.Equal(3, again.Log(new AuditQuery()).Count);
    }

    [Fact]
    public void A_version_1_state_gets_the_email_key_of_its_accounts_from_their_documents()
    {
        using (var state = SqliteSyncState.Open(StateDir))
            state.Batch(w =>
            {
                var doc = new JsonObject
                {
                    ["userName"] = "grace",
                    ["emails"] = new JsonArray(new JsonObject { ["value"] = "g@home.example" }, new JsonObject { ["value"] = " Grace@Work.Example", ["primary"] = true }),
                };
                w.PutAccount("app", new TargetAccount("t1", doc), DateTimeOffset.UnixEpoch);
                w.PutAccount("app", new TargetAccount("t2", new JsonObject { ["userName"] = "ada" }), DateTimeOffset.UnixEpoch);
            });
        // As version 1 left it: no email column.
        Exec("DROP INDEX ix_shadow_email; ALTER TABLE shadow_accounts DROP COLUMN email; PRAGMA user_version = 1;");
        using (var state = SqliteSyncState.Open(StateDir))
        {
            Assert.Equal("t1", Assert.Single(state.SearchAccounts(new ShadowSearch("app", "grace@work.example")).Rows).TargetId);
            Assert.Equal(0, state.SearchAccounts(new ShadowSearch("app", "g@home.example")).Total);
        }
        Assert.Equal(SqliteStateSchema.Version, UserVersion());
    }

    [Fact]
    public void A_version_2_state_gets_its_accounts_moved_out_of_the_key_btree_with_every_row_as_it_was()
    {
        var seen = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
        using (var state = SqliteSyncState.Open(StateDir))
            state.Batch(w =>
            {
                w.PutAccount("app", new TargetAccount("t1", new JsonObject { ["userName"] = "grace", ["externalId"] = "e1", ["emails"] = new JsonArray(new JsonObject { ["value"] = "grace@example.com" }) }), seen, synced: true);
                w.PutAccount("app", new TargetAccount("t2", new JsonObject { ["userName"] = "ada", ["active"] = false }), seen);
            });
        // As version 2 left it: the accounts in a WITHOUT ROWID table keyed by (target, target_id).
        Exec(SqliteStateSchema.AccountsAsLayout2);
        using (var state = SqliteSyncState.Open(StateDir))
        {
            var accounts = state.LoadState("app").Accounts.ToDictionary(a => a.Id);
            Assert.Equal(["t1", "t2"], accounts.Keys.Order());
            Assert.False(accounts["t2"].Active);
            Assert.Equal("grace", accounts["t1"].Synced?["userName"]?.GetValue<string>());
            Assert.Null(accounts["t2"].Synced);
            Assert.Equal("t1", Assert.Single(state.SearchAccounts(new ShadowSearch("app", "grace@example.com")).Rows).TargetId);
            Assert.Equal("t1", Assert.Single(state.SearchAccounts(new ShadowSearch("app", "e1")).Rows).TargetId);
            Assert.Equal(seen, Assert.Single(state.SearchAccounts(new ShadowSearch("app", "ada")).Rows).Seen);
            // The key is still unique: the same account written again is one row.
            state.Batch(w => w.PutAccount("app", new TargetAccount("t2", new JsonObject { ["userName"] = "ada.lovelace" }), seen.AddHours(1)));
            Assert.Equal(2, state.LoadState("app").Accounts.Count);
        }
        Assert.Equal(SqliteStateSchema.Version, UserVersion());
        using var db = new SqliteConnection($"Data Source={DbPath};Pooling=False;Mode=ReadOnly");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT sql FROM sqlite_master WHERE name = 'shadow_accounts'";
        Assert.DoesNotContain("WITHOUT ROWID", (string)cmd.ExecuteScalar()!, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_state_written_by_a_newer_build_is_refused_and_left_as_it_was()
    {
        Exec($"CREATE TABLE from_the_future (x INTEGER); PRAGMA user_version = {SqliteStateSchema.Version + 1};");
        File.SetUnixFileMode(DbPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<SyncStateUnavailableException>(() => SqliteSyncState.Open(StateDir).Dispose());
        Assert.Contains("newer build", e.Message);
        Assert.Contains(DbPath, e.Message);
        Assert.Equal(SqliteStateSchema.Version + 1, UserVersion());
        Exec("SELECT count(*) FROM from_the_future");
        var tables = new List<string>();
        using (var db = new SqliteConnection($"Data Source={DbPath};Pooling=False;Mode=ReadOnly"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var r = cmd.ExecuteReader();
            while (r.Read()) tables.Add(r.GetString(0));
        }
        Assert.Equal(["from_the_future"], tables);
    }

    [Fact]
    public void A_file_that_is_not_a_state_is_refused_with_the_ports_exception()
    {
        File.WriteAllText(DbPath, new string('x', 8192));
        File.SetUnixFileMode(DbPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<SyncStateUnavailableException>(() => SqliteSyncState.Open(StateDir).Dispose());
        Assert.Contains(DbPath, e.Message);
        Assert.IsType<SqliteException>(e.InnerException);
        Assert.Equal(new string('x', 8192), File.ReadAllText(DbPath));
    }

    [Fact]
    public async Task The_command_line_reports_an_unusable_state_as_a_configuration_problem()
    {
        File.WriteAllText(DbPath, new string('x', 8192));
        File.SetUnixFileMode(DbPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var config = Path.Combine(_root, "sync.yaml");
        File.WriteAllText(config, """
            state: ./state
            source: { type: file, path: hr.csv }
            targets: [ { name: app, url: "http://127.0.0.1:9/scim/v2" } ]
            """);
        var (code, output) = await EndToEnd.Cli.RunAsync(TimeSpan.FromSeconds(60), "sync", "log", "--config", config);
        Assert.Equal(3, code);
        Assert.Contains("cannot be opened", output);
        Assert.DoesNotContain("unexpected", output);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
