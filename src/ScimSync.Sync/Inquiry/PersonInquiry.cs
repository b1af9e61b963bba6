using System.Text.Json.Nodes;
using ScimSync.Sync.Scoping;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Inquiry;

/// <summary>
/// "What about this person, everywhere?": for each target, scope and the rule that decided it, the account and
/// its situation, the shadow against what the mapping wants now, group memberships, queued and held work, what a
/// run would do, and the history of operations with old → new values. Answered from the engine's state and one
/// read of the person at the source; no target is called (the shadow is what the engine last saw there).
/// </summary>
public sealed class PersonInquiry(SyncConfig config, ISyncState shadows, IPersonSource source, TimeProvider time)
{
    private readonly SchemaRegistry _registry = SchemaRegistry.CreateDefault();

    /// <param name="history">How many operations to show per target, newest first.</param>
    /// <returns>Null when neither the source nor the engine's state knows the person.</returns>
    public async Task<PersonReport?> AskAsync(string key, int history, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var found = await source.FindAsync(key, ct).ConfigureAwait(false);
        if (found is not null)
        {
            var account = found.Account;
            var snapshot = found.Snapshot;
            var atSource = new PersonAtSource(account.Id, account.UserName, (account.Document["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) ? ext : null), account.Kind.ToString().ToLowerInvariant(),
                account.EndDate, account.SourceActive, account.ActiveAt(now), found.Groups.Select(g => g.DisplayName).Order(StringComparer.Ordinal).ToArray());
            return new PersonReport(key, atSource, config.Targets.Select(t => OnTarget(t, account.Id, account.UserName, snapshot, found, history, now)).ToArray());
        }
        // Gone from the source (or never there): what the engine remembers, found through the log by id or name.
        var ids = shadows.Log(new AuditQuery([key], Limit: 50)).Select(r => r.SourceId).OfType<string>().Append(key).Distinct(StringComparer.Ordinal).ToArray();
        var targets = new List<PersonOnTarget>();
        foreach (var t in config.Targets)
        {
            var id = ids.FirstOrDefault(i => shadows.TargetIdOf(t.Name, i) is not null) ?? ids[0];
            var userName = shadows.Log(new AuditQuery([id], Limit: 1)).FirstOrDefault()?.UserName ?? key;
            targets.Add(OnTarget(t, id, userName, new SourceSnapshot([], [], null), null, history, now));
        }
        if (targets.All(t => t.TargetId is null && t.History.Count == 0)) return null;
        return new PersonReport(key, null, targets);
    }

    private PersonOnTarget OnTarget(TargetConfig target, string sourceId, string userName, SourceSnapshot snapshot, SourcePerson? person, int history, DateTimeOffset now)
    {
        var planner = new TargetPlanner(target, config.Kinds, _registry);
        var scope = person is null ? ScopeDecision.NotAtSource : ScopeExplanation.Explain(target, person.Account, snapshot, _registry);
        var wanted = person is null ? null : planner.Mapper.Map(person.Account, now);
        var externalIds = wanted is null ? [] : Correlator.ValuesOf(wanted, CorrelationKey.ExternalId).ToArray();
        // The plan of this one person, from the shadow: what a run would do for them, and how correlation sees them.
        var state = shadows.LoadStateFor(target.Name, [sourceId], [userName], externalIds).WithAcceptedDrift(shadows, target.Name);
        var plan = planner.Plan(snapshot, state, now, focus: new HashSet<string>(StringComparer.Ordinal) { sourceId });
        var linkedId = shadows.TargetIdOf(target.Name, sourceId);
        var account = linkedId is null ? null : shadows.Account(target.Name, linkedId);
        var link = plan.Operations.OfType<LinkAccount>().FirstOrDefault(l => l.SourceId == sourceId);
        var disputes = plan.Findings.Where(f => f.Situation == Situation.Disputed).ToArray();
        var (situation, explanation, targetId) = (linkedId, account, link) switch
        {
            ({ } id, { }, _) => ("linked", $"linked to account {id}", linkedId),
            ({ } id, null, _) => ("deleted", $"linked to account {id}, which is gone from the target (deleted there out of band); policies.deleted: {target.Policies.Deleted.ToString().ToLowerInvariant()}", linkedId),
            (null, _, { } l) => ("unlinked", $"account {l.TargetId} matches by {l.Key} and is not linked yet; a run links it", l.TargetId),
            _ when disputes.Length > 0 => ("disputed", disputes[0].Detail, disputes[0].TargetId.Length > 0 ? disputes[0].TargetId : null),
            _ when scope.InScope => ("missing", "in scope and without an account on the target: a run creates it", null),
            _ => ("none", "no account on the target", null),
        };
        account ??= targetId is null ? null : shadows.Account(target.Name, targetId);
        var secrets = SecretAttributes.From(target.Mapping);
        return new PersonOnTarget(target.Name, scope, situation, explanation, targetId)
        {
            Active = account?.Active,
            Seen = account?.Seen,
            Attributes = account is null || wanted is null ? [] : Compare(account, wanted, planner.ManagedAttributes, secrets, state.Accepted),
            Groups = Groups(target, targetId, person, scope.InScope),
            Queued = shadows.Queued(target.Name, sourceId),
            Held = shadows.Held(target.Name, sourceId),
            Planned = plan.Operations.Select(o => o.ToString()).ToArray(),
            Findings = plan.Findings.Select(f => f.ToString()).ToArray(),
            History = shadows.Log(new AuditQuery([sourceId, userName], target.Name, Limit: history)),
        };
    }

    /// <summary>Managed attributes, as the target holds them against what the mapping wants (the planner's comparison).</summary>
    private static IReadOnlyList<AttributeState> Compare(ShadowAccount account, JsonObject wanted, IReadOnlyList<MappedPath> managed, SecretAttributes secrets, AcceptedDrift accepted)
    {
        var kept = accepted.Of(account.TargetId);
        var rows = new List<AttributeState>();
        foreach (var path in managed)
        {
            var name = path.ToString();
            var have = path.Read(account.Data);
            var want = path.Read(wanted);
            var written = account.Synced is null ? null : path.Read(account.Synced);
            if (have is null && want is null && written is null) continue;
            var changedAtTarget = account.Synced is not null && !(AccountDiff.Covers(written, have) && AccountDiff.Covers(have, written));
            rows.Add(new AttributeState(name, secrets.Redact(name, have?.DeepClone()), secrets.Redact(name, want?.DeepClone()), secrets.Redact(name, written?.DeepClone()),
                !AccountDiff.Covers(want, have), changedAtTarget)
            {
                Accepted = kept?.GetValueOrDefault(name) is { } entry && AcceptedDrift.Holds(entry, want, have),
            });
        }
        return rows;
    }

    /// <summary>The groups the account is in on the target, and those it should be in (source memberships the target receives).</summary>
    private IReadOnlyList<GroupState> Groups(TargetConfig target, string? targetId, SourcePerson? person, bool inScope)
    {
        var held = targetId is null ? [] : shadows.GroupsOf(target.Name, targetId);
        var wanted = inScope && person is not null ? person.Groups.Where(g => target.Groups.Includes(g.DisplayName)).ToArray() : [];
        var rows = held.Select(g => new GroupState(g.DisplayName, g.GroupId, true, wanted.Any(w => w.Id == g.SourceGroupId || w.DisplayName.Equals(g.DisplayName, StringComparison.OrdinalIgnoreCase))))
            .ToList();
        foreach (var w in wanted)
            if (!rows.Any(r => r.Name.Equals(w.DisplayName, StringComparison.OrdinalIgnoreCase)))
                rows.Add(new GroupState(w.DisplayName, null, false, true));
        return rows.OrderBy(r => r.Name, StringComparer.Ordinal).ToArray();
    }
}
