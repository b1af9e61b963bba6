using System.Text.Json.Nodes;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Runs;

/// <summary>
/// A target's out-of-band changes as its shadow holds them now, and the two decisions a person makes about one:
/// accept it (the target's value stays, <see cref="AcceptedDrift"/>) or revert it (the engine's value is put back).
/// </summary>
public sealed partial class SyncEngine
{
    private readonly Lock _accepting = new();

    /// <summary>
    /// One drift scan at a time: each loads a target's whole shadow (100,000 accounts is hundreds of megabytes), so
    /// pages opened at once wait for each other instead of holding a copy each beside the lanes.
    /// </summary>
    private readonly Lock _driftScan = new();

    /// <summary>
    /// The target's out-of-band changes: every account whose shadow (as last read from the target) differs from what the
    /// engine last wrote or accepted, and every managed account gone from the target; the comparison of
    /// <c>sync reconcile</c> (<see cref="DriftDetector"/>) made on the shadow, without reading the target. It scans the
    /// target's whole shadow; the first <paramref name="max"/> are returned with their values, all are counted.
    /// </summary>
    public DriftFindings DriftOf(string target, int max)
    {
        var t = Slot(target);
        var name = t.Config.Name;
        lock (_driftScan) return Scan(t, name, max);
    }

    private DriftFindings Scan(TargetSlot t, string name, int max)
    {
        var state = _shadows.LoadState(name);
        var drift = DriftDetector.Compare(name, state, state, t.Planner.ManagedAttributes);
        var secrets = SecretsOf(name);
        var shown = drift.OrderBy(d => d.UserName, StringComparer.Ordinal).Take(max).Select(d =>
        {
            var account = d.Kind == DriftKind.Deleted ? null : _shadows.Account(name, d.TargetId);
            var changes = d.Attributes.Select(p =>
            {
                var path = MappedPath.Parse(p);
                return new DriftChange(p, secrets.Redact(p, account?.Synced is { } s ? path.Read(s)?.DeepClone() : null), secrets.Redact(p, account is null ? null : path.Read(account.Data)?.DeepClone()));
            }).ToArray();
            return new DriftFinding(d, changes, d.Kind == DriftKind.Edited && d.SourceId is not null);
        }).ToArray();
        return new DriftFindings(name, drift.Count, shown, state.Accounts.Count);
    }

    /// <summary>
    /// Accepts the out-of-band edits of one account: the attributes changed at the target keep the target's value. The
    /// shadow's drift baseline becomes the account as the target holds it (so it is no longer reported), and for each
    /// edited attribute the mapping's value now is recorded with the target's value (<see cref="AcceptedDrift"/>): plans
    /// leave the target's value while the source still wants that same value and the target still holds the accepted one.
    /// The decision is written to the provisioning log in the same unit of work.
    /// </summary>
    /// <exception cref="DriftDecisionException">Nothing can be accepted for this account (said why).</exception>
    public IReadOnlyList<string> AcceptDrift(string target, string targetId, string who)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(who);
        var t = Slot(target);
        var name = t.Config.Name;
        lock (_accepting)
        {
            var account = _shadows.Account(name, targetId) ?? throw new DriftDecisionException($"no account {targetId} in the shadow of {name}");
            var sourceId = _shadows.OwnerOf(name, targetId) ?? throw new DriftDecisionException($"{account.UserName} is not managed on {name}: there is nothing to accept");
            if (account.Synced is not { } synced) throw new DriftDecisionException($"the engine never wrote {account.UserName} on {name}: there is no out-of-band change to accept");
            if (TargetAccount.IsActive(synced) != account.Active)
                throw new DriftDecisionException($"{account.UserName} was {(account.Active ? "reactivated" : "deactivated")} on {name}: access follows the source, so this can be reverted but not accepted");
            var managed = t.Planner.ManagedAttributes;
            var edited = AccountDiff.Differences(synced, account.Data, managed).Where(p => p != "active").ToHashSet(StringComparer.OrdinalIgnoreCase);
            if (edited.Count == 0) throw new DriftDecisionException($"{account.UserName} has no out-of-band change on {name} now");
            var person = _sourceState.Current?.Users.GetValueOrDefault(sourceId) ?? throw new DriftDecisionException($"{account.UserName} is not at the source (or the source has not been read): there is no value to keep it against");
            var want = t.Planner.Mapper.Map(person, _time.GetUtcNow());
            var entries = new Dictionary<string, AcceptedDrift.Entry>(StringComparer.OrdinalIgnoreCase);
            foreach (var path in managed.Where(p => edited.Contains(p.ToString())))
                entries[path.ToString()] = new AcceptedDrift.Entry(path.Read(want)?.DeepClone(), path.Read(account.Data)?.DeepClone());
            var accepted = _shadows.LoadAcceptedDrift(name).With(targetId, entries);
            var paths = entries.Keys.Order(StringComparer.Ordinal).ToArray();
            var entry = new AuditRecord(_time.GetUtcNow(), "console:" + who, name, DecisionVerb, $"accept out-of-band changes of {account.UserName} [{targetId}]",
                targetId, sourceId, "ok", null, 0, "kept the target's " + string.Join(", ", paths)) { Writer = who, UserName = account.UserName };
            _shadows.Batch(w =>
            {
                w.SetCheckpoint(AcceptedDrift.CheckpointKey(name), accepted.ToJson());
                w.MarkSynced(name, targetId);
                w.Audit(entry);
            });
            return paths;
        }
    }

    /// <summary>
    /// Reverts one person's out-of-band changes on one target (provisioning on demand with drift repaired, whatever the
    /// drift policy); edits accepted earlier for their account are forgotten first, so they are reverted too.
    /// </summary>
    public Task<DemandReport> RevertDriftAsync(string who, string target, CancellationToken ct)
    {
        var name = Slot(target).Config.Name;
        if (_shadows.TargetIdOf(name, who) is { } targetId)
            lock (_accepting)
            {
                var accepted = _shadows.LoadAcceptedDrift(name);
                if (accepted.Of(targetId) is not null) _shadows.SetCheckpoint(AcceptedDrift.CheckpointKey(name), accepted.With(targetId, null).ToJson());
            }
        return ProvisionAsync(who, name, ct, revertDrift: true);
    }
}

/// <summary>A target's out-of-band changes (<see cref="SyncEngine.DriftOf"/>): how many, and the first of them with their values.</summary>
public sealed record DriftFindings(string Target, int Total, IReadOnlyList<DriftFinding> Shown, int Accounts);

/// <param name="CanAccept">An edit of a managed account (a deactivation, reactivation or deletion can only be reverted).</param>
public sealed record DriftFinding(DriftItem Item, IReadOnlyList<DriftChange> Changes, bool CanAccept);

/// <summary>One attribute changed at the target: as the engine wrote it, and as the target holds it (secrets redacted).</summary>
public sealed record DriftChange(string Path, JsonNode? Written, JsonNode? OnTarget);

/// <summary>A drift decision that cannot be made, with why (shown to the person who asked).</summary>
public sealed class DriftDecisionException(string message) : Exception(message);
