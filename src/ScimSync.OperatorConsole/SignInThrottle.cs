using System.Net;

namespace ScimSync.OperatorConsole;

/// <summary>
/// Bounds the guesses at a console token: after <see cref="FailuresAllowed"/> failed sign-ins from one address
/// within <see cref="Window"/>, every sign-in from there is refused, a right token too, until the window ends
/// (a throttle that still let the right token through would only slow the guessing, not stop it). Tokens are at
/// least 16 characters (ConsoleConfig), so this is a second line; its price is that someone on the machine who
/// keeps guessing keeps the console's sign-in closed to that address, one window at a time, which the log says.
/// </summary>
public sealed class SignInThrottle(TimeProvider time)
{
    public const int FailuresAllowed = 10;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Addresses remembered at most: the console listens on loopback, so there are few; past this, new ones are refused.</summary>
    private const int MaxAddresses = 1024;

    private readonly Dictionary<IPAddress, (DateTimeOffset Start, int Failures)> _windows = [];

    /// <returns>Null when a sign-in from <paramref name="address"/> may be tried now; otherwise how long until it may.</returns>
    public TimeSpan? Refusal(IPAddress? address)
    {
        var now = time.GetUtcNow();
        lock (_windows)
        {
            if (_windows.TryGetValue(Key(address), out var w) && now < w.Start + Window)
                return w.Failures >= FailuresAllowed ? w.Start + Window - now : null;
            return _windows.Count >= MaxAddresses && Prune(now) >= MaxAddresses ? Window : null;
        }
    }

    /// <returns>When this failure used up the address's allowance, when sign-ins from there open again (for the log,
    /// said once a window); otherwise null.</returns>
    public DateTimeOffset? Failed(IPAddress? address)
    {
        var now = time.GetUtcNow();
        var key = Key(address);
        lock (_windows)
        {
            var w = _windows.TryGetValue(key, out var found) && now < found.Start + Window ? found : (Start: now, Failures: 0);
            _windows[key] = (w.Start, w.Failures + 1);
            return w.Failures + 1 == FailuresAllowed ? w.Start + Window : null;
        }
    }

    private int Prune(DateTimeOffset now)
    {
        foreach (var (address, w) in _windows.ToArray())
            if (now >= w.Start + Window) _windows.Remove(address);
        return _windows.Count;
    }

    private static IPAddress Key(IPAddress? address) => address is null ? IPAddress.None : address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
