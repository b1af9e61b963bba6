using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Inquiry;

/// <summary>Whether a person is in a target's scope, and the rule that decided it, in the words of the configuration.</summary>
public sealed record ScopeDecision(bool InScope, string Rule);

/// <summary>
/// Why a target's scope takes or leaves a person. The verdict is the planner's own (<see cref="Scoping.CompiledScope.InScope"/>),
/// so this can never disagree with what a run does; the reason retraces the same rules in the same order to name the
/// one that decided. Everything `sync user` knows about scope goes through <see cref="Explain"/>: when the scope
/// rules change, this one method follows them.
/// </summary>
public static class ScopeExplanation
{
    public static ScopeDecision Explain(TargetConfig target, SourceAccount account, SourceSnapshot snapshot, SchemaRegistry registry)
    {
        var rule = target.Scope;
        var document = account.Document;
        var verdict = rule.Compile(registry).InScope(account, document, snapshot);
        var kind = account.Kind.ToString().ToLowerInvariant();
        string reason;
        if (AccountKindRules.IsProtectedKind(account.Kind)) reason = $"{kind} accounts are never in any scope (each application has its own)";
        else if (rule.Exclude.Contains(account.UserName)) reason = "named in scope.exclude";
        else if (rule.Include.Contains(account.UserName)) reason = "named in scope.include";
        else if (rule.Kinds.Count > 0 && !rule.Kinds.Contains(account.Kind)) reason = $"kind {kind} is not in scope.kinds [{Kinds(rule.Kinds)}]";
        else if (rule.Filter is not null && !Matches(rule.Filter, document, registry)) reason = $"does not match scope.filter {rule.Filter}";
        else if (rule.Groups.Count > 0 && !snapshot.GroupNamesOf(account.Id).Any(rule.Groups.Contains))
            reason = $"not a member of scope.groups [{string.Join(", ", rule.Groups.Order(StringComparer.Ordinal))}]";
        else
        {
            // Every rule that applies lets the person in: name them all (the first that would not is what decides otherwise).
            var passed = new List<string>();
            if (rule.Kinds.Count > 0) passed.Add($"kind {kind} is in scope.kinds");
            if (rule.Filter is not null) passed.Add($"matches scope.filter {rule.Filter}");
            if (rule.Groups.Count > 0) passed.Add($"member of {string.Join(", ", snapshot.GroupNamesOf(account.Id).Where(rule.Groups.Contains).Order(StringComparer.Ordinal))} (scope.groups)");
            reason = passed.Count > 0 ? string.Join("; ", passed) : "no scope rule on this target: everyone but builtin and service accounts";
        }
        return new ScopeDecision(verdict, reason);
    }

    private static string Kinds(IEnumerable<AccountKind> kinds) => string.Join(", ", kinds.Select(k => k.ToString().ToLowerInvariant()).Order(StringComparer.Ordinal));

    private static bool Matches(string filter, System.Text.Json.Nodes.JsonObject document, SchemaRegistry registry) =>
        FilterEvaluator.Matches(FilterBinder.Bind(ScimFilterParser.Parse(filter), registry.User, registry, strict: false), document);
}
