using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using ScimSync.Secrets;

namespace ScimSync.Cli;

/// <summary>
/// The <c>scimsync</c> command: one System.CommandLine tree (each verb in its own file), parsed here. Parse
/// errors (unknown verb or option, missing value) print what was wrong and the nearest spelling on standard
/// error and exit 2; failures a command reports are one line on standard error with their exit code
/// (<see cref="ExitCodes"/>). <c>--help</c> and <c>--version</c> never run a command, so they have no side effect.
/// </summary>
internal static class Cli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("scimsync: SCIM 2.0 server, event feed and synchronisation engine. Exit codes: 0 ok, 1 failed, 2 usage, 3 configuration (did not start), 4 held by the mass-change guard, 5 partially applied, 6 needs attention (sync status).")
        {
            ServeCommand.Create(),
            TokenCommand.Create(),
            TokenCommand.CreateStatus(),
            EventsCommand.Create(),
            KeysCommand.Create(),
            SyncCommand.Create(),
        };
        foreach (var option in root.Options.OfType<VersionOption>()) option.Action = new PrintVersion();

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0) return ReportUsage(parse);
        try
        {
            // No termination timeout: SIGTERM and Ctrl+C are the commands' own (serve drains through the host,
            // the engine finishes the operations in flight), not a forced exit after two seconds.
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }).ConfigureAwait(false);
        }
        catch (Exception e) when (ExitCodeOf(e) is { } code)
        {
            Console.Error.WriteLine("scimsync: " + OneLine(e.Message));
            return code;
        }
        catch (Exception e)
        {
            // A bug: still one line for the person, the whole story when asked for it.
            Console.Error.WriteLine($"scimsync: unexpected {e.GetType().Name}: {OneLine(e.Message)}");
            if (Environment.GetEnvironmentVariable("SCIMSYNC_TRACE") == "1") Console.Error.WriteLine(e);
            else Console.Error.WriteLine("scimsync: run with SCIMSYNC_TRACE=1 for the details");
            return ExitCodes.Failed;
        }
    }

    /// <summary>The exit code of a failure a person can act on, from its type; null for a bug.</summary>
    private static int? ExitCodeOf(Exception e) => e switch
    {
        CliException c => c.ExitCode,
        PrivateDataException or DirectoryInUseException or Server.Hosting.CertificateException or Server.Hosting.StoreUnavailableException => ExitCodes.Configuration,
        Sync.Configuration.ConfigException or Sync.Intake.SourceFeedUnavailableException or Sync.State.SyncStateUnavailableException => ExitCodes.Configuration,
        Sync.Sources.SourceFileRejectedException => ExitCodes.Failed,
        UnauthorizedAccessException => ExitCodes.Configuration,
        Client.ScimClientException or HttpRequestException or Microsoft.Data.Sqlite.SqliteException or IOException => ExitCodes.Failed,
        _ => null,
    };

    private static string OneLine(string message) => string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>What was wrong, the nearest spelling (System.CommandLine's typo corrections), and where help is; all on standard error.</summary>
    private static int ReportUsage(ParseResult parse)
    {
        if (parse.Action is ParseErrorAction action)
        {
            // A bare `scimsync` (or `scimsync sync`) gets the list of what it can do; a mistake gets the mistake.
            action.ShowHelp = parse.UnmatchedTokens.Count == 0 && parse.CommandResult.Command is { Action: null, Subcommands.Count: > 0 };
            action.ShowTypoCorrections = true;
        }
        // The typo corrections go to the configured output: standard error, so that standard output stays clean for scripts.
        parse.Invoke(new InvocationConfiguration { Output = Console.Error, Error = Console.Error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        var path = new List<string>();
        for (var c = parse.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult) path.Insert(0, c.Command.Name);
        path[0] = "scimsync";
        Console.Error.WriteLine($"See '{string.Join(' ', path)} --help'.");
        return ExitCodes.Usage;
    }

    /// <summary>The version and the commit it was built from (embedded at build time; "unknown" without git).</summary>
    public static string VersionText()
    {
        var informational = typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        var version = plus < 0 ? informational : informational[..plus];
        var commit = plus < 0 ? "unknown" : informational[(plus + 1)..];
        return $"scimsync {version} (commit {(commit.Length > 12 ? commit[..12] : commit)})";
    }

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            Console.Out.WriteLine(VersionText());
            return ExitCodes.Ok;
        }
    }
}
