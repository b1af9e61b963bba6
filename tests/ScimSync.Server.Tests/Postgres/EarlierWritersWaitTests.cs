using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using ScimSync.Server.Tests.Infrastructure;
using ScimSync.Store;
using ScimSync.Store.Postgres;

namespace ScimSync.Server.Tests.Postgres;

/// <summary>
/// A PostgreSQL read first waits, briefly, for writers that started before it (transaction ids are cluster-wide, so
/// any session of the cluster counts). That wait is on other sessions, so it runs on elapsed time: a server whose
/// clock stands still (a FakeTimeProvider here; the rate-limit suite on PostgreSQL hung for 100 s on it) still
/// answers once the wait's limit has passed. Compaction waits the same way, so what was acknowledged before it
/// goes when it is old enough, as on SQLite (the maximum-age suite on PostgreSQL once found its entries kept).
/// Skippable: reports skipped with SCIMSYNC_TEST_POSTGRES=skip outside CI (PostgresServer).
/// </summary>
public sealed class EarlierWritersWaitTests
{
    [SkippableFact]
    public async Task A_read_behind_a_transaction_left_open_returns_even_when_the_servers_clock_stands_still()
    {
        var (cs, _) = await PostgresServer.NewSchemaAsync();
        await using var store = new PostgresResourceStore(cs, time: new FakeTimeProvider());
        await store.InitializeAsync(default);
        try
        {
            var plain = new NpgsqlConnectionStringBuilder(await PostgresServer.ConnectionStringAsync()) { Pooling = false }.ConnectionString;
            // A writer that started and has not finished ...
            await using var open = new NpgsqlConnection(plain);
            await open.OpenAsync();
            await using var held = await open.BeginTransactionAsync();
            await using (var xid = new NpgsqlCommand("SELECT pg_current_xact_id()", open, held)) await xid.ExecuteScalarAsync();
            // ... and one after it that has: the read now has an earlier writer to wait for.
            await using (var later = new NpgsqlConnection(plain))
            {
                await later.OpenAsync();
                await using var xid = new NpgsqlCommand("SELECT pg_current_xact_id()", later);
                await xid.ExecuteScalarAsync();
            }

            var took = Stopwatch.StartNew();
            var read = store.ReadJournalAsync(0, 10, default);
            var first = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.True(first == read, "the read was still waiting after 60 s");
            Assert.Empty(await read);
            // It did wait (the writer is still open), for the limit and not much longer.
            Assert.InRange(took.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));
            await held.RollbackAsync();
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(cs);
        }
    }

    [SkippableFact]
    public async Task A_compaction_behind_a_transaction_that_then_ends_removes_the_entries_acknowledged_before_it()
    {
        await using var pg = await PostgresInstances.CreateAsync();
        await pg.StartInProcessAsync();
        var store = pg.Services[0].GetRequiredService<IResourceStore>();
        var plain = new NpgsqlConnectionStringBuilder(await PostgresServer.ConnectionStringAsync()) { Pooling = false }.ConnectionString;
        await using var open = new NpgsqlConnection(plain);
        await open.OpenAsync();
        var held = await open.BeginTransactionAsync();
        await using (var xid = new NpgsqlCommand("SELECT pg_current_xact_id()", open, held)) await xid.ExecuteScalarAsync();
        // Acknowledged writes behind that open transaction: not yet readable, so not yet compactable.
        for (var i = 0; i < 3; i++) await pg.Clients[0].CreateUserAsync($"behind-{i}-{pg.Tag}");

        var compaction = store.CompactJournalAsync(long.MaxValue, DateTimeOffset.UtcNow.AddMinutes(1), default);
        // The earlier writer ends while the compaction waits for it (without the wait, it has returned already).
        await Task.Delay(300);
        await held.RollbackAsync();
        var floor = await compaction;
        Assert.True(floor > 0, "the compaction removed nothing");
        Assert.Empty(await store.ReadJournalAsync(0, 100, default));
    }
}
