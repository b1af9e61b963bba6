using Npgsql;
using ScimSync.Secrets;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store.Feed;
using ScimSync.Store.Postgres;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// Every change to a subscription's queue on PostgreSQL takes the subscription's turn (its row lock) before it
/// touches a delivery. An acknowledgement once went straight to its multi-row delete while fan-out, holding the
/// turn, lifted the same rows into the urgent lane in another order: the two deadlocked and a poll answered 500
/// (the three-instance journal test caught it). Here a session holds the turn, and the acknowledgement and the
/// dead-letter discard must be seen waiting for it, not finishing around it.
/// Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class FeedQueueTurnTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    [SkippableFact]
    public async Task An_acknowledgement_and_a_discard_wait_for_the_subscriptions_turn()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        var root = Path.Combine(Path.GetTempPath(), "scimsync-tests", "turns-" + Guid.NewGuid().ToString("N"));
        PrivateFiles.EnsureDirectory(root, "test root");
        await using var store = new PostgresResourceStore(cs, KeyRing.Load(Path.Combine(root, "data.key")));
        await store.InitializeAsync(default);
        try
        {
            await store.Feed.CreateSubscriptionAsync(new SubscriptionRecord("s1", "turns", "{}", "active", "k", 0, Now), default);
            var d = new DeliveryRecord("s1", "jti-1", 1, "r1", false, "token", 0, null) { Created = Now };
            Assert.True(await store.Feed.CommitFanoutAsync("s1", new FanoutCommit(0, 1, 0, 0, [d]), default));
            Assert.Single(await store.Feed.ClaimAsync("s1", 10, Now, TimeSpan.FromMinutes(1), default));

            await using var holder = new NpgsqlConnection(cs);
            await holder.OpenAsync();
            foreach (var (name, change) in new (string, Func<Task<int>>)[]
            {
                ("acknowledgement", () => store.Feed.AckAsync("s1", ["jti-1"], default)),
                ("discard", () => store.Feed.DiscardDeadLettersAsync("s1", default)),
            })
            {
                await using var turn = await holder.BeginTransactionAsync();
                await using (var lk = new NpgsqlCommand("SELECT 1 FROM subscriptions WHERE id = 's1' FOR UPDATE", holder, turn)) await lk.ExecuteScalarAsync();
                var pending = change();
                var waiting = WaitForBlockedSessionAsync(cs, holder.ProcessID);
                Assert.True(await Task.WhenAny(pending, waiting) == waiting, $"the {name} finished while another session held the subscription's turn");
                await turn.RollbackAsync();
                await pending;
            }
            var stats = await store.Feed.StatsAsync("s1", default);
            Assert.Equal((0L, 0L), (stats.Pending, stats.InFlight));
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Completes once some session waits for a lock the session <paramref name="holder"/> holds.</summary>
    private static async Task WaitForBlockedSessionAsync(string cs, int holder)
    {
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", c)
            {
                Parameters = { new() { Value = holder } },
            };
            if ((long)(await cmd.ExecuteScalarAsync())! > 0) return;
            await Task.Delay(10);
        }
        throw new TimeoutException("no session waited for the subscription's turn within 30 s");
    }
}
