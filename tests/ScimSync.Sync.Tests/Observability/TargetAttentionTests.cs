using ScimSync.Sync.Configuration;
using ScimSync.Sync.Runs;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.Observability;

/// <summary>The one rule behind `sync status`'s exit code and the engine's readiness.</summary>
public sealed class TargetAttentionTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly HealthConfig Health = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(15));

    private static TargetStatus Status(IReadOnlyList<HeldOperation>? held = null, TargetReadRecord? read = null) =>
        new("app", 10, 10, 0, 3, [], read, held ?? []);

    [Fact]
    public void A_healthy_target_needs_nothing()
    {
        Assert.Empty(TargetAttention.Assess(Status() with { OldestQueued = Now.AddMinutes(-14), UnreachableSince = Now.AddMinutes(-4) }, Health, Now));
    }

    [Fact]
    public void Each_condition_counts_once_it_has_lasted_its_time()
    {
        var held = new HeldOperation("app", "s1", "deactivate", "user a", "t1", "10% of 10", Now.AddMinutes(-31));
        var reasons = TargetAttention.Assess(Status([held], new TargetReadRecord("app", Now.AddHours(-1), 8, false, "short page", null, null))
            with { OldestQueued = Now.AddMinutes(-16), UnreachableSince = Now.AddMinutes(-6), UnreachableReason = "connection refused" }, Health, Now);
        Assert.Equal(4, reasons.Count);
        Assert.Contains(reasons, r => r.StartsWith("not answering since 2026-12-02 11:54:00Z (connection refused)", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("the mass-change guard holds 1 removals since", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("was incomplete: short page", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("3 changes queued, the oldest since", StringComparison.Ordinal));
    }

    [Fact]
    public void By_default_any_hold_needs_attention_at_once()
    {
        var held = new HeldOperation("app", "s1", "delete", "user a", "t1", "guard", Now);
        var status = Status([held]);
        Assert.Single(TargetAttention.Assess(status, HealthConfig.Default, Now));
        Assert.Empty(TargetAttention.Assess(status, Health, Now));
    }
}
