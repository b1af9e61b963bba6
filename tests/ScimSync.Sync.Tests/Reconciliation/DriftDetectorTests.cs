using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;

namespace ScimSync.Sync.Tests.Reconciliation;

public class DriftDetectorTests
{
    private static readonly IReadOnlyList<MappedPath> Managed = new AccountMapper(AttributeMapping.Defaults).ManagedAttributes();

    private static TargetAccount A(string id, string userName, bool active = true, string? title = null, JsonObject? synced = null)
    {
        var doc = new JsonObject { ["id"] = id, ["userName"] = userName, ["active"] = active, ["meta"] = new JsonObject { ["version"] = "W/\"9\"" } };
        if (title is not null) doc["title"] = title;
        return new TargetAccount(id, doc) { Synced = synced };
    }

    [Fact]
    public void Edits_reactivations_deletions_and_strangers_are_found()
    {
        var syncedAnn = A("1", "ann", title: "Lead").Document;
        var syncedBob = A("2", "bob", active: false).Document;
        var before = new TargetState([A("1", "ann"), A("2", "bob"), A("3", "cid")], [], new Dictionary<string, string> { ["1"] = "s1", ["2"] = "s2", ["3"] = "s3" }, new Dictionary<string, string>());
        var after = new TargetState(
            [A("1", "ann", title: "Boss", synced: syncedAnn), A("2", "bob", active: true, synced: syncedBob), A("9", "walk-in")],
            [], before.Links, new Dictionary<string, string>());
        var drift = DriftDetector.Compare("app", before, after, Managed);
        Assert.Contains(drift, d => d is { Kind: DriftKind.Edited, TargetId: "1" } && d.Attributes.SequenceEqual(["title"]));
        Assert.Contains(drift, d => d is { Kind: DriftKind.Reactivated, TargetId: "2" });
        Assert.Contains(drift, d => d is { Kind: DriftKind.Deleted, TargetId: "3", SourceId: "s3" });
        Assert.Contains(drift, d => d is { Kind: DriftKind.Created, TargetId: "9", SourceId: null });
        Assert.Equal(4, drift.Count);
    }

    [Fact]
    public void Server_bookkeeping_is_not_drift()
    {
        var synced = A("1", "ann").Document;
        var now = A("1", "ann").Document;
        now["meta"] = new JsonObject { ["version"] = "W/\"10\"", ["lastModified"] = "2026-11-29T00:00:00Z" };
        now["nickName"] = "unmanaged attribute";
        var state = new TargetState([new TargetAccount("1", now) { Synced = synced }], [], new Dictionary<string, string> { ["1"] = "s1" }, new Dictionary<string, string>());
        Assert.Empty(DriftDetector.Compare("app", state, state, Managed));
    }

    [Fact]
    public void Report_policy_withholds_what_undoes_drift_but_never_takes_access_away_less()
    {
        JsonObject Replace(string path, JsonNode value) => new() { ["op"] = "replace", ["path"] = path, ["value"] = value };
        var drift = new[]
        {
            new DriftItem("app", DriftKind.Edited, "t1", "ann", "s1", ["title"]),
            new DriftItem("app", DriftKind.Edited, "t2", "bob", "s2", ["title"]),
            new DriftItem("app", DriftKind.Reactivated, "t3", "cid", "s3", ["active"]),
            new DriftItem("app", DriftKind.Deleted, "t4", "dee", "s4", []),
        };
        var plan = new SyncPlan("app",
        [
            new UpdateAccount("app", "t1", "s1", "ann", [Replace("title", "Staff")], []),           // would revert the edit: held
            new DeactivateAccount("app", "t2", "s2", "bob", "left the scope"),                     // a leaver edited in the app: goes
            new UpdateAccount("app", "t2", "s2", "bob", [Replace("active", false)], []),            // the same, as an update: goes
            new DeactivateAccount("app", "t3", "s3", "cid", "left the scope"),                     // undoes the reactivation: held
            new UnlinkAccount("app", "t4", "s4", "deleted on the target; recreating"),              // undoes the deletion: held
            new CreateAccount("app", "s4", "dee", [.. "{}"u8]),
            new CreateAccount("app", "s5", "eve", [.. "{}"u8]),                                     // a new hire: goes
        ], [], new Dictionary<Correlation.Situation, int>(), 4, null);

        var left = DriftDetector.LeaveDriftAlone(plan, drift);

        Assert.Equal(["deactivate t2", "update t2", "create s5"], left.Operations.Select(o => o switch
        {
            DeactivateAccount d => "deactivate " + d.TargetId,
            UpdateAccount u => "update " + u.TargetId,
            CreateAccount c => "create " + c.SourceId,
            _ => o.Verb,
        }));
        Assert.Equal(4, left.Findings.Count);
    }
}
