using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Tests.Planning;

internal static class Fixtures
{
    public static readonly DateTimeOffset Now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    public static readonly SchemaRegistry Registry = SchemaRegistry.CreateDefault();

    public static SourceAccount User(string id, string userName, string kind, string? department = null, bool active = true, DateTimeOffset? endDate = null, string? email = null)
    {
        var ext = new JsonObject { ["kind"] = kind };
        if (endDate is { } e) ext["endDate"] = e.ToString("O");
        var doc = new JsonObject
        {
            ["id"] = id,
            ["userName"] = userName,
            ["active"] = active,
            ["name"] = new JsonObject { ["givenName"] = userName.Split('@')[0], ["familyName"] = "Doe" },
            ["emails"] = new JsonArray(new JsonObject { ["value"] = email ?? userName, ["type"] = "work" }),
            [AccountKindRules.ExtensionUri] = ext,
        };
        if (department is not null) doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = new JsonObject { ["department"] = department };
        return SourceAccount.From(doc, AccountKindRules.Default);
    }

    public static TargetConfig Target(ScopeRule? scope = null, SyncPolicies? policies = null, GroupSyncConfig? groups = null, MassChangeGuard? guard = null,
        IReadOnlyList<CorrelationKey>? correlation = null, IReadOnlySet<string>? protectedNames = null) =>
        new("app", new EndpointConfig(new Uri("http://127.0.0.1:1/scim/v2"), null, new LimitsConfig(null, null, 4), new DialectConfig(false, false, false)),
            scope ?? ScopeRule.Everyone, AttributeMapping.Defaults, correlation ?? [CorrelationKey.ExternalId, CorrelationKey.UserName],
            new ProtectionRule(new HashSet<AccountKind> { AccountKind.Builtin, AccountKind.Service }, protectedNames ?? new HashSet<string>(StringComparer.OrdinalIgnoreCase)),
            policies ?? SyncPolicies.Default, groups ?? GroupSyncConfig.None, guard ?? MassChangeGuard.Default);

    public static ScopeRule Kinds(params AccountKind[] kinds) => ScopeRule.Everyone with { Kinds = kinds.ToHashSet() };

    public static TargetAccount Account(string id, string userName, string? externalId = null, bool active = true, string? userType = null)
    {
        var doc = new JsonObject { ["id"] = id, ["userName"] = userName, ["active"] = active };
        if (externalId is not null) doc["externalId"] = externalId;
        if (userType is not null) doc["userType"] = userType;
        return new TargetAccount(id, doc);
    }

    public static TargetState State(IEnumerable<TargetAccount>? accounts = null, Dictionary<string, string>? links = null, IEnumerable<TargetGroup>? groups = null, Dictionary<string, string>? groupLinks = null) =>
        new((accounts ?? []).ToArray(), (groups ?? []).ToArray(), links ?? [], groupLinks ?? []);

    public static SourceSnapshot Snapshot(IEnumerable<SourceAccount> users, IEnumerable<SourceGroup>? groups = null) => new(users, groups ?? [], 0);

    public static SyncPlan Plan(TargetConfig target, SourceSnapshot source, TargetState state, DateTimeOffset? now = null) =>
        new TargetPlanner(target, AccountKindRules.Default, Registry).Plan(source, state, now ?? Now);
}
