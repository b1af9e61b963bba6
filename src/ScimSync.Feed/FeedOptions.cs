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

    /// <summary>Journal entries fanned out per batch and transaction.</summary>
    public int FanoutBatch { get; init; } = 1000;
}
