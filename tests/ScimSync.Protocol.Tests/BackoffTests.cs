using ScimSync.Protocol.Retries;
using Xunit;

namespace ScimSync.Protocol.Tests;

public class BackoffTests
{
    private static readonly Backoff Rule = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    [Fact]
    public void No_failure_means_no_wait()
    {
        Assert.Equal(TimeSpan.Zero, Rule.After(0, 0.5));
        Assert.Equal(TimeSpan.Zero, Rule.After(-3, 0.5));
    }

    [Theory]
    [InlineData(1, 500)]
    [InlineData(2, 1_000)]
    [InlineData(3, 2_000)]
    [InlineData(7, 30_000)] // 32 s capped at 30 s
    [InlineData(1_000, 30_000)] // no overflow however long the outage
    public void The_step_doubles_per_failure_up_to_the_cap_and_half_of_it_is_jitter(int failures, int stepMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(stepMs / 2.0), Rule.After(failures, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(stepMs * 0.75), Rule.After(failures, 0.5));
        Assert.True(Rule.After(failures, 0.999) < TimeSpan.FromMilliseconds(stepMs));
    }

    [Fact]
    public void Random_waits_stay_within_the_step_and_spread_out()
    {
        var waits = Enumerable.Range(0, 200).Select(_ => Rule.After(3)).ToArray();
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromMilliseconds(1_000), TimeSpan.FromMilliseconds(2_000)));
        Assert.True(waits.Distinct().Count() > 100, "jitter spreads concurrent callers");
    }
}
