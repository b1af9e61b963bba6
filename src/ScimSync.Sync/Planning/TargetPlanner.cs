using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Planning;

/// <summary>
/// An account as a target holds it (from a fresh read, or from the shadow when planning incrementally),
/// kept as compact UTF-8 JSON like <see cref="SourceAccount"/>; <see cref="Document"/> parses a fresh copy.
/// </summary>
public sealed class TargetAccount
{
    private readonly byte[] _json;
    private readonly byte[]? _synced;

    public TargetAccount(string id, JsonObject document) : this(id, JsonSerializer.SerializeToUtf8Bytes(document))
    {
    }

    public TargetAccount(string id, byte[] json, byte[]? synced = null)
    {
        Id = id;
        _json = json;
        _synced = synced;
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        UserName = root.TryGetProperty("userName", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString()! : "";
        Active = !root.TryGetProperty("active", out var a) || a.ValueKind switch
        {
            JsonValueKind.False => false,
            JsonValueKind.String => !string.Equals(a.GetString(), "false", StringComparison.OrdinalIgnoreCase),
            _ => true,
        };
        ExternalId = root.TryGetProperty("externalId", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    public string Id { get; }
    public string UserName { get; }
    public bool Active { get; }
    public string? ExternalId { get; }

    public JsonObject Document => JsonNode.Parse(_json)!.AsObject();

    public ReadOnlySpan<byte> Json => _json;

    /// <summary>The account as the engine last wrote or accepted it (the drift baseline), when known.</summary>
    public JsonObject? Synced
    {
        get => _synced is null ? null : JsonNode.Parse(_synced)!.AsObject();
        init => _synced = value is null ? null : JsonSerializer.SerializeToUtf8Bytes(value);
    }
}

public sealed record TargetGroup(string Id, string DisplayName, string? ExternalId, IReadOnlyList<string> Members);

/// <summary>
/// What the planner knows about one target: its accounts and groups, and the engine's links from target
/// ids to source ids (kept in the shadow store).
/// </summary>
public sealed record TargetState(
    IReadOnlyList<TargetAccount> Accounts,
    IReadOnlyList<TargetGroup> Groups,
    IReadOnlyDictionary<string, string> Links,
    IReadOnlyDictionary<string, string> GroupLinks);

public sealed record SyncPlan(
    string Target,
    IReadOnlyList<PlannedOperation> Operations,
    IReadOnlyList<Finding> Findings,
    IReadOnlyDictionary<Situation, int> Situations,
    int Managed,
    string? GuardMessage)
{
    public bool NeedsConfirmation => GuardMessage is not null;
}

/// <summary>
/// Decides, for one target, what must change: scope and account kinds, mapping, correlation with the
/// accounts already there (situations and their reactions), protected accounts, group membership, and the
/// mass-change guard. Pure: the same inputs give the same plan, so a dry run shows exactly what a run does.
/// </summary>
public sealed class TargetPlanner
{
    private readonly TargetConfig _target;
    private readonly AccountKindRules _kinds;
    private readonly CompiledScope _scope;
    private readonly AccountMapper _mapper;
    private readonly IReadOnlyList<MappedPath> _managed;

    public TargetPlanner(TargetConfig target, AccountKindRules kinds, SchemaRegistry registry)
    {
        _target = target;
        _kinds = kinds;
        _scope = target.Scope.Compile(registry);
        _mapper = new AccountMapper(target.Mapping);
        _managed = _mapper.ManagedAttributes();
    }

    public TargetConfig Target => _target;
    public AccountMapper Mapper => _mapper;
    public IReadOnlyList<MappedPath> ManagedAttributes => _managed;

    public bool InScope(SourceAccount account, SourceSnapshot snapshot) => _scope.InScope(account, snapshot);

    /// <summary>Builtin and service accounts (by kind on the target, or by name) are never touched.</summary>
    public bool IsProtected(TargetAccount account) => IsProtected(account, account.Document);

    private bool IsProtected(TargetAccount account, JsonObject document) =>
        _target.Protected.UserNames.Contains(account.UserName) || _target.Protected.Kinds.Contains(_kinds.KindOf(document));

    /// <summary>
    /// Plans the target. With <paramref name="focus"/>, only those source accounts (and the target accounts
    /// linked or correlated to them) are considered: incremental work on a shadow subset.
    /// </summary>
    public SyncPlan Plan(SourceSnapshot source, TargetState state, DateTimeOffset now, IReadOnlySet<string>? focus = null, IReadOnlySet<string>? groupFocus = null)
    {
        var ops = new List<PlannedOperation>();
        var findings = new List<Finding>();
        var situations = new Dictionary<Situation, int>();
        void Count(Situation s) => situations[s] = situations.GetValueOrDefault(s) + 1;

        // What should be there.
        // What should be there. Desired documents are kept as bytes until used: a full plan holds one per account.
        var desired = new Dictionary<string, (SourceAccount Account, byte[] Doc)>(StringComparer.Ordinal);
        var index = _target.Correlation.ToDictionary(k => k, _ => new Dictionary<string, List<string>>(StringComparer.Ordinal));
        IEnumerable<SourceAccount> candidates = focus is null ? source.Users.Values : focus.Select(id => source.Users.GetValueOrDefault(id)).OfType<SourceAccount>();
        foreach (var account in candidates)
        {
            var sourceDoc = account.Document;
            if (!_scope.InScope(account, sourceDoc, source)) continue;
            var doc = _mapper.Map(account, sourceDoc, now);
            desired[account.Id] = (account, JsonSerializer.SerializeToUtf8Bytes(doc));
            // Correlation indexes over the desired accounts, per key.
            foreach (var key in _target.Correlation)
                foreach (var value in Correlator.ValuesOf(doc, key))
                {
                    if (!index[key].TryGetValue(value, out var list)) index[key][value] = list = [];
                    list.Add(account.Id);
                }
        }

        var actualById = state.Accounts.ToDictionary(a => a.Id, StringComparer.Ordinal);
        var owned = new Dictionary<string, TargetAccount>(StringComparer.Ordinal); // source id → its linked target account
        var protectedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pendingLinks = new List<(TargetAccount Account, string SourceId, CorrelationKey Key)>();
        var claims = new Dictionary<string, int>(StringComparer.Ordinal);

        foreach (var account in state.Accounts)
        {
            var actualDoc = account.Document;
            if (IsProtected(account, actualDoc))
            {
                protectedNames.Add(account.UserName);
                if (focus is null) findings.Add(new Finding(_target.Name, null, account.Id, account.UserName, "protected account, never modified"));
                continue;
            }
            if (state.Links.TryGetValue(account.Id, out var linkedSource))
            {
                if (focus is not null && !focus.Contains(linkedSource)) continue;
                Count(Situation.Linked);
                owned[linkedSource] = account;
                continue;
            }
            // Unlinked target account: who could own it?
            (string? Owner, CorrelationKey Key, bool Disputed) match = (null, default, false);
            foreach (var key in _target.Correlation)
            {
                var owners = Correlator.ValuesOf(actualDoc, key)
                    .SelectMany(v => index[key].GetValueOrDefault(v) ?? []).Distinct(StringComparer.Ordinal).ToArray();
                if (owners.Length == 0) continue;
                match = owners.Length == 1 ? (owners[0], key, false) : (null, key, true);
                break;
            }
            if (match.Disputed)
            {
                Count(Situation.Disputed);
                findings.Add(new Finding(_target.Name, Situation.Disputed, account.Id, account.UserName, $"several source accounts match by {match.Key}"));
                continue;
            }
            if (match.Owner is null)
            {
                if (focus is not null) continue;
                Count(Situation.Unmatched);
                ReactUnmatched(account, ops, findings);
                continue;
            }
            pendingLinks.Add((account, match.Owner, match.Key));
            claims[match.Owner] = claims.GetValueOrDefault(match.Owner) + 1;
        }

        // An owner claimed by two target accounts, or already linked to another one, is a dispute: guessing
        // would merge two people's access.
        foreach (var (account, owner, key) in pendingLinks)
        {
            if (claims[owner] > 1 || owned.ContainsKey(owner))
            {
                Count(Situation.Disputed);
                findings.Add(new Finding(_target.Name, Situation.Disputed, account.Id, account.UserName, $"source account {owner} matches more than one account here"));
                continue;
            }
            Count(Situation.Unlinked);
            if (_target.Policies.Unlinked == UnlinkedReaction.Link)
            {
                ops.Add(new LinkAccount(_target.Name, account.Id, owner, account.UserName, key));
                owned[owner] = account;
            }
            else
            {
                findings.Add(new Finding(_target.Name, Situation.Unlinked, account.Id, account.UserName, $"matches source account {owner} by {key}; policy is to report"));
            }
        }

        // Links whose account vanished from the target: deleted out of band.
        foreach (var (targetId, sourceId) in state.Links)
        {
            if (actualById.ContainsKey(targetId) || (focus is not null && !focus.Contains(sourceId))) continue;
            if (owned.ContainsKey(sourceId)) continue; // relinked to a newer account already
            Count(Situation.Deleted);
            var inScope = desired.ContainsKey(sourceId);
            if (!inScope || _target.Policies.Deleted == DeletedReaction.Unlink)
            {
                ops.Add(new UnlinkAccount(_target.Name, targetId, sourceId, inScope ? "deleted on the target; policy is to unlink" : "deleted on the target"));
                if (inScope) findings.Add(new Finding(_target.Name, Situation.Deleted, targetId, source.Users[sourceId].UserName, "deleted on the target; not recreated by policy"));
                if (inScope) desired.Remove(sourceId);
            }
            else
            {
                ops.Add(new UnlinkAccount(_target.Name, targetId, sourceId, "deleted on the target; recreating"));
            }
        }

        // Linked accounts: keep them right, or retire them when they leave scope.
        foreach (var (sourceId, account) in owned)
        {
            if (desired.TryGetValue(sourceId, out var want))
            {
                var wantDoc = JsonNode.Parse(want.Doc)!.AsObject();
                var actualDoc = account.Document;
                var patch = AccountDiff.Operations(wantDoc, actualDoc, _managed);
                if (patch.Count > 0)
                    ops.Add(new UpdateAccount(_target.Name, account.Id, sourceId, want.Account.UserName, patch, AccountDiff.Replacement(wantDoc, actualDoc, _managed)));
                continue;
            }
            var why = source.Users.ContainsKey(sourceId) ? "left the scope" : "deleted at the source";
            switch (_target.Policies.OutOfScope)
            {
                case OutOfScopeReaction.Delete:
                    ops.Add(new DeleteAccount(_target.Name, account.Id, sourceId, account.UserName, why));
                    break;
                case OutOfScopeReaction.Deactivate when account.Active:
                    ops.Add(new DeactivateAccount(_target.Name, account.Id, sourceId, account.UserName, why));
                    break;
            }
        }

        // In scope and nowhere on the target: create (unless the name belongs to a protected account there).
        foreach (var (sourceId, (account, docBytes)) in desired)
        {
            if (owned.ContainsKey(sourceId)) continue;
            if (protectedNames.Contains(account.UserName))
            {
                findings.Add(new Finding(_target.Name, Situation.Disputed, "", account.UserName, "a protected account on the target has this userName; not created"));
                continue;
            }
            ops.Add(new CreateAccount(_target.Name, sourceId, account.UserName, docBytes));
        }

        PlanGroups(source, state, desired.Keys.ToHashSet(StringComparer.Ordinal), owned, focus, groupFocus, ops);

        var managed = owned.Count;
        var guard = _target.Guard.Check(ops, Math.Max(managed, state.Links.Count));
        return new SyncPlan(_target.Name, ops, findings, situations, managed, guard);
    }

    private void ReactUnmatched(TargetAccount account, List<PlannedOperation> ops, List<Finding> findings)
    {
        switch (_target.Policies.Unmatched)
        {
            case UnmatchedReaction.Delete:
                ops.Add(new DeleteAccount(_target.Name, account.Id, null, account.UserName, "unmatched; policy deletes"));
                break;
            case UnmatchedReaction.Deactivate when account.Active:
                ops.Add(new DeactivateAccount(_target.Name, account.Id, null, account.UserName, "unmatched; policy deactivates"));
                break;
            default:
                findings.Add(new Finding(_target.Name, Situation.Unmatched, account.Id, account.UserName, "not managed by the engine; left alone"));
                break;
        }
    }

    /// <summary>Whether a focus account is a member of the group on the target (it may have left the source group).</summary>
    private static bool MemberOfInShadow(Sources.SourceGroup group, IReadOnlySet<string> focus, TargetState state, IReadOnlyDictionary<string, string> linkedGroups)
    {
        if (!linkedGroups.TryGetValue(group.Id, out var tgid)) return false;
        var target = state.Groups.FirstOrDefault(g => g.Id == tgid);
        if (target is null) return false;
        var focusTargets = state.Links.Where(kv => focus.Contains(kv.Value)).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        return target.Members.Any(focusTargets.Contains);
    }

    private void PlanGroups(SourceSnapshot source, TargetState state, IReadOnlySet<string> inScope, IReadOnlyDictionary<string, TargetAccount> owned,
        IReadOnlySet<string>? focus, IReadOnlySet<string>? groupFocus, List<PlannedOperation> ops)
    {
        if (!_target.Groups.All && _target.Groups.Names.Count == 0) return;
        var sourceByTarget = state.Links.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal); // source id → target id
        foreach (var (sid, account) in owned) sourceByTarget[sid] = account.Id;
        var targetToSource = sourceByTarget.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
        var linkedGroups = state.GroupLinks.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal); // source group → target group
        var targetGroups = state.Groups.ToDictionary(g => g.Id, StringComparer.Ordinal);

        foreach (var group in source.Groups.Values.OrderBy(g => g.DisplayName, StringComparer.Ordinal))
        {
            if (!_target.Groups.Includes(group.DisplayName)) continue;
            // Focused (incremental) work diffs only the focus accounts' memberships: the engine queues the members
            // whose membership changed, so the rest of a large group is never looked at.
            var fullGroup = focus is null;
            if (!fullGroup && !(groupFocus?.Contains(group.Id) ?? false) && !group.Members.Any(focus!.Contains) && !MemberOfInShadow(group, focus!, state, linkedGroups)) continue;
            TargetGroup? existing = null;
            if (linkedGroups.TryGetValue(group.Id, out var tgid)) targetGroups.TryGetValue(tgid, out existing);
            existing ??= state.Groups.FirstOrDefault(g => g.ExternalId == group.Id && !state.GroupLinks.ContainsKey(g.Id))
                ?? state.Groups.FirstOrDefault(g => g.DisplayName.Equals(group.DisplayName, StringComparison.OrdinalIgnoreCase) && !state.GroupLinks.ContainsKey(g.Id));

            var want = group.Members.Where(inScope.Contains).Where(m => fullGroup || focus!.Contains(m)).ToHashSet(StringComparer.Ordinal);
            if (existing is null)
            {
                ops.Add(new CreateGroup(_target.Name, group.Id, group.DisplayName, new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                    ["displayName"] = group.DisplayName,
                    ["externalId"] = group.Id,
                }));
                if (want.Count > 0) ops.Add(new ChangeMembers(_target.Name, group.Id, null, group.DisplayName, want.Order(StringComparer.Ordinal).ToArray(), []));
                continue;
            }
            if (!state.GroupLinks.ContainsKey(existing.Id)) ops.Add(new LinkGroup(_target.Name, existing.Id, group.Id, group.DisplayName));
            // Members we do not manage (not linked to a source account) are someone else's: left alone.
            var have = existing.Members.Where(targetToSource.ContainsKey).Select(t => targetToSource[t])
                .Where(s => fullGroup || focus!.Contains(s)).ToHashSet(StringComparer.Ordinal);
            var add = want.Where(s => !have.Contains(s)).Order(StringComparer.Ordinal).ToArray();
            var remove = have.Where(s => !want.Contains(s)).Select(s => sourceByTarget[s]).Order(StringComparer.Ordinal).ToArray();
            if (add.Length > 0 || remove.Length > 0)
                ops.Add(new ChangeMembers(_target.Name, group.Id, existing.Id, group.DisplayName, add, remove));
        }
    }
}
