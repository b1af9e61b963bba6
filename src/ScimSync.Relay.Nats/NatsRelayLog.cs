using Microsoft.Extensions.Logging;

namespace ScimSync.Relay.Nats;

/// <summary>The relay's log entries (docs/logging.md, 2400–2499).</summary>
internal static partial class NatsRelayLog
{
    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "NATS relay: publishing the journal to stream {Stream} after position {Position}")]
    public static partial void Resumed(ILogger logger, string stream, long position);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Warning, Message = "NATS relay: {Reason}; writes go on, the journal keeps what is not published, retrying in {RetryMs} ms")]
    public static partial void Failed(ILogger logger, string reason, long retryMs);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Error, Message = "NATS relay: journal entries after {Position} through {Floor} were compacted before they were published; the next message says so in ScimSync-Previous-Position and consumers behind it must resnapshot")]
    public static partial void Hole(ILogger logger, long position, long floor);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "NATS relay: journal entry {Position} is of resource type {ResourceType}, which the server no longer defines; not published")]
    public static partial void UnknownType(ILogger logger, long position, string resourceType);
}
