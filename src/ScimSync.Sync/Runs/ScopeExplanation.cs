using ScimSync.Sync.Scoping;

namespace ScimSync.Sync.Runs;

/// <summary>One account's scope decision on one target, with its account there when it has one.</summary>
/// <param name="TargetId">The linked account on the target, or null.</param>
public sealed record ScopeVerdict(string SourceId, string UserName, ScopeDecision Decision, string? TargetId);

/// <summary>
/// <c>sync plan --explain</c> for one target: why each in-scope source account is in scope, and why each
/// account linked there is not, when it is not (those are the ones a run deactivates or deletes).
/// In-scope accounts first, then by userName.
/// </summary>
public sealed record TargetScope(string Target, IReadOnlyList<ScopeVerdict> Accounts)
{
    public int InScope => Accounts.Count(a => a.Decision.InScope);

    public int LinkedOutOfScope => Accounts.Count(a => !a.Decision.InScope);
}
