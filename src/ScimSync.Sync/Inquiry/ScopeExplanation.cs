using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Inquiry;

/// <summary>
/// Why a target's scope takes or leaves a person: the scope's own decision (<see cref="CompiledScope.Decide"/>), the
/// one the planner and <c>plan --explain</c> use, so `sync user` can never disagree with what a run does.
/// </summary>
public static class ScopeExplanation
{
    public static ScopeDecision Explain(TargetConfig target, SourceAccount account, SourceSnapshot snapshot, SchemaRegistry registry) =>
        target.Scope.Compile(registry).Decide(account, account.Document, snapshot);
}
