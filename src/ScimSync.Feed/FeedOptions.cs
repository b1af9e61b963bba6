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
    /// Where push delivery may send (SSRF guard, <see cref="Delivery.PushDestination"/>): entries like
    /// "https://hooks.example.com" or "http://127.0.0.1:*" (any port). Empty means push delivery is refused.
    /// </summary>
    public IReadOnlyList<string> PushAllowList { get; init; } = [];

    /// <summary>
    /// One push request, whole: connecting, sending, the receiver's headers and reading its answer. A receiver
    /// that drips its answer or never answers costs its own subscription this long per request.
    /// </summary>
    public TimeSpan PushTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connecting to a push receiver (within <see cref="PushTimeout"/>).</summary>
    public TimeSpan PushConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Most bytes of a receiver's answer that are read (body as sent on the wire; answers are never
    /// decompressed). A batch's answer may also name rejected SETs, so it gets
    /// <see cref="PushAnswerBytesPerSet"/> more per SET in the request.
    /// </summary>
    public int PushAnswerMaxBytes { get; init; } = 64 * 1024;

    /// <summary>Room in a batch's answer for each SET it may reject in setErrs (jti, err, description).</summary>
    public int PushAnswerBytesPerSet { get; init; } = 1024;

    /// <summary>
    /// A subscription's dead-letter list holds at most this many events; past it the subscription is
    /// suspended (see docs/journal.md) rather than dropping any.
    /// </summary>
    public int DeadLetterMaxCount { get; init; } = 10_000;

    /// <summary>And at most this many bytes of SETs and reasons.</summary>
    public long DeadLetterMaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>After this long without success an event goes to the dead-letter list.</summary>
    public TimeSpan PushTimeBudget { get; init; } = TimeSpan.FromHours(24);

    /// <summary>First retry delay; doubles per attempt (with jitter) up to <see cref="PushMaxBackoff"/>.</summary>
    public TimeSpan PushBaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan PushMaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Concurrent push requests per destination (scheme, host and port), whichever subscriptions they come
    /// from; events of one resource are never concurrent. Each subscription is delivered on its own, so a
    /// slow destination holds up only the subscriptions that send there.
    /// </summary>
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

    /// <summary>
    /// How long a password set at the source waits, sealed, for the subscriptions with the right to it; past this
    /// it is never delivered, and they are told it expired (docs/passwords.md).
    /// </summary>
    public TimeSpan PasswordLifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a password handed to its subscriber stays invisible before it is handed out again (the subscriber
    /// acknowledges it once every target has it, or it gave up).
    /// </summary>
    public TimeSpan PasswordVisibility { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often passwords past their expiry lose their ciphertext (and are logged).</summary>
    public TimeSpan PasswordExpiryInterval { get; init; } = TimeSpan.FromSeconds(5);
}
