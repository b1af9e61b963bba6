using System.Runtime.Versioning;
using System.Text.Json.Nodes;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.SqliteState;

/// <summary>
/// The provisioning log in the state: what an operation changed (old → new per attribute, secrets redacted), the
/// advice for a known failure, the queries by person, target, result and time, and a previous build's audit opened
/// by this one.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class ProvisioningLogTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 9, 0, 0, TimeSpan.Zero);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-log-" + Guid.NewGuid().ToString("N")[..10]);

    public ProvisioningLogTests() => Directory.CreateDirectory(_root, Private);

    private string StateDir => Path.Combine(_root, "state");

    private static JsonObject Json(string text) => JsonNode.Parse(text)!.AsObject();

    private static string Show(AttributeChange c) => $"{c.Path}: {c.Old?.ToJsonString() ?? "-"} -> {c.New?.ToJsonString() ?? "-"}";

    [Fact]
    public void An_update_records_each_changed_attribute_with_its_old_and_new_value_and_redacts_secrets()
    {
        var before = Json("""
            {"userName":"grace","title":"Engineer","active":"True","name":{"givenName":"Grace","familyName":"Hopper"},
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"PIN-1111"}}
            """);
        var update = new UpdateAccount("app", "t1", "s1", "grace",
        [
            new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "Rear Admiral" },
            new JsonObject { ["op"] = "replace", ["path"] = "name", ["value"] = new JsonObject { ["givenName"] = "Grace", ["familyName"] = "Murray" } },
            new JsonObject { ["op"] = "replace", ["path"] = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", ["value"] = "PIN-2222" },
            new JsonObject { ["op"] = "remove", ["path"] = "nickName" },
        ], new JsonObject());
        var secrets = SecretAttributes.From([new AttributeMapping("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "nickName", null) { Secret = true }]);

        var changes = AttributeChanges.Of(update, before, secrets);

        // A complex attribute is compared by its sub-attributes: only the family name changed.
        Assert.Equal(
        [
            "title: \"Engineer\" -> \"Rear Admiral\"",
            "name.familyName: \"Hopper\" -> \"Murray\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber: \"(secret)\" -> \"(secret)\"",
        ], changes.Select(Show));

        var create = new CreateAccount("app", "s1", "grace", Json("""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"grace","active":true,
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"PIN-2222","department":"Navy"}}
            """));
        Assert.Equal(
        [
            "userName: - -> \"grace\"",
            "active: - -> true",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber: - -> \"(secret)\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department: - -> \"Navy\"",
        ], AttributeChanges.Of(create, null, secrets).Select(Show));

        // A deactivation turns the account off, whatever spelling the target used for "on".
        Assert.Equal(["active: \"True\" -> false"], AttributeChanges.Of(new DeactivateAccount("app", "t1", "s1", "grace", "left"), before, secrets).Select(Show));
        // A password is a secret without any mapping saying so.
        Assert.True(SecretAttributes.None.IsSecret("urn:ietf:params:scim:schemas:core:2.0:User:password"));
    }

    [Theory]
    [InlineData(401, "credential")]
    [InlineData(403, "credential")]
    [InlineData(404, "deleted at the target")]
    [InlineData(409, "correlation")]
    [InlineData(429, "maxRequestsPerSecond")]
    [InlineData(400, "mapping")]
    [InlineData(503, "health")]
    public void A_known_failure_comes_with_what_to_do(int status, string advice) =>
        Assert.Contains(advice, FailureAdvice.For(status), StringComparison.Ordinal);

    [Fact]
    public void A_failure_without_an_answer_points_at_the_targets_health_and_a_long_answer_is_cut()
    {
        Assert.Contains("did not answer", FailureAdvice.For(null, noAnswer: true), StringComparison.Ordinal);
        Assert.Null(FailureAdvice.For(418));
        var clamped = FailureAdvice.Clamp(new string('x', 5000) + "\u001b[2J")!;
        Assert.Equal(FailureAdvice.MaxDetail, clamped.Length);
        Assert.Equal("bad ?[31m value", FailureAdvice.Clamp("bad \u001b[31m value"));
    }

    private static AuditRecord Entry(DateTimeOffset at, string target, string? userName, string sourceId, string result = "ok", string verb = "update") =>
        new(at, "run:x", target, verb, $"user {userName} [t-{sourceId}]", "t-" + sourceId, sourceId, result, result == "ok" ? null : 409, 1, null) { UserName = userName };

    /// <summary>
    /// The state of a real engine from an earlier build (LegacyState/README.md): its audit table gains the new
    /// columns in place, and what it recorded is found by the person's name (taken from the subject) and id.
    /// </summary>
    [Fact]
    public void A_previous_builds_audit_is_upgraded_in_place_and_found_by_person()
    {
        Directory.CreateDirectory(StateDir, Private);
        var db = Path.Combine(StateDir, "sync.db");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "SqliteState", "LegacyState", "sync.db"), db);
        File.SetUnixFileMode(db, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        using (var store = SqliteSyncState.Open(StateDir))
        {
            var bob = Assert.Single(store.Log(new AuditQuery(["bob"])));
            Assert.Equal(("create", "bob", "01a2361f-1fc6-701c-885c-ddd7dff55d7e"), (bob.Verb, bob.UserName, bob.SourceId));
            Assert.Equal(bob.Time, Assert.Single(store.Log(new AuditQuery(["01a2361f-1fc6-701c-885c-ddd7dff55d7e"]))).Time);
            Assert.Empty(bob.Changes);
            Assert.Equal(3, store.Log(new AuditQuery()).Count);
            // Written after the legacy record, so it is listed first (newest first).
            store.Batch(w => w.Audit(Entry(bob.Time.AddMinutes(1), "app", "bob", "01a2361f-1fc6-701c-885c-ddd7dff55d7e") with { Writer = "hr-portal" }));
        }
        using (var again = SqliteSyncState.Open(StateDir))
            Assert.Equal(["hr-portal", null], again.Log(new AuditQuery(["bob"])).Select(r => r.Writer));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
