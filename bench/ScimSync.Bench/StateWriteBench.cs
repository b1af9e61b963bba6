using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Bench;

/// <summary>
/// The engine's state alone, as an initial load writes it: for each of <c>accounts</c> new accounts one unit of work
/// with its shadow, its link and its provisioning-log entry (every attribute, old → new), queued by <c>writers</c>
/// concurrent callers through the group commit, as the executor's 16 operations in flight queue them. Reports the
/// time, this process's CPU and the file's size; then rewrites the accounts table as layout 2 kept it (WITHOUT ROWID)
/// and times the first open, which upgrades it. No HTTP, no target: what is left is the state's own cost.
/// </summary>
internal static class StateWriteBench
{
    public static async Task<string> RunAsync(string work, int accounts, int writers)
    {
        var dir = Path.Combine(work, "state");
        var now = DateTimeOffset.UtcNow;
        var random = new Random(42);
        var docs = Enumerable.Range(0, accounts).Select(i => (Id: Guid.NewGuid().ToString(), Source: Guid.NewGuid().ToString(), Doc: new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
            ["userName"] = $"user{i:D6}.{random.Next():x}@example.com",
            ["externalId"] = Guid.NewGuid().ToString(),
            ["active"] = true,
            ["displayName"] = $"User {i}",
            ["name"] = new JsonObject { ["givenName"] = "Given", ["familyName"] = $"Family{i}" },
            ["emails"] = new JsonArray(new JsonObject { ["value"] = $"u{i}.{random.Next():x}@example.com", ["type"] = "work", ["primary"] = true }),
        })).ToArray();

        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        using (var state = SqliteSyncState.Open(dir))
        {
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                for (var i = Interlocked.Increment(ref next); i < accounts; i = Interlocked.Increment(ref next))
                {
                    var (id, source, doc) = docs[i];
                    var created = doc.DeepClone().AsObject();
                    created["id"] = id;
                    created["meta"] = new JsonObject { ["resourceType"] = "User", ["version"] = "W/\"1\"" };
                    var account = new TargetAccount(id, created);
                    var record = new AuditRecord(now, "run:bench", "app", "create", $"user {account.UserName}", id, source, "ok", null, 5, null)
                    {
                        UserName = account.UserName,
                        Changes = AttributeChanges.Of(new CreateAccount("app", source, account.UserName, doc), null, SecretAttributes.None),
                    };
                    await state.WriteAsync(w =>
                    {
                        w.PutAccount("app", account, now, synced: true);
                        w.Link("app", id, source, now);
                        w.Audit(record);
                    });
                }
            })));
        }
        var elapsed = sw.Elapsed;
        process.Refresh();
        var used = process.TotalProcessorTime - cpu;
        var file = Path.Combine(dir, "sync.db");
        var size = new FileInfo(file).Length;

        // The same accounts as layout 2 kept them, then the first open of this build.
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = SqliteStateSchema.AccountsAsLayout2 + "PRAGMA wal_checkpoint(TRUNCATE);";
            cmd.ExecuteNonQuery();
        }
        var upgrade = Stopwatch.StartNew();
        using (SqliteSyncState.Open(dir))
        {
        }
        upgrade.Stop();

        var md = new StringBuilder();
        md.AppendLine($"- {accounts:N0} accounts written as an initial load writes them (shadow, link and log entry per unit of work, {writers} writers through the group commit): **{elapsed.TotalSeconds:F1} s**, CPU of this process {used.TotalSeconds:F1} s, file {size / 1_000_000.0:F0} MB.");
        md.AppendLine($"- First open of the same accounts as layout 2 (WITHOUT ROWID), upgraded to the current layout: **{upgrade.Elapsed.TotalSeconds:F1} s**.");
        return md.ToString();
    }
}
