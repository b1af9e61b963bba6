namespace ScimSync.Protocol.Retries;

/// <summary>
/// How long to wait before the next attempt after failures: the step doubles from <see cref="First"/> per
/// failure up to <see cref="Max"/>, with "equal jitter" (half the step fixed, half random), so that many callers
/// failing at once (a target's lanes, a receiver's events, engines against one broker) spread out, and none
/// retries almost at once. The one rule for every retry in the product: the SCIM client, push delivery, the
/// engine's lanes and the NATS relay differ only in their <see cref="First"/> and <see cref="Max"/>.
/// </summary>
public readonly record struct Backoff(TimeSpan First, TimeSpan Max)
{
    /// <summary>The wait after <paramref name="failures"/> failures in a row (1 for the first); zero for none.</summary>
    /// <param name="random">A number in [0, 1): <c>Random.Shared.NextDouble()</c>, or fixed in a test.</param>
    public TimeSpan After(int failures, double random)
    {
        if (failures <= 0) return TimeSpan.Zero;
        var step = First.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        var capped = Math.Min(step, Max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped / 2 + capped / 2 * Math.Clamp(random, 0, 1));
    }

    /// <summary><see cref="After(int, double)"/> with a random jitter.</summary>
    public TimeSpan After(int failures) => After(failures, Random.Shared.NextDouble());
}
