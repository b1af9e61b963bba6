namespace ScimSync.Sync.Execution;

/// <summary>
/// An operation needs what an earlier operation of the same run was to make (a new group, before its members
/// are set), and that operation failed: this one fails too, with the reason, and the next run plans both again.
/// </summary>
public sealed class PrerequisiteFailedException(string message) : Exception(message);
