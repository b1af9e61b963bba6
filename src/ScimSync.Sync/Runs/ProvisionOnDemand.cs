using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Reconciliation;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.State;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Runs;

/// <summary>
/// <c>scimsync sync run --user X</c>: one person, now, on every target (or one), with a trace of each step,
/// as Entra ID's "provision on demand". The person is read from the source by one query (not a full read);
/// on each target the accounts that are theirs or could be are read (their linked account, and one query per
/// correlation value), then the person is planned by the same planner as any run, focused on them alone, so
/// nobody else is touched (of a group, only their membership). What guards any run guards this one: scope
/// and kinds, protected accounts, disputes, the drift policy, the mass-change guard (a removal past it is
/// held, for <c>sync confirm</c>), and a lookup that could not be made is treated as an incomplete read
/// (nothing created or taken away on its word).
/// </summary>
/// <param name="revertDrift">
/// A person decided to put the account back as the engine wrote it: out-of-band changes are repaired even on a target
/// whose policy is <c>drift: report</c> (the console's "revert"); the cause says <c>revert:</c>.
/// </param>
internal sealed class ProvisionOnDemand(SyncConfig config, ISyncState shadows, TimeProvider time, WatchGuard guard, SyncTelemetry telemetry,
    ILoggerFactory loggers, Func<EndpointConfig, HttpMessageHandler?>? handlers, CancellationToken stopping, bool revertDrift = false)
{
    private readonly ILogger _clientLog = loggers.CreateLogger<ScimClient>();
    private readonly ILogger _executorLog = loggers.CreateLogger<TargetExecutor>();

    /// <summary>The person as read, and the source as far as planning them needs it.</summary>
    /// <param name="Account">Null when the person is no longer at the source (linked accounts are then taken away).</param>
    /// <param name="Snapshot">The person and the groups they belong to (the whole import, for a file source).</param>
    /// <param name="Lookup">For a SCIM source: to ask about a group the person has left.</param>
    private sealed record Person(string SourceId, SourceAccount? Account, SourceSnapshot Snapshot, PersonLookup? Lookup);

    public async Task<DemandReport> RunAsync(string who, IReadOnlyList<TargetSlot> targets, CancellationToken ct)
    {
        var cause = (revertDrift ? "revert:" : "demand:") + time.GetUtcNow().ToString("yyyyMMddTHHmmssZ", CultureInfo.InvariantCulture);
        var steps = new List<DemandStep>();
        CallRecorder? recorder = null;
        ScimClient? source = null;
        try
        {
            if (config.Source is { Type: SourceType.Scim, Endpoint: { } endpoint })
            {
                recorder = new CallRecorder("source", endpoint.Url, handlers?.Invoke(endpoint));
                source = Connections.Open(endpoint, "source", time, recorder, logger: _clientLog);
            }
            var person = source is null ? FromFile(who, steps) : await FromScimAsync(who, new PersonLookup(source, config.Kinds), recorder!, steps, ct).ConfigureAwait(false);
            var results = new List<DemandTarget>();
            foreach (var t in targets) results.Add(await TargetAsync(t, person, recorder, cause, steps, ct).ConfigureAwait(false));
            return new DemandReport(who, person.SourceId, person.Account?.UserName, cause, steps, results);
        }
        finally
        {
            source?.Dispose();
            recorder?.Dispose();
        }
    }

    private Person FromFile(string who, List<DemandStep> steps)
    {
        var snapshot = FileSource.Read(config.Source.FilePath!, config.Source.Format, config.Kinds);
        var matches = snapshot.Users.Values.Where(u => u.Id == who || string.Equals(u.UserName, who, StringComparison.OrdinalIgnoreCase) ||
            (u.Document["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) && ext == who)).ToArray();
        var id = Choose(who, matches.Select(m => (m.Id, m.UserName)).ToArray());
        var account = id is null ? null : snapshot.Users[id];
        steps.Add(SourceStep(who, id ?? who, account, snapshot, $"read {config.Source.FilePath}"));
        return new Person(id ?? who, account, snapshot, null);
    }

    private async Task<Person> FromScimAsync(string who, PersonLookup lookup, CallRecorder recorder, List<DemandStep> steps, CancellationToken ct)
    {
        var found = await lookup.FindAsync(who, ct).ConfigureAwait(false);
        var id = Choose(who, found.Select(f => (f["id"]!.GetValue<string>(), f["userName"]?.GetValue<string>() ?? "")).ToArray());
        SourceAccount? account = null;
        var snapshot = new SourceSnapshot([], [], null);
        if (id is not null)
        {
            var (read, groups) = await lookup.ReadAsync(found[0], ct).ConfigureAwait(false);
            account = read;
            snapshot = new SourceSnapshot([read], groups, null);
        }
        steps.Add(SourceStep(who, id ?? who, account, snapshot, "looked up by id, userName or externalId"));
        steps.AddRange(recorder.Take().Select(c => CallStep(null, c)));
        return new Person(id ?? who, account, snapshot, lookup);
    }

    /// <summary>
    /// The one source id the operator means; null when nobody at the source has that name but accounts are still
    /// linked to it as an id (a person deleted at the source, whose access is then taken away).
    /// </summary>
    private string? Choose(string who, IReadOnlyList<(string Id, string UserName)> matches)
    {
        if (matches.Count > 1)
            throw new PersonNotFoundException($"\"{who}\" names {matches.Count} people at the source ({string.Join(", ", matches.Select(m => $"{m.UserName}, id {m.Id}"))}): name one by id", ambiguous: true);
        if (matches.Count == 1) return matches[0].Id;
        if (shadows.IsLinkedAnywhere(who)) return null;
        throw new PersonNotFoundException($"nobody at the source has the id, userName or externalId \"{who}\", and no account on a target is linked to that id", ambiguous: false);
    }

    private static DemandStep SourceStep(string who, string id, SourceAccount? account, SourceSnapshot snapshot, string how)
    {
        if (account is null)
            return new DemandStep(DemandStepKind.Source, null, "not found", $"{who} is no longer at the source ({how}); accounts linked to id {id} are treated as a leaver's");
        var groups = snapshot.GroupNamesOf(account.Id);
        var end = account.EndDate is { } e ? $", access ends {e.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}" : "";
        return new DemandStep(DemandStepKind.Source, null, "found",
            $"{account.UserName}: id {account.Id}, kind {account.Kind.ToString().ToLowerInvariant()}, {(account.SourceActive ? "active" : "inactive")}{end}, " +
            $"member of {(groups.Count == 0 ? "no group" : "[" + string.Join(", ", groups.Order(StringComparer.Ordinal)) + "]")} ({how})");
    }

    private async Task<DemandTarget> TargetAsync(TargetSlot t, Person person, CallRecorder? sourceCalls, string cause, List<DemandStep> steps, CancellationToken outer)
    {
        var name = t.Config.Name;
        var decision = person.Account is null ? ScopeDecision.NotAtSource : t.Planner.Scope.Decide(person.Account, null, person.Snapshot);
        steps.Add(new DemandStep(DemandStepKind.Scope, name, decision.InScope ? "in" : "out", decision.Reason) { Rule = decision.Rule });
        var linked = shadows.TargetIdOf(name, person.SourceId);
        if (!decision.InScope && linked is null)
        {
            steps.Add(new DemandStep(DemandStepKind.Result, name, "skipped", "out of scope, and no account here is linked to this person: nothing to do"));
            return new DemandTarget(name, 0, 0, false);
        }

        using var deadline = new Deadline(t.Config.Endpoint.Limits.RunDeadline, time, outer);
        var ct = deadline.Token;
        using var recorder = new CallRecorder(name, t.Config.Endpoint.Url, handlers?.Invoke(t.Config.Endpoint));
        using var client = Connections.Open(t.Config.Endpoint, name, time, recorder, maxUnansweredRetries: 1, logger: _clientLog);
        int applied = 0, failed = 0;
        var held = false;
        try
        {
            var found = await LookUpAsync(t, client, person, linked, decision.InScope, ct).ConfigureAwait(false);
            var lookupCalls = recorder.Take().Concat(sourceCalls?.Take() ?? []).ToArray();
            var plan = Restrict(t, t.Planner.Plan(found.Snapshot, found.State, time.GetUtcNow(), new HashSet<string>(StringComparer.Ordinal) { person.SourceId },
                new HashSet<string>(StringComparer.Ordinal)), found);
            steps.Add(Correlation(name, plan, linked, found));
            steps.AddRange(lookupCalls.Select(c => CallStep(name, c)));

            // Watch mode's rule for a batch: the removal is held past the limit, or while others are held here.
            var planned = plan.Operations;
            plan = guard.Apply(t, plan, found.State, [person.SourceId], found.Snapshot, _ => cause);
            foreach (var op in planned)
            {
                if (plan.Operations.Contains(op))
                {
                    steps.Add(new DemandStep(DemandStepKind.Plan, name, "planned", Describe(op)) { Operation = op });
                    continue;
                }
                held = true;
                var reason = shadows.Holds(name).FirstOrDefault(h => h.Key == WatchGuard.KeyOf(op))?.Reason ?? "held by the mass-change guard";
                steps.Add(new DemandStep(DemandStepKind.Guard, name, "held", $"{Describe(op)}: {reason}; `scimsync sync confirm {name}` releases it") { Operation = op });
            }
            foreach (var f in plan.Findings)
                steps.Add(new DemandStep(DemandStepKind.Plan, name, f.Situation?.ToString().ToLowerInvariant() ?? "protected", $"{f.UserName}{(f.TargetId.Length > 0 ? $" [{f.TargetId}]" : "")}: {f.Detail}"));
            if (planned.Count == 0 && plan.Findings.Count == 0)
                steps.Add(new DemandStep(DemandStepKind.Plan, name, "nothing to do", "the target already holds what the source wants for this person"));

            var executor = new TargetExecutor(client, shadows, time, 1)
            {
                BatchSize = t.Config.Groups.BatchSize, MemberRemoval = t.Config.Endpoint.Dialect.MemberRemoval, Health = t.Health, Logger = _executorLog,
                Telemetry = telemetry, Stopping = stopping,
            };
            var done = new List<PlannedOperation>();
            await t.Structure.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                // One unit at a time, so that each call in the trace stands under the operation that made it.
                foreach (var unit in Units(plan.Operations))
                {
                    var report = await executor.ExecuteAsync(plan with { Operations = unit }, _ => new ChangeOrigin(cause), null, ct, LogLevel.Information).ConfigureAwait(false);
                    applied += report.Succeeded;
                    failed += report.Failed;
                    foreach (var op in unit)
                    {
                        var (outcome, detail) = OutcomeOf(op, report);
                        if (outcome == "ok") done.Add(op);
                        steps.Add(new DemandStep(DemandStepKind.Operation, name, outcome, detail is null ? Describe(op) : $"{Describe(op)}: {detail}") { Operation = op });
                    }
                    steps.AddRange(recorder.Take().Select(c => CallStep(name, c)));
                }
            }
            finally
            {
                t.Structure.Release();
            }
            steps.Add(ResultStep(name, person, done, applied, failed, held));
            return new DemandTarget(name, applied, failed, held);
        }
        catch (Exception e) when ((TargetFailure.IsExpected(e) && !outer.IsCancellationRequested)
            || (e is OperationCanceledException && deadline.Expired && !outer.IsCancellationRequested))
        {
            // This target fails alone, with the calls that led there; the others are still provisioned.
            if (e is ScimClientException sce && TargetHealth.IsUnreachable(sce)) t.Health.MarkDown(sce.Detail ?? sce.Message);
            steps.AddRange(recorder.Take().Concat(sourceCalls?.Take() ?? []).Select(c => CallStep(name, c)));
            var error = e is OperationCanceledException && deadline.Expired ? $"did not finish within {deadline} (limits.runTimeout)" : e.Message;
            steps.Add(new DemandStep(DemandStepKind.Result, name, "failed", error));
            return new DemandTarget(name, applied, failed, held, error);
        }
    }

    /// <summary>What the target holds that concerns the person, read now, and the source as planning them needs it.</summary>
    /// <param name="Fresh">The accounts read from the target: the linked one, and those a correlation query returned.</param>
    /// <param name="Problems">Lookups the target could not answer (the read is then incomplete).</param>
    /// <param name="Asked">The correlation queries made, for the trace.</param>
    private sealed record Found(TargetState State, SourceSnapshot Snapshot, IReadOnlyDictionary<string, TargetAccount> Fresh, IReadOnlyList<string> Problems, IReadOnlyList<string> Asked);

    private async Task<Found> LookUpAsync(TargetSlot t, ScimClient client, Person person, string? linked, bool inScope, CancellationToken ct)
    {
        var name = t.Config.Name;
        var now = time.GetUtcNow();
        var fresh = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var problems = new List<string>();
        var asked = new List<string>();
        if (linked is not null && await client.GetAsync("Users", linked, null, ct).ConfigureAwait(false) is { } current) fresh[linked] = current;
        string[] names = [], externalIds = [];
        if (inScope)
        {
            // Correlation compares what the engine would create with what is there, key by key: each value one query.
            var wanted = t.Planner.Mapper.Map(person.Account!, now);
            names = Correlator.ValuesOf(wanted, CorrelationKey.UserName).ToArray();
            externalIds = Correlator.ValuesOf(wanted, CorrelationKey.ExternalId).ToArray();
            foreach (var key in t.Config.Correlation)
                foreach (var value in Correlator.ValuesOf(wanted, key))
                {
                    var filter = $"{Attribute(key)} eq {PersonLookup.Quote(value)}";
                    asked.Add(filter);
                    try
                    {
                        await foreach (var page in client.ListAsync("Users", new ListOptions { Filter = filter, PageSize = 10 }, ct).ConfigureAwait(false))
                            foreach (var r in page.Resources)
                                if (r["id"] is JsonValue v && v.TryGetValue<string>(out var id)) fresh[id] = r;
                    }
                    catch (ScimClientException e) when (e.Status is 400 or 403 or 501)
                    {
                        problems.Add($"the target would not answer `{filter}` ({e.Status} {e.Detail})");
                    }
                }
        }

        // What was read becomes the shadow's "as last seen" (the drift baseline, `synced`, is kept): a link made
        // now must have its account in the shadow, as after a full read.
        var accounts = fresh.Select(kv => new TargetAccount(kv.Key, kv.Value)).ToArray();
        shadows.Batch(w => { foreach (var a in accounts) w.PutAccount(name, a, now); });
        var shadow = shadows.LoadStateFor(name, [person.SourceId], names.Concat(accounts.Select(a => a.UserName)).ToArray(), externalIds);
        var links = new Dictionary<string, string>(shadow.Links, StringComparer.Ordinal);
        foreach (var a in accounts)
            if (!links.ContainsKey(a.Id) && shadows.OwnerOf(name, a.Id) is { } owner) links[a.Id] = owner;
        // The accounts as read now, not as the shadow last saw them: a stale copy must not be linked or updated.
        var withBaseline = accounts.Select(a => new TargetAccount(a.Id, a.Json.ToArray(), shadows.SyncedJson(name, a.Id))).ToArray();
        var state = new TargetState(withBaseline, shadow.Groups, links, shadow.GroupLinks) { ManagedAccounts = shadow.ManagedAccounts, Accepted = shadows.LoadAcceptedDrift(name) };
        var snapshot = await WithGroupsLeftAsync(person, state, links, ct).ConfigureAwait(false);
        return new Found(state, snapshot, withBaseline.ToDictionary(a => a.Id, StringComparer.Ordinal), problems, asked);
    }

    /// <summary>
    /// A SCIM source's snapshot holds the groups the person is in now; a group they were in on the target and
    /// have left at the source is added (empty, as far as planning them goes) so that their membership there
    /// is taken away. Asked of the source by id: a group that is gone is left to group retirement in a full run.
    /// </summary>
    private static async Task<SourceSnapshot> WithGroupsLeftAsync(Person person, TargetState state, IReadOnlyDictionary<string, string> links, CancellationToken ct)
    {
        if (person.Lookup is null) return person.Snapshot;
        var mine = links.Where(kv => kv.Value == person.SourceId).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var left = new List<SourceGroup>();
        foreach (var g in state.Groups.Where(g => g.Members.Any(mine.Contains)))
            if (state.GroupLinks.TryGetValue(g.Id, out var sourceGroup) && !person.Snapshot.Groups.ContainsKey(sourceGroup)
                && await person.Lookup.DisplayNameAsync(sourceGroup, ct).ConfigureAwait(false) is { } displayName)
                left.Add(new SourceGroup(sourceGroup, displayName, []));
        return left.Count == 0 ? person.Snapshot : person.Snapshot.With([], [], left, [], null);
    }

    private static string Attribute(CorrelationKey key) => key switch
    {
        CorrelationKey.ExternalId => "externalId",
        CorrelationKey.UserName => "userName",
        _ => "emails.value",
    };

    /// <summary>The rules a full run applies after its read: a lookup that failed is an incomplete read; drift is left alone when the policy says so.</summary>
    private SyncPlan Restrict(TargetSlot t, SyncPlan plan, Found found)
    {
        var before = found.State.Accounts.ToDictionary(a => a.Id, a => a.UserName, StringComparer.Ordinal);
        var drift = DriftDetector.Compare(t.Config.Name, before, found.State, t.Planner.ManagedAttributes);
        var rules = revertDrift ? t.Config with { Policies = t.Config.Policies with { Drift = DriftReaction.Repair } } : t.Config;
        return TargetPass.AfterRead(rules, plan, drift, found.Problems.Count > 0 ? found.Problems : null);
    }

    /// <summary>The person's situation on the target, in midPoint's words, from what was read and what was planned.</summary>
    private static DemandStep Correlation(string target, SyncPlan plan, string? linked, Found found)
    {
        var disputed = plan.Findings.Where(f => f.Situation == Situation.Disputed).ToArray();
        var unlinked = plan.Findings.FirstOrDefault(f => f.Situation == Situation.Unlinked);
        var link = plan.Operations.OfType<LinkAccount>().FirstOrDefault();
        var asked = found.Asked.Count == 0 ? "" : $" (asked: {string.Join("; ", found.Asked)})";
        if (disputed.Length > 0)
            return new DemandStep(DemandStepKind.Correlation, target, "disputed", string.Join("; ", disputed.Select(f => $"{f.UserName} [{f.TargetId}]: {f.Detail}")))
                { TargetId = disputed[0].TargetId.Length > 0 ? disputed[0].TargetId : null };
        if (link is not null)
            return new DemandStep(DemandStepKind.Correlation, target, "unlinked", $"{link.UserName} [{link.TargetId}] matches by {link.Key}: it is linked to this person{asked}") { TargetId = link.TargetId };
        if (unlinked is not null)
            return new DemandStep(DemandStepKind.Correlation, target, "unlinked", $"{unlinked.UserName} [{unlinked.TargetId}]: {unlinked.Detail}") { TargetId = unlinked.TargetId };
        if (linked is not null && found.Fresh.TryGetValue(linked, out var account))
            return new DemandStep(DemandStepKind.Correlation, target, "linked", $"{account.UserName} [{linked}], this person's account") { TargetId = linked };
        if (linked is not null)
            return new DemandStep(DemandStepKind.Correlation, target, "deleted", $"the linked account [{linked}] is no longer on the target") { TargetId = linked };
        return new DemandStep(DemandStepKind.Correlation, target, "none", $"no account here is this person's{asked}");
    }

    /// <summary>
    /// The plan in the order the executor applies it (state-only links first, then accounts, urgent first, then
    /// groups), each operation alone but a group's creation with the members added to it, which needs its new id.
    /// </summary>
    private static IEnumerable<IReadOnlyList<PlannedOperation>> Units(IReadOnlyList<PlannedOperation> ops)
    {
        foreach (var op in ops.Where(o => o is LinkAccount or UnlinkAccount or LinkGroup)) yield return [op];
        foreach (var op in ops.Where(o => o is CreateAccount or UpdateAccount or DeactivateAccount or DeleteAccount).OrderByDescending(o => o.Urgent)) yield return [op];
        foreach (var op in ops.OfType<RetireGroup>()) yield return [op];
        foreach (var create in ops.OfType<CreateGroup>())
            yield return [create, .. ops.OfType<ChangeMembers>().Where(m => m.TargetGroupId is null && m.SourceGroupId == create.SourceGroupId)];
        foreach (var op in ops.OfType<ChangeMembers>().Where(m => m.TargetGroupId is not null)) yield return [op];
    }

    private static (string Outcome, string? Detail) OutcomeOf(PlannedOperation op, ExecutionReport report)
    {
        // The executor names a failed operation at the start of its error.
        var error = report.Errors.FirstOrDefault(e => e.StartsWith(op + ":", StringComparison.Ordinal));
        if (error is not null) return ("failed", error[(op.ToString().Length + 1)..].Trim());
        if (report.Failed + report.Stopped == 0) return ("ok", null);
        return report.NotAttempted > 0 ? ("not tried", "the target stopped answering") : report.Stopped > 0 ? ("not started", "stopped on request") : ("ok", null);
    }

    private DemandStep ResultStep(string target, Person person, IReadOnlyList<PlannedOperation> done, int applied, int failed, bool held)
    {
        var account = shadows.TargetIdOf(target, person.SourceId);
        var what = done.Count == 0 ? "no change" : string.Join(", ", done.Select(o => $"{o.Verb} {o.Subject}"));
        var (outcome, detail) = (failed, applied, held) switch
        {
            ( > 0, > 0, _) => ("partially applied", $"{what}; {failed} failed"),
            ( > 0, _, _) => ("failed", $"{failed} operations failed"),
            (_, _, true) => ("held", $"{what}; a removal waits for `scimsync sync confirm {target}`"),
            (_, > 0, _) => ("applied", what),
            _ => ("no change", "nothing needed doing"),
        };
        return new DemandStep(DemandStepKind.Result, target, outcome, detail) { TargetId = account };
    }

    private static string Describe(PlannedOperation op) => $"{op.Verb} {op.Subject}{(op.Detail.Length > 0 ? " (" + op.Detail + ")" : "")}";

    private static DemandStep CallStep(string? target, RecordedCall call) =>
        new(DemandStepKind.Call, target, call.Status?.ToString(CultureInfo.InvariantCulture) ?? "no answer",
            $"{call.Endpoint}: {call.Method} {call.Path} → {(call.Status is { } s ? s.ToString(CultureInfo.InvariantCulture) : call.Error)} ({call.Ms:F0} ms)") { Call = call };
}
