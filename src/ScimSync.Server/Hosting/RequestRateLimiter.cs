namespace ScimSync.Server.Hosting;

/// <summary>
/// The server-wide request limit of <see cref="ScimServerOptions.RateLimitPerSecond"/>: a token bucket of
/// one second's worth of requests, refilled continuously, on the server's <see cref="TimeProvider"/>.
/// </summary>
public sealed class RequestRateLimiter
{
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _stamp;

    public RequestRateLimiter(int requestsPerSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(requestsPerSecond, 1);
        _rate = requestsPerSecond;
        _time = time;
        _tokens = requestsPerSecond;
        _stamp = time.GetTimestamp();
    }

    /// <summary>Takes a token, or says how long until one is available (never less than one second: Retry-After is whole seconds).</summary>
    public bool TryAcquire(out TimeSpan retryAfter)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_rate, _tokens + _time.GetElapsedTime(_stamp, now).TotalSeconds * _rate);
            _stamp = now;
            if (_tokens >= 1)
            {
                _tokens -= 1;
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((1 - _tokens) / _rate)));
            return false;
        }
    }
}
