using System.Text.Json.Nodes;

namespace ScimSync.Sync.State;

/// <summary>How the last full read of a target went, and when it last read everything.</summary>
/// <param name="Problems">Why the last read could not be trusted, or null when it was complete.</param>
public sealed record TargetReadRecord(string Target, DateTimeOffset At, int Accounts, bool Complete, string? Problems,
    DateTimeOffset? LastCompleteAt, int? LastCompleteAccounts);

/// <summary>A target account as the shadow holds it: as last seen (<see cref="Data"/>) and as the engine last wrote or accepted it.</summary>
public sealed record ShadowAccount(string Target, string TargetId, string UserName, bool Active, JsonObject Data, JsonObject? Synced, DateTimeOffset Seen);

/// <summary>A group on a target that holds an account, from the shadow; <see cref="SourceGroupId"/> when the engine manages it.</summary>
public sealed record ShadowMembership(string GroupId, string DisplayName, string? SourceGroupId);
