namespace ScimSync.Sync.Configuration;

/// <summary>What a person signed in to the operator console may do.</summary>
public enum ConsoleRole
{
    /// <summary>Reads every page; decides nothing.</summary>
    Viewer,

    /// <summary>Reads, and decides: confirms held removals, provisions on demand.</summary>
    Operator,
}

/// <summary>One person who may sign in to the console, with the token they sign in with (from the environment: <c>${NAME}</c>).</summary>
public sealed record ConsolePerson(string Name, ConsoleRole Role, string Token)
{
    /// <summary>Never the token: records print their members, and a token must never reach a log or a page.</summary>
    public override string ToString() => $"{Name} ({Role})";
}

/// <summary>
/// The <c>console</c> section: the operator console on <c>sync watch --listen</c>'s address, under <c>/console</c>
/// (docs/console.md). Without the section there is no console.
/// </summary>
public sealed record ConsoleConfig(IReadOnlyList<ConsolePerson> People)
{
    /// <summary>Tokens shorter than this are refused at load: a guessable token would be a way in.</summary>
    public const int MinimumTokenLength = 16;
}
