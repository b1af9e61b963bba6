using ScimSync.Events;

namespace ScimSync.Relay.Nats;

/// <summary>Where and how the journal is relayed (<c>scimsync serve --nats URL</c>; docs/nats.md).</summary>
public sealed record NatsRelayOptions
{
    /// <summary>The NATS server, e.g. nats://127.0.0.1:4222 (credentials in the URL's user info, if any).</summary>
    public required string Url { get; init; }

    public string Stream { get; init; } = EventStream.DefaultStream;

    public string SubjectPrefix { get; init; } = EventStream.DefaultSubjectPrefix;

    /// <summary>Journal entries read and published per round; also what the relay holds in memory at most.</summary>
    public int Batch { get; init; } = 500;

    /// <summary>
    /// JetStream's duplicate window: a publish retried within it (its acknowledgement was lost) is stored once. The
    /// relay never relies on it alone: it resumes from the stream's last message.
    /// </summary>
    public TimeSpan DuplicateWindow { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>First wait after a failure (NATS down); doubles up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Readiness reports the relay degraded once the oldest unpublished entry has waited longer.</summary>
    public TimeSpan ReadyMaxLag { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>One JetStream request (publish and its acknowledgement, stream info, a message read).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
