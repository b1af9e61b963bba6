namespace ScimSync.Feed;

public sealed record FeedOptions
{
    /// <summary>The SET <c>iss</c> claim; defaults to the server's base URL.</summary>
    public required string Issuer { get; init; }

    /// <summary>How long a polled, unacknowledged SET stays invisible before it is delivered again (RFC 8936).</summary>
    public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound of a long poll; a poll without returnImmediately waits at most this long.</summary>
    public TimeSpan MaxPollWait { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Most SETs one poll response carries, whatever maxEvents asks for.</summary>
    public int MaxEventsPerPoll { get; init; } = 1000;

    /// <summary>
    /// Where push delivery may send (SSRF guard): entries like "https://hooks.example.com" or
    /// "http://127.0.0.1:*" (any port). Empty means push delivery is refused.
    /// </summary>
    public IReadOnlyList<string> PushAllowList { get; init; } = [];

    /// <summary>One push request's timeout.</summary>
    public TimeSpan PushTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After this long without success an event goes to the dead-letter list.</summary>
    public TimeSpan PushTimeBudget { get; init; } = TimeSpan.FromHours(24);

    /// <summary>First retry delay; doubles per attempt (with jitter) up to <see cref="PushMaxBackoff"/>.</summary>
    public TimeSpan PushBaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan PushMaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Concurrent requests per push subscription (events of one resource are never concurrent).</summary>
    public int PushConcurrency { get; init; } = 16;

    /// <summary>
    /// Journal entries every subscription has received are kept at least this long (for rewinds and
    /// snapshot handoff), then compacted.
    /// </summary>
    public TimeSpan JournalRetention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// When set, entries older than this are dropped even if a subscription has not received them; such
    /// a subscription moves to the resnapshot state. Null keeps them until every subscription has them.
    /// </summary>
    public TimeSpan? JournalMaxAge { get; init; }

    public TimeSpan CompactionInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Journal entries fanned out per batch and transaction.</summary>
    public int FanoutBatch { get; init; } = 1000;
}
