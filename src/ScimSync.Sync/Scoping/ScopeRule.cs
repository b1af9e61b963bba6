using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Scoping;

/// <summary>
/// Which source accounts a target should hold (docs/sync.md, "Scope"). Each setting reads as it acts:
/// <list type="bullet">
/// <item><see cref="Kinds"/>, <see cref="Filter"/>, <see cref="Groups"/> and <see cref="Only"/> restrict: an
/// account is in scope only when it passes every one of them that is set (none set: everyone).</item>
/// <item><see cref="Also"/> adds named accounts to whatever else is in scope, whatever the restrictions say.</item>
/// <item><see cref="Exclude"/> takes named accounts out, and wins over everything (a person named in both
/// <c>also</c> and <c>exclude</c> is out: taking access away is the safer reading).</item>
/// </list>
/// Builtin and service accounts are never in scope: each application has its own, and a management side
/// that provisioned them could also break them.
/// </summary>
/// <param name="Only">userNames: when set, nobody else is in scope (the others still have to pass the rest).</param>
/// <param name="Also">userNames added to the scope.</param>
/// <param name="Exclude">userNames never in scope.</param>
public sealed record ScopeRule(
    IReadOnlySet<AccountKind> Kinds,
    string? Filter,
    IReadOnlySet<string> Groups,
    IReadOnlySet<string> Only,
    IReadOnlySet<string> Also,
    IReadOnlySet<string> Exclude)
{
    public static ScopeRule Everyone { get; } = new(new HashSet<AccountKind>(), null, new HashSet<string>(), Names(), Names(), Names());

    /// <summary>userName sets compare as SCIM compares userNames: case-insensitively.</summary>
    public static HashSet<string> Names(params IEnumerable<string> names) => new(names, StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses and binds the filter once; throws a <see cref="Protocol.Errors.ScimException"/> when it is not valid SCIM.</summary>
    public CompiledScope Compile(SchemaRegistry registry)
    {
        BoundFilter? bound = null;
        if (Filter is not null) bound = FilterBinder.Bind(ScimFilterParser.Parse(Filter), registry.User, registry, strict: false);
        return new CompiledScope(this, bound);
    }
}

public sealed class CompiledScope(ScopeRule rule, BoundFilter? filter)
{
    public ScopeRule Rule => rule;

    /// <param name="document">The account's parsed document when the caller has it (saves a parse).</param>
    /// <remarks>The planner's question, asked for every account of a full plan: no sentence is built.</remarks>
    public bool InScope(SourceAccount account, System.Text.Json.Nodes.JsonObject? document, SourceSnapshot snapshot) =>
        Evaluate(account, document, snapshot) is ScopeBasis.Also or ScopeBasis.Restrictions or ScopeBasis.Everyone;

    /// <summary>The same decision as <see cref="InScope"/>, with the setting that made it and why, for a person.</summary>
    public ScopeDecision Decide(SourceAccount account, System.Text.Json.Nodes.JsonObject? document, SourceSnapshot snapshot)
    {
        var basis = Evaluate(account, document, snapshot);
        var kind = account.Kind.ToString().ToLowerInvariant();
        var groups = snapshot.GroupNamesOf(account.Id);
        return basis switch
        {
            ScopeBasis.ProtectedKind => new(false, basis, "builtin/service", $"{kind} accounts are never provisioned (each application has its own)"),
            ScopeBasis.Exclude => new(false, basis, "scope.exclude", $"{account.UserName} is named in scope.exclude"),
            ScopeBasis.Also => new(true, basis, "scope.also", $"{account.UserName} is named in scope.also"),
            ScopeBasis.Only => new(false, basis, "scope.only", $"{account.UserName} is not named in scope.only {List(rule.Only)}"),
            ScopeBasis.Kinds => new(false, basis, "scope.kinds", $"kind {kind} is not in scope.kinds {List(rule.Kinds.Select(k => k.ToString().ToLowerInvariant()))}"),
            ScopeBasis.Filter => new(false, basis, "scope.filter", $"does not match scope.filter {rule.Filter}"),
            ScopeBasis.Groups => new(false, basis, "scope.groups", groups.Count == 0
                ? $"member of no group; scope.groups is {List(rule.Groups)}"
                : $"member of {List(groups)}, none of scope.groups {List(rule.Groups)}"),
            ScopeBasis.Everyone => new(true, basis, "everyone", "the target restricts nothing: everyone but builtin and service accounts"),
            _ => new(true, basis, string.Join(" + ", Passed(account, groups).Select(p => p.Setting)), string.Join("; ", Passed(account, groups).Select(p => p.Why))),
        };
    }

    /// <summary>
    /// The one place the scope's semantics live. The order is the precedence: what is never provisioned,
    /// then exclude (it wins), then also (it adds), then each restriction in turn.
    /// </summary>
    private ScopeBasis Evaluate(SourceAccount account, System.Text.Json.Nodes.JsonObject? document, SourceSnapshot snapshot)
    {
        if (AccountKindRules.IsProtectedKind(account.Kind)) return ScopeBasis.ProtectedKind;
        if (rule.Exclude.Contains(account.UserName)) return ScopeBasis.Exclude;
        if (rule.Also.Contains(account.UserName)) return ScopeBasis.Also;
        if (rule.Only.Count > 0 && !rule.Only.Contains(account.UserName)) return ScopeBasis.Only;
        if (rule.Kinds.Count > 0 && !rule.Kinds.Contains(account.Kind)) return ScopeBasis.Kinds;
        if (filter is not null && !FilterEvaluator.Matches(filter, document ?? account.Document)) return ScopeBasis.Filter;
        if (rule.Groups.Count > 0 && !snapshot.GroupNamesOf(account.Id).Any(rule.Groups.Contains)) return ScopeBasis.Groups;
        return rule.Only.Count == 0 && rule.Kinds.Count == 0 && filter is null && rule.Groups.Count == 0 ? ScopeBasis.Everyone : ScopeBasis.Restrictions;
    }

    /// <summary>For an account in scope by its restrictions: each one it passed.</summary>
    private IEnumerable<(string Setting, string Why)> Passed(SourceAccount account, IReadOnlyList<string> groups)
    {
        if (rule.Only.Count > 0) yield return ("scope.only", "named in scope.only");
        if (rule.Kinds.Count > 0) yield return ("scope.kinds", $"kind {account.Kind.ToString().ToLowerInvariant()} is in scope.kinds");
        if (filter is not null) yield return ("scope.filter", $"matches scope.filter {rule.Filter}");
        if (rule.Groups.Count > 0) yield return ("scope.groups", $"member of {List(groups.Where(rule.Groups.Contains))} (scope.groups)");
    }

    private static string List(IEnumerable<string> items) => "[" + string.Join(", ", items.Order(StringComparer.Ordinal)) + "]";
}
