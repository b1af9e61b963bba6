using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Planning;

/// <summary>
/// An account as a target holds it (from a fresh read, or from the shadow when planning incrementally),
/// kept as compact UTF-8 JSON like <see cref="SourceAccount"/>; <see cref="Document"/> parses a fresh copy.
/// </summary>
public sealed class TargetAccount
{
    private readonly byte[] _json;
    private readonly byte[]? _synced;
    private readonly string? _externalId;

    /// <summary>An account as a target answered it: its keys read from the document at hand, not parsed again from its bytes.</summary>
    public TargetAccount(string id, JsonObject document)
    {
        Id = id;
        _json = JsonSerializer.SerializeToUtf8Bytes(document);
        _externalId = document["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) ? ext : null;
        UserName = document["userName"] is JsonValue u && u.TryGetValue<string>(out var name) ? name : "";
        Active = AccountKindRules.IsActive(document);
    }

    public TargetAccount(string id, byte[] json, byte[]? synced = null)
    {
        Id = id;
        _json = json;
        _synced = synced;
        // The same reading as AccountKindRules.IsActive, on the bytes.
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        UserName = root.TryGetProperty("userName", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString()! : "";
        Active = !root.TryGetProperty("active", out var a) || a.ValueKind switch
        {
            JsonValueKind.False => false,
            JsonValueKind.String => !string.Equals(a.GetString(), "false", StringComparison.OrdinalIgnoreCase),
            _ => true,
        };
    }

    /// <inheritdoc cref="AccountKindRules.IsActive"/>
    public static bool IsActive(JsonObject document) => AccountKindRules.IsActive(document);

    public string Id { get; }
    public string UserName { get; }
    public bool Active { get; }
    /// <summary>Read from the document when asked (a full target's worth of these strings is not kept).</summary>
    public string? ExternalId => _externalId ?? ExternalIdOf(_json);

    private static string? ExternalIdOf(byte[] json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty("externalId", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
    }

    /// <summary>
    /// What a shadow search finds the account by besides its userName, read from the document in one pass: its
    /// externalId, and its email key (<see cref="EmailKey"/> of the primary address, else the first).
    /// </summary>
    public (string? ExternalId, string? Email) SearchKeys()
    {
        using var doc = JsonDocument.Parse(_json);
        var root = doc.RootElement;
        var externalId = _externalId ?? (root.TryGetProperty("externalId", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null);
        if (!root.TryGetProperty("emails", out var emails) || emails.ValueKind != JsonValueKind.Array) return (externalId, null);
        string? first = null;
        foreach (var m in emails.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("value", out var v) || v.ValueKind != JsonValueKind.String) continue;
            if (m.TryGetProperty("primary", out var p) && p.ValueKind == JsonValueKind.True) return (externalId, EmailKey(v.GetString()!));
            first ??= v.GetString();
        }
        return (externalId, first is null ? null : EmailKey(first));
    }

    /// <summary>
    /// An email address as a shadow search compares it: trimmed and lower-cased (RFC 5321 leaves the local part's
    /// case to the receiving host, but no directory distinguishes addresses by case).
    /// </summary>
    public static string EmailKey(string address) => address.Trim().ToLowerInvariant();

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
    IReadOnlyDictionary<string, string> GroupLinks)
{
    private readonly int? _managedAccounts;

    /// <summary>Out-of-band edits a person accepted on this target (<see cref="AcceptedDrift"/>): the plan leaves them while they hold.</summary>
    public AcceptedDrift Accepted { get; init; } = AcceptedDrift.None;
    private readonly int? _managedGroups;

    /// <summary>
    /// Accounts the engine manages on the whole target (its links in the shadow), whatever part of the
    /// target this state holds: the mass-change guard's denominator, the same for a full plan and for a
    /// batch of queued changes.
    /// </summary>
    public int ManagedAccounts
    {
        get => _managedAccounts ?? Links.Count;
        init => _managedAccounts = value;
    }

    /// <summary>Groups the engine manages on the whole target.</summary>
    public int ManagedGroups
    {
        get => _managedGroups ?? GroupLinks.Count;
        init => _managedGroups = value;
    }
}

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
    private readonly GroupPlanner _groups;

    public TargetPlanner(TargetConfig target, AccountKindRules kinds, SchemaRegistry registry)
    {
        _target = target;
        _kinds = kinds;
        _scope = target.Scope.Compile(registry);
        _mapper = new AccountMapper(target.Mapping);
        _managed = _mapper.ManagedAttributes();
        _groups = new GroupPlanner(target);
    }

    public AccountMapper Mapper => _mapper;

    /// <summary>The target's scope, for explaining a decision the way the planner makes it.</summary>
    public CompiledScope Scope => _scope;
    public IReadOnlyList<MappedPath> ManagedAttributes => _managed;

    /// <summary>Builtin and service accounts (by kind on the target, or by name) are never touched.</summary>
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

        // The plan is built in passes that keep only what a later pass needs: a full plan of a large target
        // must not hold a desired copy of every account, nor correlation indexes over all of them (reconciling
        // 100,000 accounts stays within 500 MB).

        // 1. The target as it is: protected, linked (owned), or waiting to be correlated.
        var actualById = new HashSet<string>(StringComparer.Ordinal);
        var owned = new Dictionary<string, TargetAccount>(StringComparer.Ordinal); // source id → its linked target account
        var protectedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var unlinked = new List<TargetAccount>();
        // Correlation only needs the values the unlinked accounts offer: the index built below holds the
        // source accounts that share one of them, not every source account.
        var wanted = _target.Correlation.ToDictionary(k => k, _ => new HashSet<string>(StringComparer.Ordinal));
        foreach (var account in state.Accounts)
        {
            actualById.Add(account.Id);
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
            unlinked.Add(account);
            foreach (var key in _target.Correlation) wanted[key].UnionWith(Correlator.ValuesOf(actualDoc, key));
        }
        var index = _target.Correlation.ToDictionary(k => k, _ => new Dictionary<string, List<string>>(StringComparer.Ordinal));

        // 2. What should be there. Linked accounts are compared as they are met, so their desired documents
        // are not kept; the others are kept (as bytes) for correlation and creation.
        var inScope = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Dictionary<string, (SourceAccount Account, byte[] Doc)>(StringComparer.Ordinal);
        var updates = new List<PlannedOperation>();
        IEnumerable<SourceAccount> candidates = focus is null ? source.Users.Values : focus.Select(id => source.Users.GetValueOrDefault(id)).OfType<SourceAccount>();
        foreach (var account in candidates)
        {
            var sourceDoc = account.Document;
            if (!_scope.InScope(account, sourceDoc, source)) continue;
            var doc = _mapper.Map(account, sourceDoc, now);
            inScope.Add(account.Id);
            if (unlinked.Count > 0)
                foreach (var key in _target.Correlation)
                    foreach (var value in Correlator.ValuesOf(doc, key))
                    {
                        if (!wanted[key].Contains(value)) continue;
                        if (!index[key].TryGetValue(value, out var list)) index[key][value] = list = [];
                        list.Add(account.Id);
                    }
            if (owned.TryGetValue(account.Id, out var linked)) Compare(account, doc, linked, state.Accepted, updates);
            else pending[account.Id] = (account, JsonSerializer.SerializeToUtf8Bytes(doc));
        }

        // 3. Unlinked target accounts: who could own them?
        var pendingLinks = new List<(TargetAccount Account, string SourceId, CorrelationKey Key)>();
        var claims = new Dictionary<string, List<TargetAccount>>(StringComparer.Ordinal);
        // A source account in a dispute gets no create, no link and no change here until it is resolved:
        // creating it would add a third account beside the two that compete for it.
        var disputedSources = new HashSet<string>(StringComparer.Ordinal);
        foreach (var account in unlinked)
        {
            var actualDoc = account.Document;
            (string[] Owners, CorrelationKey Key) match = ([], default);
            foreach (var key in _target.Correlation)
            {
                var owners = Correlator.ValuesOf(actualDoc, key)
                    .SelectMany(v => index[key].GetValueOrDefault(v) ?? []).Distinct(StringComparer.Ordinal).ToArray();
                if (owners.Length == 0) continue;
                match = (owners, key);
                break;
            }
            if (match.Owners.Length > 1)
            {
                Count(Situation.Disputed);
                var names = match.Owners.Select(o => source.Users.GetValueOrDefault(o)?.UserName ?? o).Order(StringComparer.Ordinal);
                findings.Add(new Finding(_target.Name, Situation.Disputed, account.Id, account.UserName,
                    $"source accounts {string.Join(", ", names)} all match it by {match.Key}; none is created, linked or changed here until one is chosen"));
                foreach (var owner in match.Owners.Where(o => !owned.ContainsKey(o))) disputedSources.Add(owner);
                continue;
            }
            if (match.Owners.Length == 0)
            {
                if (focus is not null) continue;
                Count(Situation.Unmatched);
                ReactUnmatched(account, ops, findings);
                continue;
            }
            var single = match.Owners[0];
            pendingLinks.Add((account, single, match.Key));
            if (!claims.TryGetValue(single, out var claimants)) claims[single] = claimants = [];
            claimants.Add(account);
        }

        // An owner claimed by two target accounts, or already linked to another one, is a dispute: guessing
        // would merge two people's access. A linked owner keeps its link (the extra account is reported); an
        // owner without one waits for a person.
        foreach (var (account, owner, key) in pendingLinks)
        {
            if (claims[owner].Count > 1 || owned.ContainsKey(owner) || disputedSources.Contains(owner))
            {
                Count(Situation.Disputed);
                var competing = owned.TryGetValue(owner, out var linkedAccount)
                    ? $"already linked to {linkedAccount.UserName} [{linkedAccount.Id}]"
                    : $"{(claims[owner].Count > 1 ? "competing" : "also matching other accounts")}: {string.Join(", ", claims[owner].Where(a => a.Id != account.Id).Select(a => $"{a.UserName} [{a.Id}]"))}";
                findings.Add(new Finding(_target.Name, Situation.Disputed, account.Id, account.UserName,
                    $"source account {source.Users.GetValueOrDefault(owner)?.UserName ?? owner} matches it by {key}, {competing}"));
                if (!owned.ContainsKey(owner)) disputedSources.Add(owner);
                continue;
            }
            Count(Situation.Unlinked);
            if (_target.Policies.Unlinked == UnlinkedReaction.Link)
            {
                ops.Add(new LinkAccount(_target.Name, account.Id, owner, account.UserName, key));
                owned[owner] = account;
                if (pending.Remove(owner, out var want)) Compare(want.Account, JsonNode.Parse(want.Doc)!.AsObject(), account, state.Accepted, updates);
            }
            else
            {
                findings.Add(new Finding(_target.Name, Situation.Unlinked, account.Id, account.UserName, $"matches source account {owner} by {key}; policy is to report"));
            }
        }

        // Links whose account vanished from the target: deleted out of band.
        foreach (var (targetId, sourceId) in state.Links)
        {
            if (actualById.Contains(targetId) || (focus is not null && !focus.Contains(sourceId))) continue;
            if (owned.ContainsKey(sourceId)) continue; // relinked to a newer account already
            Count(Situation.Deleted);
            var wasInScope = inScope.Contains(sourceId);
            if (!wasInScope || _target.Policies.Deleted == DeletedReaction.Unlink)
            {
                ops.Add(new UnlinkAccount(_target.Name, targetId, sourceId, wasInScope ? "deleted on the target; policy is to unlink" : "deleted on the target"));
                if (wasInScope)
                {
                    findings.Add(new Finding(_target.Name, Situation.Deleted, targetId, source.Users[sourceId].UserName, "deleted on the target; not recreated by policy"));
                    inScope.Remove(sourceId);
                    pending.Remove(sourceId);
                }
            }
            else
            {
                ops.Add(new UnlinkAccount(_target.Name, targetId, sourceId, "deleted on the target; recreating"));
            }
        }

        // Linked accounts are kept right (above), or retired when they leave scope.
        ops.AddRange(updates);
        foreach (var (sourceId, account) in owned)
        {
            if (inScope.Contains(sourceId)) continue;
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

        // In scope and nowhere on the target: create (unless the name belongs to a protected account there,
        // or accounts there compete for this person).
        foreach (var (sourceId, (account, docBytes)) in pending)
        {
            if (owned.ContainsKey(sourceId) || disputedSources.Contains(sourceId)) continue;
            if (protectedNames.Contains(account.UserName))
            {
                findings.Add(new Finding(_target.Name, Situation.Disputed, "", account.UserName, "a protected account on the target has this userName; not created"));
                continue;
            }
            ops.Add(new CreateAccount(_target.Name, sourceId, account.UserName, docBytes));
        }

        _groups.Plan(source, state, inScope, owned, focus, groupFocus, ops);

        var guard = _target.Guard.Check(ops.Removals(), new GuardBaseline(state.ManagedAccounts, state.ManagedGroups));
        return new SyncPlan(_target.Name, ops, findings, situations, state.ManagedAccounts, guard);
    }

    /// <summary>Adds the update that brings a linked account to what the source wants, if anything differs.</summary>
    private void Compare(SourceAccount account, JsonObject want, TargetAccount actual, AcceptedDrift accepted, List<PlannedOperation> updates)
    {
        var actualDoc = actual.Document;
        accepted.Keep(actual.Id, want, actualDoc, _managed);
        var patch = AccountDiff.Operations(want, actualDoc, _managed);
        if (patch.Count > 0)
            updates.Add(new UpdateAccount(_target.Name, actual.Id, account.Id, account.UserName, patch, AccountDiff.Replacement(want, actualDoc, _managed)));
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
}
