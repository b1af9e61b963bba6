using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace ScimSync.OperatorConsole.Tests;

/// <summary>The sign-in throttle's window, on a clock the test moves.</summary>
public sealed class SignInThrottleTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("127.0.0.2");

    [Fact]
    public void The_allowance_is_per_address_and_per_window_and_a_closed_address_opens_when_its_window_ends()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
        var throttle = new SignInThrottle(time);
        var windowStart = time.GetUtcNow();
        for (var i = 1; i < SignInThrottle.FailuresAllowed; i++)
        {
            Assert.Null(throttle.Refusal(Guesser));
            Assert.Null(throttle.Failed(Guesser));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(windowStart + SignInThrottle.Window, throttle.Failed(Guesser));
        Assert.Equal(windowStart + SignInThrottle.Window - time.GetUtcNow(), throttle.Refusal(Guesser));
        // The same address written as IPv4 mapped into IPv6 (a dual-stack socket's view) is the same address.
        Assert.NotNull(throttle.Refusal(Guesser.MapToIPv6()));
        Assert.Null(throttle.Refusal(IPAddress.Loopback));

        time.Advance(windowStart + SignInThrottle.Window - time.GetUtcNow());
        Assert.Null(throttle.Refusal(Guesser));
        Assert.Null(throttle.Failed(Guesser)); // a new window: one failure of ten
        Assert.Null(throttle.Refusal(Guesser));
    }
}
