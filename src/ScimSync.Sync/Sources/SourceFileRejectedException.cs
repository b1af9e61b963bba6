namespace ScimSync.Sync.Sources;

/// <summary>An HR export the engine cannot read: the message names the file and the line (CSV) or item (JSON).</summary>
public sealed class SourceFileRejectedException(string message, Exception inner) : Exception(message, inner);
