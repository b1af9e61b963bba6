using System.Diagnostics;

namespace ScimSync.Sync.Execution;

/// <summary>
/// Why an operation runs: the audit's cause (<c>run:…</c>, <c>event:TXN</c>, <c>expiry</c>, <c>watch</c>) and, for a
/// change learnt from the source's feed, the source journal position it came from and the trace it started
/// (<see cref="SyncTelemetry.SourceEvent"/>), so that a target call can be followed back to the source's write.
/// </summary>
public readonly record struct ChangeOrigin(string Cause, long? JournalPosition = null, ActivityContext Trace = default);
