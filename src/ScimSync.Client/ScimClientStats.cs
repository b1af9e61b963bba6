namespace ScimSync.Client;

/// <summary>Counters of one client since it was created; safe to read while calls run.</summary>
public sealed class ScimClientStats
{
    private long _requests;
    private long _retries;
    private long _throttled;
    private long _failures;
    private long _tokenRequests;

    /// <summary>HTTP requests sent to the service provider, retries included.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Attempts that were repeated (after a retriable status, a connection failure or a timeout).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Responses that were 429 or 503: the service provider asked the client to slow down.</summary>
    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>Calls that ended in a <see cref="ScimClientException"/>.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Requests to the OAuth 2.0 token endpoint.</summary>
    public long TokenRequests => Interlocked.Read(ref _tokenRequests);

    internal void Request() => Interlocked.Increment(ref _requests);
    internal void Retry() => Interlocked.Increment(ref _retries);
    internal void Throttle() => Interlocked.Increment(ref _throttled);
    internal void Failure() => Interlocked.Increment(ref _failures);
    internal void TokenRequest() => Interlocked.Increment(ref _tokenRequests);

    public override string ToString() =>
        $"requests={Requests} retries={Retries} throttled={Throttled} failures={Failures} tokenRequests={TokenRequests}";
}
