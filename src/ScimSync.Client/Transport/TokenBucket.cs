namespace ScimSync.Client.Transport;

/// <summary>
/// A token bucket on a <see cref="TimeProvider"/>'s clock. A caller that finds the bucket empty reserves
/// the next token (the balance goes negative) and is told how long to wait for it, so waiting callers are
/// served in arrival order and the long-run rate never exceeds <c>rate</c>.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly double _capacity;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _stamp;

    public TokenBucket(double ratePerSecond, double capacity, TimeProvider time)
    {
        if (!(ratePerSecond > 0) || double.IsInfinity(ratePerSecond)) throw new ArgumentOutOfRangeException(nameof(ratePerSecond), "The rate must be a positive number");
        _rate = ratePerSecond;
        _capacity = Math.Max(1, capacity);
        _time = time;
        _tokens = _capacity;
        _stamp = time.GetTimestamp();
    }

    /// <summary>Takes one token and returns how long the caller must wait before using it (zero if none).</summary>
    public TimeSpan Reserve()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_capacity, _tokens + _time.GetElapsedTime(_stamp, now).TotalSeconds * _rate);
            _stamp = now;
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }

    /// <summary>Gives back a reservation the caller did not use (it was cancelled while waiting).</summary>
    public void Refund()
    {
        lock (_gate) _tokens = Math.Min(_capacity, _tokens + 1);
    }
}
