namespace ScimSync.Sync.State;

/// <summary>
/// The engine's state cannot be used: it cannot be opened or read (missing, damaged, not a state at all, held
/// exclusively by another process, failing storage), or it was written by a newer build than this one. Nothing was
/// changed by the work that met it; the message says which state and why.
/// </summary>
public sealed class SyncStateUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
