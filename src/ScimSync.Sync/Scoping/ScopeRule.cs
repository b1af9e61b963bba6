using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Scoping;

/// <summary>
/// Which source accounts a target should hold. An account is in scope when its kind is listed (or no kinds
/// are listed), it matches the filter (if any), and it is a member of one of the groups (if any) — or
/// when it is named explicitly in <see cref="Include"/>. Builtin and service accounts are never in scope:
/// each application has its own, and a management side that provisioned them could also break them.
/// </summary>
public sealed record ScopeRule(
    IReadOnlySet<AccountKind> Kinds,
    string? Filter,
    IReadOnlySet<string> Groups,
    IReadOnlySet<string> Include,
    IReadOnlySet<string> Exclude)
{
    public static ScopeRule Everyone { get; } = new(new HashSet<AccountKind>(), null, new HashSet<string>(), new HashSet<string>(), new HashSet<string>());

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
    /// <param name="document">The account's parsed document when the caller has it (saves a parse).</param>
    public bool InScope(SourceAccount account, System.Text.Json.Nodes.JsonObject? document, SourceSnapshot snapshot)
    {
        if (AccountKindRules.IsProtectedKind(account.Kind)) return false;
        if (rule.Exclude.Contains(account.UserName)) return false;
        if (rule.Include.Contains(account.UserName)) return true;
        if (rule.Kinds.Count > 0 && !rule.Kinds.Contains(account.Kind)) return false;
        if (filter is not null && !FilterEvaluator.Matches(filter, document ?? account.Document)) return false;
        if (rule.Groups.Count > 0 && !snapshot.GroupNamesOf(account.Id).Any(rule.Groups.Contains)) return false;
        return true;
    }
}
