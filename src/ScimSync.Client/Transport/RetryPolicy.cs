using System.Net;
using System.Net.Http.Headers;

namespace ScimSync.Client.Transport;

/// <summary>Which failures are worth another attempt, and what a Retry-After asks (the backoff without one is <see cref="Protocol.Retries.Backoff"/>).</summary>
internal static class RetryPolicy
{
    /// <summary>A service provider asking for more than this is treated as asking for this: a sync run stalled
    /// for an hour by one header is worse than a few extra 429s.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(5);

    /// <summary>408 and 429 are the only 4xx that say "try again"; 501 and other 5xx are permanent.</summary>
    public static bool IsRetriable(HttpStatusCode status) => (int)status is 408 or 429 or 500 or 502 or 503 or 504;

    public static bool IsThrottle(HttpStatusCode status) => (int)status is 429 or 503;

    /// <summary>A gateway saying the service provider behind it did not answer.</summary>
    public static bool IsGateway(HttpStatusCode status) => (int)status is 502 or 504;

    /// <summary>Retry-After as delta seconds or an HTTP date (RFC 9110 §10.2.3), capped; null when absent.</summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        TimeSpan? wait = header switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - now,
            _ => null,
        };
        if (wait is null) return null;
        if (wait < TimeSpan.Zero) return TimeSpan.Zero;
        return wait > MaxRetryAfter ? MaxRetryAfter : wait;
    }
}
