namespace ScimSync.Cli;

/// <summary>
/// What every <c>scimsync</c> command's exit code means (README, "Exit codes"). Scripts and systemd act on
/// these: 3 means "change something before trying again" (the systemd units do not restart on it), 4 waits
/// for a person, 5 and 1 say a run did not finish its work, with the report saying where.
/// </summary>
internal static class ExitCodes
{
    /// <summary>Done; for a run: every operation applied, or the run was stopped on request (SIGTERM, Ctrl+C) with nothing failed.</summary>
    public const int Ok = 0;

    /// <summary>Failed: the command ran and did not do its work: a run applied nothing, no such token or subscription, the server or the source could not be reached.</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown verb or option, missing or malformed value, or a value the server refused as invalid (400).</summary>
    public const int Usage = 2;

    /// <summary>
    /// Did not start: the configuration or the environment it names cannot be used (a configuration file, a data or
    /// state directory unreadable, open to others or in use by another process, a key file, an address that is
    /// malformed or already in use, a certificate, a credential the server refuses). Change what the message names first.
    /// </summary>
    public const int Configuration = 3;

    /// <summary>The mass-change guard holds a target (or a run would be held): read the plan, then run again with --confirm.</summary>
    public const int HeldByGuard = 4;

    /// <summary>Partially applied: at least one operation was applied and at least one failed, or a target could not be read or its read did not add up.</summary>
    public const int PartiallyApplied = 5;

    /// <summary><c>sync status</c>: a target needs attention (not answering, held by the guard, an incomplete read, a queue waiting too long; docs/telemetry.md).</summary>
    public const int NeedsAttention = 6;
}

/// <summary>A failure the command reports as one line on standard error, with its exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    public static CliException Configuration(string message) => new(ExitCodes.Configuration, message);

    public static CliException Failed(string message) => new(ExitCodes.Failed, message);
}
