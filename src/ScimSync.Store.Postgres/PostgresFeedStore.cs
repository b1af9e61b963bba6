using Npgsql;
using ScimSync.Store.Feed;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The event feed's state, statement for statement what SqliteFeedStore does. Several instances share it: fan-out
/// normally runs on one instance (the lease), but polls reach any instance and a lease may change hands while the
/// old holder still finishes a round, so every operation that changes a subscription's queue first locks the
/// subscription's row (<see cref="Tx.LockAsync"/>, or fan-out's update of its positions): claims of one subscription
/// take turns, so no event is claimed twice and none overtakes an earlier one of its resource. The turn also fixes
/// the order of row locks: an acknowledgement deletes many deliveries in one statement, fan-out's urgency lift
/// updates many in another, and without the subscription's lock first the two took the same rows in different
/// orders and deadlocked (a poll answered 500). Fan-out's compare-and-set on the positions needs no more than
/// that: a second commit from the same positions updates no row and writes nothing.
/// </summary>
internal sealed class PostgresFeedStore(NpgsqlDataSource source, PostgresSecrets secrets, Action? queued) : IFeedStore
{
    private const string Columns = "id, name, config, state, signing_key, fanout_position, created, ahead_position";

    public async Task CreateSubscriptionAsync(SubscriptionRecord s, CancellationToken ct)
    {
        try
        {
            await WriteAsync(async t => await t.ExecAsync($"INSERT INTO subscriptions({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
                s.Id, s.Name, s.Config, s.State, secrets.SealSigningKey(s.Id, s.SigningKey), s.FanoutPosition, s.Created.UtcTicks).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new InvalidOperationException($"A subscription named \"{s.Name}\" already exists.");
        }
    }

    public async Task<IReadOnlyList<SubscriptionRecord>> ListSubscriptionsAsync(CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM subscriptions ORDER BY created, id", c);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<SubscriptionRecord>();
        while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(Read(r));
        return list;
    }

    public async Task<SubscriptionRecord?> FindSubscriptionAsync(string idOrName, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM subscriptions WHERE id = $1 OR name = $1", c) { Parameters = { new() { Value = idOrName } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false) ? Read(r) : null;
    }

    private SubscriptionRecord Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), secrets.OpenSigningKey(r.GetString(0), r.GetString(4)), r.GetInt64(5),
        new DateTimeOffset(r.GetInt64(6), TimeSpan.Zero)) { AheadPosition = r.GetInt64(7) };

    public Task<bool> UpdateSubscriptionAsync(string id, string config, string state, CancellationToken ct) =>
        WriteAsync(async t => await t.ExecAsync("UPDATE subscriptions SET config = $1, state = $2 WHERE id = $3", config, state, id).ConfigureAwait(false) > 0, ct);

    public Task<bool> DeleteSubscriptionAsync(string id, CancellationToken ct) => WriteAsync(async t =>
    {
        await t.LockAsync(id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM deliveries WHERE subscription_id = $1", id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM password_deliveries WHERE subscription_id = $1", id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM subscription_members WHERE subscription_id = $1", id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM fanout_ahead WHERE subscription_id = $1", id).ConfigureAwait(false);
        return await t.ExecAsync("DELETE FROM subscriptions WHERE id = $1", id).ConfigureAwait(false) > 0;
    }, ct);

    public Task<bool> RewindAsync(string id, long position, IReadOnlyCollection<string> members, CancellationToken ct) => WriteAsync(async t =>
    {
        if (await t.ExecAsync("UPDATE subscriptions SET fanout_position = $1, ahead_position = 0 WHERE id = $2", position, id).ConfigureAwait(false) == 0) return false;
        await t.ExecAsync("DELETE FROM deliveries WHERE subscription_id = $1 AND state <> 3", id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM fanout_ahead WHERE subscription_id = $1", id).ConfigureAwait(false);
        await t.ExecAsync("DELETE FROM subscription_members WHERE subscription_id = $1", id).ConfigureAwait(false);
        await t.ExecAsync("INSERT INTO subscription_members(subscription_id, resource_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            id, members.ToArray()).ConfigureAwait(false);
        return true;
    }, ct);

    public async Task<IReadOnlySet<string>> MembersAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (resourceIds.Count == 0) return result;
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT resource_id FROM subscription_members WHERE subscription_id = $1 AND resource_id = ANY($2)", c)
        {
            Parameters = { new() { Value = subscriptionId }, new() { Value = resourceIds.Distinct().ToArray() } },
        };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) result.Add(r.GetString(0));
        return result;
    }

    public async Task<bool> CommitFanoutAsync(string subscriptionId, FanoutCommit commit, CancellationToken ct)
    {
        foreach (var d in commit.Deliveries)
            // The start of the event's delivery time budget: the caller's clock, never a default.
            if (d.Created == default) throw new ArgumentException($"Delivery {d.Jti} has no creation time", nameof(commit));
        var done = await TryWriteAsync(async t =>
        {
            if (await t.ExecAsync("""
                    UPDATE subscriptions SET fanout_position = $1, ahead_position = $2
                    WHERE id = $3 AND fanout_position = $4 AND ahead_position = $5
                    """, commit.FanoutTo, commit.AheadTo, subscriptionId, commit.FanoutFrom, commit.AheadFrom).ConfigureAwait(false) == 0)
                return false;
            // A superseded event claimed since fan-out read it may be on its way: the replacement would repeat it.
            foreach (var jti in commit.Superseded)
                if (await t.ExecAsync("DELETE FROM deliveries WHERE subscription_id = $1 AND jti = $2 AND state = 0", subscriptionId, jti).ConfigureAwait(false) == 0)
                    return false;
            if (commit.FanoutTo > commit.FanoutFrom)
                await t.ExecAsync("DELETE FROM fanout_ahead WHERE subscription_id = $1 AND position <= $2", subscriptionId, commit.FanoutTo).ConfigureAwait(false);
            var ds = commit.Deliveries;
            if (ds.Count > 0)
            {
                await t.ExecAsync("""
                    INSERT INTO deliveries(subscription_id, jti, position, resource_id, urgent, token, state, attempts, visible_at, created, coalescible)
                    SELECT $1, d.jti, d.position, d.resource_id, d.urgent, d.token, 0, 0, 0, d.created, d.coalescible
                    FROM unnest($2::text[], $3::bigint[], $4::text[], $5::int[], $6::text[], $7::bigint[], $8::int[])
                         AS d(jti, position, resource_id, urgent, token, created, coalescible)
                    ON CONFLICT DO NOTHING
                    """, subscriptionId, ds.Select(d => d.Jti).ToArray(), ds.Select(d => d.Position).ToArray(), ds.Select(d => d.ResourceId).ToArray(),
                    ds.Select(d => d.Urgent ? 1 : 0).ToArray(), ds.Select(d => d.Token).ToArray(), ds.Select(d => d.Created.UtcTicks).ToArray(),
                    ds.Select(d => (int)d.Coalescible).ToArray()).ConfigureAwait(false);
                // An urgent delivery lifts the undelivered events of its resource before it into the urgent lane.
                foreach (var d in ds.Where(d => d.Urgent))
                    await t.ExecAsync("""
                        UPDATE deliveries SET urgent = 1
                        WHERE subscription_id = $1 AND resource_id = $2 AND position < $3 AND urgent = 0 AND state IN (0, 1)
                        """, subscriptionId, d.ResourceId, d.Position).ConfigureAwait(false);
            }
            if (commit.FannedAhead.Count > 0)
                await t.ExecAsync("""
                    INSERT INTO fanout_ahead(subscription_id, position, resource_id) SELECT $1, a.p, a.r FROM unnest($2::bigint[], $3::text[]) AS a(p, r)
                    ON CONFLICT DO NOTHING
                    """, subscriptionId, commit.FannedAhead.Select(a => a.Position).ToArray(), commit.FannedAhead.Select(a => a.ResourceId).ToArray()).ConfigureAwait(false);
            if (commit.Entered.Count > 0)
                await t.ExecAsync("INSERT INTO subscription_members(subscription_id, resource_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
                    subscriptionId, commit.Entered.ToArray()).ConfigureAwait(false);
            if (commit.Left.Count > 0)
                await t.ExecAsync("DELETE FROM subscription_members WHERE subscription_id = $1 AND resource_id = ANY($2)", subscriptionId, commit.Left.ToArray()).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
        if (done && commit.Deliveries.Count > 0) queued?.Invoke();
        return done;
    }

    public async Task<IReadOnlyDictionary<string, DeliveryRecord>> CoalescibleAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct)
    {
        var result = new Dictionary<string, DeliveryRecord>(StringComparer.Ordinal);
        if (resourceIds.Count == 0) return result;
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        // The latest undelivered event of each resource only: replacing an earlier one would move a change past a later one.
        await using var cmd = new NpgsqlCommand("""
            SELECT DISTINCT ON (resource_id) resource_id, jti, position, state, coalescible, created FROM deliveries
            WHERE subscription_id = $1 AND resource_id = ANY($2) AND state IN (0, 1) ORDER BY resource_id, position DESC
            """, c) { Parameters = { new() { Value = subscriptionId }, new() { Value = resourceIds.Distinct().ToArray() } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            if (r.GetInt32(3) != 0 || r.GetInt32(4) == 0) continue;
            var id = r.GetString(0);
            result[id] = new DeliveryRecord(subscriptionId, r.GetString(1), r.GetInt64(2), id, false, "", 0, null)
            {
                Coalescible = (Coalescible)r.GetInt32(4),
                Created = new DateTimeOffset(r.GetInt64(5), TimeSpan.Zero),
            };
        }
        return result;
    }

    public async Task<IReadOnlySet<long>> FannedAheadAsync(string subscriptionId, long after, long through, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT position FROM fanout_ahead WHERE subscription_id = $1 AND position > $2 AND position <= $3", c)
        {
            Parameters = { new() { Value = subscriptionId }, new() { Value = after }, new() { Value = through } },
        };
        var result = new HashSet<long>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) result.Add(r.GetInt64(0));
        return result;
    }

    public async Task<IReadOnlyDictionary<string, long>> LastFannedAheadAsync(string subscriptionId, IReadOnlyCollection<string> resourceIds, CancellationToken ct)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (resourceIds.Count == 0) return result;
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            SELECT resource_id, max(position) FROM fanout_ahead WHERE subscription_id = $1 AND resource_id = ANY($2) GROUP BY resource_id
            """, c) { Parameters = { new() { Value = subscriptionId }, new() { Value = resourceIds.Distinct().ToArray() } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) result[r.GetString(0)] = r.GetInt64(1);
        return result;
    }

    public async Task<IReadOnlyList<DeliveryRecord>> ClaimAsync(string subscriptionId, int max, DateTimeOffset now, TimeSpan visibility, CancellationToken ct)
    {
        if (max <= 0) return [];
        return await WriteAsync(async t =>
        {
            await t.LockAsync(subscriptionId).ConfigureAwait(false);
            var list = new List<DeliveryRecord>();
            // Pending and timed-out in-flight events are read by two ordered index walks that stop at the limit,
            // as on SQLite; never an event while an earlier one of its resource is undelivered.
            await using (var cmd = t.Command("""
                SELECT * FROM (
                    (SELECT d.jti, d.position, d.resource_id, d.urgent, d.token, d.attempts, d.last_error, d.created FROM deliveries d
                     WHERE d.subscription_id = $1 AND d.state = 0
                       AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.subscription_id = d.subscription_id
                                       AND e.resource_id = d.resource_id AND e.position < d.position AND e.state IN (0, 1))
                     ORDER BY d.urgent DESC, d.position LIMIT $3)
                    UNION ALL
                    (SELECT d.jti, d.position, d.resource_id, d.urgent, d.token, d.attempts, d.last_error, d.created FROM deliveries d
                     WHERE d.subscription_id = $1 AND d.state = 1 AND d.visible_at <= $2
                       AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.subscription_id = d.subscription_id
                                       AND e.resource_id = d.resource_id AND e.position < d.position AND e.state IN (0, 1))
                     ORDER BY d.urgent DESC, d.position LIMIT $3)) x
                ORDER BY 4 DESC, 2 LIMIT $3
                """, subscriptionId, now.UtcTicks, (long)max))
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                    list.Add(new DeliveryRecord(subscriptionId, r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3) != 0,
                        r.GetString(4), r.GetInt32(5) + 1, r.IsDBNull(6) ? null : r.GetString(6))
                    { Created = new DateTimeOffset(r.GetInt64(7), TimeSpan.Zero) });
            }
            if (list.Count > 0)
                await t.ExecAsync("UPDATE deliveries SET state = 1, attempts = attempts + 1, visible_at = $1 WHERE subscription_id = $2 AND jti = ANY($3)",
                    (now + visibility).UtcTicks, subscriptionId, list.Select(d => d.Jti).ToArray()).ConfigureAwait(false);
            return (IReadOnlyList<DeliveryRecord>)list;
        }, ct).ConfigureAwait(false);
    }

    public async Task<DateTimeOffset?> NextDueAsync(string subscriptionId, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT min(visible_at) FROM deliveries WHERE subscription_id = $1 AND state IN (0, 1)", c) { Parameters = { new() { Value = subscriptionId } } };
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
    }

    public Task<int> AckAsync(string subscriptionId, IReadOnlyCollection<string> jtis, CancellationToken ct) =>
        jtis.Count == 0 ? Task.FromResult(0) : WriteAsync(async t =>
        {
            await t.LockAsync(subscriptionId).ConfigureAwait(false);
            return await AckAsync(t, subscriptionId, jtis).ConfigureAwait(false);
        }, ct);

    public Task<DeadLetterResult> DeadLetterAsync(string subscriptionId, IReadOnlyDictionary<string, string> errors, DeadLetterLimit limit, CancellationToken ct) =>
        WriteAsync(async t =>
        {
            await t.LockAsync(subscriptionId).ConfigureAwait(false);
            return await DeadLetterAsync(t, subscriptionId, errors, limit).ConfigureAwait(false);
        }, ct);

    public Task<(int Acknowledged, DeadLetterResult Dead)> SettleAsync(string subscriptionId, DeliveryOutcome outcome, DeadLetterLimit limit, CancellationToken ct) => WriteAsync(async t =>
    {
        await t.LockAsync(subscriptionId).ConfigureAwait(false);
        var acked = await AckAsync(t, subscriptionId, outcome.Acknowledged).ConfigureAwait(false);
        var dead = await DeadLetterAsync(t, subscriptionId, outcome.DeadLettered, limit).ConfigureAwait(false);
        // Retries: in flight until visible_at, then claimable again (backoff or Retry-After).
        if (outcome.Retries.Count > 0)
            await t.ExecAsync("""
                UPDATE deliveries d SET visible_at = x.v, last_error = x.e
                FROM unnest($2::text[], $3::bigint[], $4::text[]) AS x(j, v, e)
                WHERE d.subscription_id = $1 AND d.jti = x.j AND d.state = 1
                """, subscriptionId, outcome.Retries.Select(r => r.Jti).ToArray(), outcome.Retries.Select(r => r.VisibleAt.UtcTicks).ToArray(),
                outcome.Retries.Select(r => r.Error).ToArray()).ConfigureAwait(false);
        return (acked, dead);
    }, ct);

    private static async Task<int> AckAsync(Tx t, string subscriptionId, IReadOnlyCollection<string> jtis) =>
        jtis.Count == 0 ? 0 : await t.ExecAsync("DELETE FROM deliveries WHERE subscription_id = $1 AND jti = ANY($2) AND state <> 3", subscriptionId, jtis.Distinct().ToArray()).ConfigureAwait(false);

    private static async Task<DeadLetterResult> DeadLetterAsync(Tx t, string subscriptionId, IReadOnlyDictionary<string, string> errors, DeadLetterLimit limit)
    {
        if (errors.Count == 0) return default;
        long count, bytes;
        await using (var cmd = t.Command("SELECT count(*), coalesce(sum(octet_length(token) + coalesce(octet_length(last_error), 0)), 0)::bigint FROM deliveries WHERE subscription_id = $1 AND state = 3", subscriptionId))
        await using (var r = await cmd.ExecuteReaderAsync(t.Ct).ConfigureAwait(false))
        {
            await r.ReadAsync(t.Ct).ConfigureAwait(false);
            count = r.GetInt64(0);
            bytes = r.GetInt64(1);
        }
        int dead = 0, held = 0;
        var full = false;
        foreach (var (jti, error) in errors)
        {
            long size;
            await using (var cmd = t.Command("SELECT octet_length(token)::bigint FROM deliveries WHERE subscription_id = $1 AND jti = $2 AND state IN (0, 1)", subscriptionId, jti))
            {
                if (await cmd.ExecuteScalarAsync(t.Ct).ConfigureAwait(false) is not long s) continue; // acknowledged, already a dead letter, or never known
                size = s;
            }
            size += System.Text.Encoding.UTF8.GetByteCount(error);
            // Once one does not fit, none after it goes in: the list does not fill up out of order.
            full |= count > 0 && (count + 1 > limit.MaxCount || bytes + size > limit.MaxBytes);
            if (full)
            {
                // Back in the queue, still undelivered: nothing the subscriber was promised is dropped.
                held += await t.ExecAsync("UPDATE deliveries SET state = 0, visible_at = 0, last_error = $1 WHERE subscription_id = $2 AND jti = $3", error, subscriptionId, jti).ConfigureAwait(false);
                continue;
            }
            dead += await t.ExecAsync("UPDATE deliveries SET state = 3, last_error = $1 WHERE subscription_id = $2 AND jti = $3", error, subscriptionId, jti).ConfigureAwait(false);
            count++;
            bytes += size;
        }
        return new DeadLetterResult(dead, held);
    }

    public async Task<int> ReplayDeadLettersAsync(string subscriptionId, CancellationToken ct)
    {
        var n = await WriteAsync(async t =>
        {
            await t.LockAsync(subscriptionId).ConfigureAwait(false);
            return await t.ExecAsync("UPDATE deliveries SET state = 0, visible_at = 0, attempts = 0 WHERE subscription_id = $1 AND state = 3", subscriptionId).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        if (n > 0) queued?.Invoke();
        return n;
    }

    public Task<int> DiscardDeadLettersAsync(string subscriptionId, CancellationToken ct) => WriteAsync(async t =>
    {
        await t.LockAsync(subscriptionId).ConfigureAwait(false);
        return await t.ExecAsync("DELETE FROM deliveries WHERE subscription_id = $1 AND state = 3", subscriptionId).ConfigureAwait(false);
    }, ct);

    public async Task<IReadOnlyList<DeliveryRecord>> DeadLettersAsync(string subscriptionId, int max, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT jti, position, resource_id, urgent, token, attempts, last_error FROM deliveries WHERE subscription_id = $1 AND state = 3 ORDER BY position LIMIT $2", c)
        {
            Parameters = { new() { Value = subscriptionId }, new() { Value = (long)max } },
        };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<DeliveryRecord>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new DeliveryRecord(subscriptionId, r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3) != 0, r.GetString(4), r.GetInt32(5), r.IsDBNull(6) ? null : r.GetString(6)));
        return list;
    }

    public async Task<bool> HasPendingAsync(string subscriptionId, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM deliveries WHERE subscription_id = $1 AND state = 0)", c) { Parameters = { new() { Value = subscriptionId } } };
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    public async Task<FeedStats> StatsAsync(string subscriptionId, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND state = 0),
                   (SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND state = 1),
                   (SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND state = 3),
                   (SELECT min(created) FROM deliveries WHERE subscription_id = $1 AND state IN (0, 1)),
                   (SELECT fanout_position FROM subscriptions WHERE id = $1)
            """, c) { Parameters = { new() { Value = subscriptionId } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        var stats = new FeedStats(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2),
            r.IsDBNull(3) ? null : new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), r.IsDBNull(4) ? 0 : r.GetInt64(4));
        await r.DisposeAsync().ConfigureAwait(false);
        return stats with { Lag = await LagAsync(c, subscriptionId, ct).ConfigureAwait(false) };
    }

    public async Task<FanoutLag> FanoutLagAsync(string subscriptionId, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        return await LagAsync(c, subscriptionId, ct).ConfigureAwait(false);
    }

    /// <summary>Lag counts stop here: positions are sparse (PostgresJournal), so the count walks the index.</summary>
    internal const int LagCountCap = 100_000;

    /// <summary>
    /// Entries past the in-order fan-out position and the time of the first of them, both within the settled
    /// prefix (PostgresJournal.Readable: what fan-out could take now). Positions are sparse here, so unlike
    /// SQLite the count is a walk of the journal's primary key, capped at <see cref="LagCountCap"/> so that a
    /// far-behind subscription cannot make a readiness probe expensive; the age needs one seek.
    /// </summary>
    private static async Task<FanoutLag> LagAsync(NpgsqlConnection c, string subscriptionId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"""
            SELECT (SELECT count(*) FROM (SELECT 1 FROM journal j WHERE j.position > s.fanout_position AND j.position < {PostgresJournal.Readable}
                                          LIMIT {LagCountCap}) waiting),
                   (SELECT j.time FROM journal j WHERE j.position > s.fanout_position AND j.position < {PostgresJournal.Readable}
                    ORDER BY j.position LIMIT 1)
            FROM subscriptions s WHERE s.id = $1
            """, c) { Parameters = { new() { Value = subscriptionId } } };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) return FanoutLag.None;
        return new FanoutLag(r.GetInt64(0), r.IsDBNull(1) ? null : new DateTimeOffset(r.GetInt64(1), TimeSpan.Zero));
    }

    /// <summary>The open write transaction, with one-line helpers for its statements ($1, $2… in argument order).</summary>
    private sealed class Tx(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken ct)
    {
        public CancellationToken Ct => ct;

        public NpgsqlCommand Command(string sql, params object?[] args)
        {
            var cmd = new NpgsqlCommand(sql, connection, transaction);
            foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
            return cmd;
        }

        public async Task<int> ExecAsync(string sql, params object?[] args)
        {
            await using var cmd = Command(sql, args);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        /// <summary>Takes the subscription's row lock until commit: its queue changes one transaction at a time.</summary>
        public Task LockAsync(string subscriptionId) => ExecAsync("SELECT 1 FROM subscriptions WHERE id = $1 FOR UPDATE", subscriptionId);
    }

    /// <summary>Commits only when <paramref name="work"/> returns true; otherwise rolls back whatever it wrote.</summary>
    private async Task<bool> TryWriteAsync(Func<Tx, Task<bool>> work, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        if (!await work(new Tx(c, tx, ct)).ConfigureAwait(false))
        {
            await tx.RollbackAsync(ct).ConfigureAwait(false);
            return false;
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    private async Task<T> WriteAsync<T>(Func<Tx, Task<T>> work, CancellationToken ct)
    {
        await using var c = await source.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        var result = await work(new Tx(c, tx, ct)).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }
}
