using System.Text.Json.Nodes;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Planning;

/// <summary>
/// One change the engine intends to make on one target. A plan is a list of these; <c>plan</c> prints
/// them and <c>run</c> executes exactly them. Link and unlink touch only the engine's shadows.
/// </summary>
public abstract record PlannedOperation(string Target)
{
    public abstract string Verb { get; }
    public abstract string Subject { get; }
    public virtual string Detail => "";

    /// <summary>Deactivations, deletions and membership changes go first in incremental work.</summary>
    public virtual bool Urgent => false;

    /// <summary>Takes access away (a delete, a deactivation, a group deleted): what the mass-change guard counts and, in watch mode, holds.</summary>
    public virtual bool TakesAccessAway => false;

    public sealed override string ToString() => $"{Target}: {Verb} {Subject}{(Detail.Length > 0 ? " (" + Detail + ")" : "")}";
}

/// <summary>Creates an account; the document is kept as UTF-8 JSON (an initial load plans 100,000 of these).</summary>
public sealed record CreateAccount(string Target, string SourceId, string UserName, byte[] Json) : PlannedOperation(Target)
{
    public CreateAccount(string target, string sourceId, string userName, JsonObject document)
        : this(target, sourceId, userName, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(document))
    {
    }

    public JsonObject Document => JsonNode.Parse(Json)!.AsObject();

    public override string Verb => "create";
    public override string Subject => $"user {UserName}";
}

public sealed record UpdateAccount(string Target, string TargetId, string SourceId, string UserName, IReadOnlyList<JsonObject> Operations, JsonObject Replacement) : PlannedOperation(Target)
{
    public override string Verb => "update";
    public override string Subject => $"user {UserName} [{TargetId}]";
    public override string Detail => string.Join(", ", Operations.Select(o => $"{o["op"]} {o["path"]}"));
    public override bool Urgent => Operations.Any(o => o["path"]?.GetValue<string>() is "active" or "password");

    public override bool TakesAccessAway => Deactivates;

    /// <summary>Whether this update turns the account off (counted by the mass-change guard).</summary>
    public bool Deactivates => Operations.Any(o => o["path"]?.GetValue<string>() == "active" && o["value"] is JsonValue v && v.TryGetValue<bool>(out var b) && !b);
}

public sealed record DeactivateAccount(string Target, string TargetId, string? SourceId, string UserName, string Reason) : PlannedOperation(Target)
{
    public override string Verb => "deactivate";
    public override string Subject => $"user {UserName} [{TargetId}]";
    public override string Detail => Reason;
    public override bool Urgent => true;
    public override bool TakesAccessAway => true;
}

public sealed record DeleteAccount(string Target, string TargetId, string? SourceId, string UserName, string Reason) : PlannedOperation(Target)
{
    public override string Verb => "delete";
    public override string Subject => $"user {UserName} [{TargetId}]";
    public override string Detail => Reason;
    public override bool Urgent => true;
    public override bool TakesAccessAway => true;
}

public sealed record LinkAccount(string Target, string TargetId, string SourceId, string UserName, CorrelationKey Key) : PlannedOperation(Target)
{
    public override string Verb => "link";
    public override string Subject => $"user {UserName} [{TargetId}]";
    public override string Detail => $"matched by {Key}";
}

public sealed record UnlinkAccount(string Target, string TargetId, string SourceId, string Reason) : PlannedOperation(Target)
{
    public override string Verb => "unlink";
    public override string Subject => $"[{TargetId}]";
    public override string Detail => Reason;
}

public sealed record CreateGroup(string Target, string SourceGroupId, string DisplayName, JsonObject Document) : PlannedOperation(Target)
{
    public override string Verb => "create";
    public override string Subject => $"group {DisplayName}";
}

public sealed record LinkGroup(string Target, string TargetGroupId, string SourceGroupId, string DisplayName) : PlannedOperation(Target)
{
    public override string Verb => "link";
    public override string Subject => $"group {DisplayName} [{TargetGroupId}]";
}

/// <summary>
/// A group whose source group was deleted: deleted on the target (the access it grants goes with it), or
/// with <c>groups.deleted: unlink</c> left there and forgotten by the engine.
/// </summary>
public sealed record RetireGroup(string Target, string TargetGroupId, string SourceGroupId, string DisplayName, bool Delete) : PlannedOperation(Target)
{
    public override string Verb => Delete ? "delete" : "unlink";
    public override string Subject => $"group {DisplayName} [{TargetGroupId}]";
    public override string Detail => "deleted at the source";
    public override bool Urgent => true;
    public override bool TakesAccessAway => Delete;
}

/// <summary>
/// Members to add (by source id: accounts created in the same run get their target ids at execution) and
/// to remove (by target id, users and nested groups alike), sent as PATCH add/remove in batches: a large group
/// is never read or rewritten whole to change a few members.
/// </summary>
public sealed record ChangeMembers(string Target, string SourceGroupId, string? TargetGroupId, string DisplayName,
    IReadOnlyList<string> AddSourceIds, IReadOnlyList<string> RemoveTargetIds) : PlannedOperation(Target)
{
    /// <summary>Nested groups to add as members of type Group (a target with <c>groups.nested: accept</c>).</summary>
    public IReadOnlyList<NestedMember> AddGroups { get; init; } = [];

    public override string Verb => "members";
    public override string Subject => $"group {DisplayName}";
    public override string Detail => AddGroups.Count == 0
        ? $"+{AddSourceIds.Count} -{RemoveTargetIds.Count}"
        : $"+{AddSourceIds.Count} +{AddGroups.Count} groups -{RemoveTargetIds.Count}";
    public override bool Urgent => true;
}

/// <summary>A source group to add as a member of another, with its id on the target when it is there already (else it is created in the same run).</summary>
public sealed record NestedMember(string SourceGroupId, string? TargetGroupId);

/// <summary>Something the engine saw and will not act on (by policy): reported, never silently ignored.</summary>
public sealed record Finding(string Target, Situation? Situation, string TargetId, string UserName, string Detail)
{
    public override string ToString() => $"{Target}: {(Situation?.ToString().ToLowerInvariant() ?? "protected")} {UserName} [{TargetId}]: {Detail}";
}

public static class PlannedRemovals
{
    /// <summary>The removals among <paramref name="operations"/>, counted as the mass-change guard counts them.</summary>
    public static RemovalCount Removals(this IEnumerable<PlannedOperation> operations)
    {
        int deletes = 0, deactivations = 0, groupDeletes = 0;
        foreach (var op in operations)
        {
            if (op is RetireGroup { Delete: true }) groupDeletes++;
            else if (op is DeleteAccount) deletes++;
            else if (op.TakesAccessAway) deactivations++;
        }
        return new RemovalCount(deletes, deactivations, groupDeletes);
    }
}
