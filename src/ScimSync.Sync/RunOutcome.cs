namespace ScimSync.Sync;

/// <summary>How a run, plan or reconciliation ended, all targets together (the CLI's exit code).</summary>
public enum RunOutcome
{
    /// <summary>Nothing failed (a stop on request is not a failure: what was not started waits for the next run).</summary>
    Succeeded,

    /// <summary>The mass-change guard held a target (a plan: would hold it) until a person confirms.</summary>
    HeldByGuard,

    /// <summary>At least one operation was applied, and something failed: an operation, or a whole target (unread, or a read that did not add up).</summary>
    PartiallyApplied,

    /// <summary>Something failed and nothing was applied.</summary>
    Failed,
}

public static class RunOutcomes
{
    /// <summary>A hold wins: it needs a person, whatever else happened; then failures, split by whether anything was applied.</summary>
    public static RunOutcome Of(bool held, bool failed, int applied) =>
        held ? RunOutcome.HeldByGuard : !failed ? RunOutcome.Succeeded : applied > 0 ? RunOutcome.PartiallyApplied : RunOutcome.Failed;
}
