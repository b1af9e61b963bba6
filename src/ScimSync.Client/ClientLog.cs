using Microsoft.Extensions.Logging;

namespace ScimSync.Client;

/// <summary>
/// What the SCIM client logs: event ids 4000-4099, listed with their fields in docs/logging.md. Every entry
/// names the client (<see cref="ScimClientOptions.Name"/>: the target's name, or "source"), so that one
/// engine's log can tell its endpoints apart. A call's final failure is not logged here: it reaches the
/// caller as a <see cref="ScimClientException"/>, and the caller logs what it meant (an operation failed, a
/// target went down).
/// </summary>
internal static partial class ClientLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information,
        Message = "{Client}: {Method} {Path} attempt {Attempt} ended with {Cause}; retrying in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string client, string method, string path, int attempt, string cause, long delayMs);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information,
        Message = "{Client}: throttled with {Status} on {Method} {Path}; every call holds off for {DelayMs} ms ({PauseSource})")]
    public static partial void Throttled(ILogger logger, string client, int status, string method, string path, long delayMs, string pauseSource);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "{Client}: {Method} {Path} got no answer in {Attempts} attempts: {Reason}")]
    public static partial void NoAnswer(ILogger logger, string client, string method, string path, int attempts, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information,
        Message = "{Client}: the access token was refused (401); fetching a new one")]
    public static partial void TokenRefused(ILogger logger, string client);

    /// <summary>Trace for the token bucket (one per request when a rate is set), Debug for a pause every call observes.</summary>
    [LoggerMessage(EventId = 4004, Message = "{Client}: {Method} {Path} waits {DelayMs} ms ({WaitReason})")]
    public static partial void Waiting(ILogger logger, LogLevel level, string client, string method, string path, long delayMs, string waitReason);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning,
        Message = "{Client}: {Method} {Path}: the answer is larger than {MaxBytes} bytes; not read")]
    public static partial void TooLarge(ILogger logger, string client, string method, string path, long maxBytes);
}
