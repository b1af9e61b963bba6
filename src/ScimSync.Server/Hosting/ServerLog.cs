using Microsoft.Extensions.Logging;

namespace ScimSync.Server.Hosting;

/// <summary>
/// What the HTTP server logs: event ids 1000-1099, listed with their fields in docs/logging.md. Requests that
/// succeed, or fail the client's way (4xx), are not logged one by one: the HTTP metrics count them.
/// </summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Error, Message = "Unexpected failure {TraceId} on {Method} {Path}")]
    public static partial void Unexpected(ILogger logger, Exception e, string traceId, string method, string path);

    /// <summary>At most one per client address a minute (<see cref="AuthFailureLog"/>); the others are counted into the next.</summary>
    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "Authentication failed from {ClientAddress} on {Method} {Path}: {Reason}; {Suppressed} other failures from this address since its previous entry were not logged")]
    public static partial void AuthenticationFailed(ILogger logger, string clientAddress, string method, string path, string reason, int suppressed);
}
