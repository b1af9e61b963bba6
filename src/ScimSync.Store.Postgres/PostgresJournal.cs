using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using ScimSync.Store.Journal;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The journal on PostgreSQL, and the one place that decides which entries a reader may see.
/// </summary>
/// <remarks>
/// <para><b>The problem.</b> Several server instances append concurrently. A position taken from a counter while a
/// transaction runs (a sequence) does not follow commit order: transaction A may take 9, B take 10, and B commit
/// first; a reader that saw 10 and moved past it would never see 9 (DESIGN.md invariant 2). Snapshot bounds do
/// not rescue a sequence either: since PostgreSQL 14 a snapshot's xmax is the latest completed transaction + 1,
/// not the next id to be assigned, so "every transaction running when 10 was drawn" cannot be bounded that way
/// (an earlier design tried, and the conformance test caught 9 appearing after 10).</para>
/// <para><b>The rule.</b> A position is made of the writing transaction's own id: <c>position = xid8 &lt;&lt; 16 |
/// index</c>, the index counting the transaction's entries (<see cref="MaxEntriesPerTransaction"/>); the statement
/// that appends them reads the id in the transaction itself (<see cref="PositionSql"/>). A reader sees
/// only entries below <c>pg_snapshot_xmin(pg_current_snapshot()) &lt;&lt; 16</c> (<see cref="Readable"/>): entries
/// of transactions whose ids are below the oldest transaction still running when its statement started.</para>
/// <para><b>Why it holds.</b> Every transaction with an id below a snapshot's xmin has ended, committed (and then
/// visible to that snapshot) or rolled back (and then never visible). So the set of readable entries below any
/// bound can only grow at the top: if a reader has seen position P (transaction x &lt; its xmin), an entry P' &lt; P
/// belongs to a transaction x' &lt;= x, which had ended before that reader's statement, so P' was already visible
/// to it or will never exist. A reader that has seen 10 never later finds a 9. Positions are sparse (a consumer
/// must not expect n+1 after n) and never reused, since transaction ids are not.</para>
/// <para><b>The cost</b> is latency, not throughput: an entry becomes readable once every transaction that got its
/// id earlier has ended (usually milliseconds). A long transaction holding an id anywhere in the cluster delays
/// every reader, which is why the store's connections set idle_in_transaction_session_timeout.</para>
/// <para>List responses report <c>(xmin &lt;&lt; 16) - 1</c> as their position: every entry up to it is in the page's
/// snapshot; a change committed past it may be in the page too, and a consumer applying events after the
/// position by version, never going backwards, applies it again harmlessly (docs/journal.md).</para>
/// </remarks>
internal static class PostgresJournal
{
    /// <summary>
    /// Waits until every transaction that had completed or was running when it was called, and got its id before
    /// the latest one completed, has ended (at most <paramref name="limit"/>; usually not at all, or milliseconds).
    /// A read that follows then returns every entry committed before the call, as on SQLite: a write acknowledged
    /// to a client is in the journal of the next read on any instance, and in the position of the next list.
    /// </summary>
    /// <remarks>
    /// Timed by the machine's elapsed time, not the server's TimeProvider: this waits on other database sessions,
    /// which run whatever that clock says. A clock held still (a test's, or one paused) must not make it wait forever.
    /// </remarks>
    public static async Task WaitForEarlierWritersAsync(NpgsqlConnection c, TimeSpan limit, CancellationToken ct)
    {
        long target;
        await using (var cmd = new NpgsqlCommand("SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint FROM pg_current_snapshot() s", c))
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            await r.ReadAsync(ct).ConfigureAwait(false);
            if (r.GetInt64(0) >= r.GetInt64(1)) return; // nothing runs below the latest completed transaction
            target = r.GetInt64(1);
        }
        var started = Stopwatch.GetTimestamp();
        await using var check = new NpgsqlCommand("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= $1", c) { Parameters = { new() { Value = target } } };
        // Polled: PostgreSQL offers no wait on another session's transaction. Ending early only makes a read return
        // less than it could, never anything out of order.
        while ((bool)(await check.ExecuteScalarAsync(ct).ConfigureAwait(false))! is false && Stopwatch.GetElapsedTime(started) < limit)
            await Task.Delay(TimeSpan.FromMilliseconds(1), ct).ConfigureAwait(false);
    }

    /// <summary>Entries one transaction may append (the low 16 bits of a position).</summary>
    public const int MaxEntriesPerTransaction = 1 << 16;

    /// <summary>The exclusive upper bound of what this statement may read: everything below it is final.</summary>
    public const string Readable = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)";

    /// <summary>
    /// The position of the writing transaction's entry number <c>index</c> (<c>index</c> an SQL expression): the rule
    /// of the remarks above. <c>pg_current_xact_id()</c> is the transaction's own id, assigned by its first write.
    /// </summary>
    private static string PositionSql(string index) => $"((pg_current_xact_id()::text::bigint << 16) | {index})";

    private const string AppendColumns = "position, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, urgent, writer";

    private static readonly string AppendOneSql = $"INSERT INTO journal({AppendColumns}) VALUES ({PositionSql("0")}, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

    private static readonly string AppendManySql = $"""
        INSERT INTO journal({AppendColumns})
        SELECT {PositionSql("(e.n - 1)")}, e.txn, e.resource_type, e.resource_id, e.operation, e.version, e.attributes, e.data, e.request, e.actor, e.time, e.urgent, e.writer
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::boolean[], $12::text[])
            WITH ORDINALITY AS e(txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, urgent, writer, n)
        """;

    private const string Columns = "position, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, writer";

    private const string ReadSql = $"""
        SELECT {Columns} FROM journal WHERE position > $1 AND position < {Readable} ORDER BY position LIMIT $2
        """;

    private const string ReadUrgentSql = $"""
        SELECT position, resource_type, resource_id FROM journal WHERE urgent AND position > $1 AND position < {Readable}
        ORDER BY position LIMIT $2
        """;

    private const string ReadResourceSql = $"""
        SELECT {Columns} FROM journal WHERE resource_id = $1 AND position > $2 AND position <= $3 AND position < {Readable}
        ORDER BY position LIMIT $4
        """;

    /// <summary>The position a snapshot is consistent with: just below what it may not yet read (never below the floor).</summary>
    public const string HighWaterSql = $"SELECT greatest({Readable} - 1, coalesce((SELECT max(position) FROM journal_floor), 0))";

    /// <summary>
    /// One statement appending a transaction's entries, in order, each position made from the transaction's id and
    /// the entry's index (<see cref="PositionSql"/>). The write session sends it with its COMMIT, in one round trip:
    /// appending needs nothing back from the database.
    /// </summary>
    public static NpgsqlBatchCommand Append(IReadOnlyList<JournalAppend> entries)
    {
        if (entries.Count > MaxEntriesPerTransaction)
            throw new InvalidOperationException($"One write may journal at most {MaxEntriesPerTransaction} changes");
        if (entries.Count == 1)
        {
            var e = entries[0];
            return new NpgsqlBatchCommand(AppendOneSql)
            {
                Parameters =
                {
                    new() { Value = e.Txn },
                    new() { Value = e.ResourceType },
                    new() { Value = e.ResourceId },
                    new() { Value = OperationName(e) },
                    new() { Value = e.Version },
                    new() { Value = JsonSerializer.Serialize(e.Attributes) },
                    new() { Value = (object?)e.Data ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
                    new() { Value = (object?)e.Request ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
                    new() { Value = (object?)e.Actor ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
                    new() { Value = e.Time.UtcTicks },
                    new() { Value = JournalUrgency.IsUrgent(e) },
                    new() { Value = (object?)e.Writer ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
                },
            };
        }
        // Many (a Bulk request, a member removed from many groups): one statement over arrays, not one per entry.
        T[] Each<T>(Func<JournalAppend, T> f) => entries.Select(f).ToArray();
        return new NpgsqlBatchCommand(AppendManySql)
        {
            Parameters =
            {
                new() { Value = Each(e => e.Txn) },
                new() { Value = Each(e => e.ResourceType) },
                new() { Value = Each(e => e.ResourceId) },
                new() { Value = Each(OperationName) },
                new() { Value = Each(e => e.Version) },
                new() { Value = Each(e => JsonSerializer.Serialize(e.Attributes)) },
                new() { Value = Each(e => e.Data), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text },
                new() { Value = Each(e => e.Request), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text },
                new() { Value = Each(e => e.Actor), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text },
                new() { Value = Each(e => e.Time.UtcTicks) },
                new() { Value = Each(e => JournalUrgency.IsUrgent(e)) },
                new() { Value = Each(e => e.Writer), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text },
            },
        };
    }

    private static string OperationName(JournalAppend e) => e.Operation.ToString().ToLowerInvariant();

    public static async Task<IReadOnlyList<JournalEntry>> ReadAsync(NpgsqlConnection c, long after, int limit, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ReadSql, c) { Parameters = { new() { Value = after }, new() { Value = (long)limit } } };
        return await ReadEntriesAsync(cmd, limit, ct).ConfigureAwait(false);
    }

    public static async Task<IReadOnlyList<JournalMarker>> ReadUrgentAsync(NpgsqlConnection c, long after, int limit, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ReadUrgentSql, c) { Parameters = { new() { Value = after }, new() { Value = (long)limit } } };
        var list = new List<JournalMarker>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(new JournalMarker(r.GetInt64(0), r.GetString(1), r.GetString(2)));
        return list;
    }

    public static async Task<IReadOnlyList<JournalEntry>> ReadResourceAsync(NpgsqlConnection c, string resourceId, long after, long through, int limit, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ReadResourceSql, c)
        {
            Parameters = { new() { Value = resourceId }, new() { Value = after }, new() { Value = through }, new() { Value = (long)limit } },
        };
        return await ReadEntriesAsync(cmd, limit, ct).ConfigureAwait(false);
    }

    private static async Task<List<JournalEntry>> ReadEntriesAsync(NpgsqlCommand cmd, int limit, CancellationToken ct)
    {
        var list = new List<JournalEntry>(Math.Min(limit, 1024));
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new JournalEntry(r.GetInt64(0), new JournalAppend(
                r.GetString(1), r.GetString(2), r.GetString(3),
                Enum.Parse<JournalOperation>(r.GetString(4), ignoreCase: true), r.GetInt64(5),
                JsonSerializer.Deserialize<string[]>(r.GetString(6)) ?? [],
                r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
                new DateTimeOffset(r.GetInt64(10), TimeSpan.Zero)) { Writer = r.IsDBNull(11) ? null : r.GetString(11) }));
        }
        return list;
    }

    /// <summary>
    /// Deletes a readable prefix only (nothing an unfinished transaction could still add to is counted below the
    /// floor), and of it only entries older than <paramref name="olderThan"/>: an entry stays while any older one
    /// stays, so the floor is exact. Returns the new floor.
    /// </summary>
    public static async Task<long> CompactAsync(NpgsqlConnection c, long through, DateTimeOffset olderThan, CancellationToken ct)
    {
        await using var tx = await c.BeginTransactionAsync(ct).ConfigureAwait(false);
        // One compaction at a time (instances may both run one while a lease changes hands).
        await using (var lk = new NpgsqlCommand("LOCK TABLE journal_floor IN EXCLUSIVE MODE", c, tx))
            await lk.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        long deleted;
        await using (var cmd = new NpgsqlCommand($"""
            WITH bound AS (SELECT least($1, {Readable} - 1) AS b),
                 keep AS (SELECT min(position) - 1 AS k FROM journal, bound WHERE position <= bound.b AND time >= $2),
                 gone AS (DELETE FROM journal WHERE position <= (SELECT coalesce(keep.k, bound.b) FROM keep, bound) RETURNING position)
            SELECT coalesce(max(position), 0) FROM gone
            """, c, tx) { Parameters = { new() { Value = through }, new() { Value = olderThan.UtcTicks } } })
            deleted = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        long floor;
        await using (var cmd = new NpgsqlCommand("SELECT coalesce(max(position), 0) FROM journal_floor", c, tx))
            floor = Math.Max((long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!, deleted);
        await using (var cmd = new NpgsqlCommand("DELETE FROM journal_floor", c, tx))
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using (var cmd = new NpgsqlCommand("INSERT INTO journal_floor(position) VALUES ($1)", c, tx) { Parameters = { new() { Value = floor } } })
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return floor;
    }

    public static async Task<long> FloorAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT coalesce(max(position), 0) FROM journal_floor", c);
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }
}
