using Microsoft.Extensions.Logging;

namespace ScimSync.OperatorConsole;

/// <summary>What the operator console logs (event ids 3800-3899), under the category "ScimSync.OperatorConsole".</summary>
internal static partial class ConsoleLog
{
    [LoggerMessage(EventId = 3800, Level = LogLevel.Information, Message = "console: {Person} signed in as {Role} from {Address}")]
    public static partial void SignedIn(ILogger logger, string person, string role, string address);

    [LoggerMessage(EventId = 3801, Level = LogLevel.Warning, Message = "console: a sign-in from {Address} with a token that is not a console token")]
    public static partial void SignInRefused(ILogger logger, string address);

    [LoggerMessage(EventId = 3802, Level = LogLevel.Warning,
        Message = "console: {Failures} failed sign-ins from {Address} within {WindowSeconds} s; every sign-in from there is refused (429) until {Until:u}")]
    public static partial void SignInsThrottled(ILogger logger, int failures, string address, int windowSeconds, DateTimeOffset until);
}
