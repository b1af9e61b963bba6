using System.CommandLine;
using System.Globalization;

namespace ScimSync.Cli;

/// <summary>Options several verbs share, made in one place so that each is spelled and described the same everywhere.</summary>
internal static class Options
{
    public static Option<bool> Json() => new("--json") { Description = "Print JSON on standard output (nothing else goes there), for scripts" };

    /// <summary>The sync engine's YAML configuration (docs/sync.md), for every <c>sync</c> verb and <c>keys rotate</c>.</summary>
    public static Option<string> EngineConfig(bool required = true) => new("--config")
    {
        Description = "The sync engine's configuration file (YAML, docs/sync.md)",
        HelpName = "FILE",
        Required = required,
    };

    /// <summary><c>--log-format</c> of the engine's commands; <c>serve</c> has the same as a server setting (flag, SCIMSYNC_LOG_FORMAT or file).</summary>
    public static Option<string?> LogFormat()
    {
        var option = new Option<string?>("--log-format")
        {
            Description = "How log entries are written to standard error: simple (default), json (one object per line) or systemd (journald priorities) [env: SCIMSYNC_LOG_FORMAT]",
            HelpName = "simple|json|systemd",
        };
        option.CompletionSources.Add([.. Observability.LogFormats]);
        return option;
    }

    /// <summary><c>--log-level</c>, as <see cref="LogFormat"/>.</summary>
    public static Option<string?> LogLevel()
    {
        var option = new Option<string?>("--log-level")
        {
            Description = "Least level logged: trace, debug, information (default), warning, error, critical or none [env: SCIMSYNC_LOG_LEVEL]",
            HelpName = "LEVEL",
        };
        option.CompletionSources.Add([.. Observability.LogLevels]);
        return option;
    }

    public static Option<bool> Confirm() => new("--confirm") { Description = "Apply what the mass-change guard would hold, after you have read the plan" };

    /// <summary>A whole number of at least 1, with a message a person understands (not a .NET type name).</summary>
    public static Option<int?> Positive(string name, string description, string placeholder = "N") => new(name)
    {
        Description = description,
        HelpName = placeholder,
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 1) return n;
            result.AddError($"{name} needs a whole number of at least 1, not \"{text}\"");
            return null;
        },
    };

    /// <summary>A journal position (0 or more).</summary>
    public static Option<long?> Position(string name, string description, bool required = false) => new(name)
    {
        Description = description,
        HelpName = "POSITION",
        Required = required,
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0) return n;
            result.AddError($"{name} needs a journal position (a whole number, 0 or more), not \"{text}\"");
            return null;
        },
    };
}
