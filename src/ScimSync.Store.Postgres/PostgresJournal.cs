using System.Text.Json;
using Npgsql;
using ScimSync.Store.Journal;

namespace ScimSync.Store.Postgres;

/// <summary>
/// The journal on PostgreSQL, and the one place that decides which entries a reader may see.
/// </summary>
/// <remarks>
/// <para><b>The problem.</b> Several server instances append concurrently. A position is taken from a sequence
/// while the transaction runs, not when it commits, so transaction A may take 9, B take 10, and B commit first:
/// a reader that saw 10 and moved its position past it would never see 9 (DESIGN.md invariant 2).</para>
/// <para><b>The rule.</b> Every entry records a <c>horizon</c>: <c>pg_snapshot_xmax</c> of a snapshot taken
/// after its position was drawn, i.e. the first transaction id not yet assigned at that moment. An entry is
/// <i>settled</i> once <c>horizon &lt;= pg_snapshot_xmin(pg_current_snapshot())</c> of the reading statement: every
/// transaction that had an id when the position was drawn has ended (committed or rolled back). Readers see only
/// the prefix up to the newest settled entry (<see cref="Cutoff"/>), never beyond it.</para>
/// <para><b>Why it holds.</b> Writers draw positions only once their transaction has an id
/// (<c>pg_current_xact_id()</c> is the first statement of <see cref="AppendSql"/>), and nextval on a CACHE 1
/// sequence is monotonic in time across sessions. So a transaction T' holding a position p' &lt; p had its id
/// before p was drawn: its id is below horizon(p). If p is settled, T' has ended before the reader's snapshot,
/// and p' is visible in that snapshot or will never exist. Hence everything at or below the cutoff is final:
/// a reader that has seen position 10 can never later find a 9. The cost is latency, not throughput: an entry
/// becomes readable when the transactions running when it was written have ended (usually milliseconds; a
/// long-running write transaction anywhere in the cluster delays every reader, which is why the store's
/// connections set idle_in_transaction_session_timeout).</para>
/// <para>List responses report the cutoff as their position: everything up to it is in the page's snapshot; a
/// change committed past it may be in the page too, and a consumer applying events after the position by
/// version, never going backwards, applies it again harmlessly (docs/journal.md).</para>
/// </remarks>
internal static class PostgresJournal
{
    /// <summary>The newest settled position visible to this statement, or null when none is.</summary>
    public const string Cutoff = """
        (SELECT c.position FROM journal c
         WHERE c.horizon <= pg_snapshot_xmin(pg_current_snapshot()) ORDER BY c.position DESC LIMIT 1)
        """;

    /// <summary>
    /// Three statements in one round trip, in this order: the transaction gets its id, then draws the position,
    /// then inserts the entry; the INSERT's own snapshot (taken when it starts, after nextval) gives the horizon.
    /// </summary>
    private static readonly string[] AppendSql =
    [
        "SELECT pg_current_xact_id()",
        "SELECT nextval('journal_position')",
        """
        INSERT INTO journal(position, horizon, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time, urgent)
        VALUES (currval('journal_position'), pg_snapshot_xmax(pg_current_snapshot()), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        RETURNING position
        """,
    ];

    private const string Columns = "position, txn, resource_type, resource_id, operation, version, attributes, data, request, actor, time";

    private const string ReadSql = $"""
        SELECT {Columns} FROM journal WHERE position > $1 AND position <= {Cutoff} ORDER BY position LIMIT $2
        """;

    private const string ReadUrgentSql = $"""
        SELECT position, resource_type, resource_id FROM journal WHERE urgent AND position > $1 AND position <= {Cutoff}
        ORDER BY position LIMIT $2
        """;

    private const string ReadResourceSql = $"""
        SELECT {Columns} FROM journal WHERE resource_id = $1 AND position > $2 AND position <= least($3, {Cutoff})
        ORDER BY position LIMIT $4
        """;

    /// <summary>The position a snapshot is consistent with: the cutoff, or the floor once everything is compacted.</summary>
    public const string HighWaterSql = $"SELECT greatest(coalesce({Cutoff}, 0), coalesce((SELECT max(position) FROM journal_floor), 0))";

    public static async Task<long> AppendAsync(NpgsqlConnection c, NpgsqlTransaction tx, JournalAppend e, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(c, tx);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(AppendSql[0]));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(AppendSql[1]));
        var insert = new NpgsqlBatchCommand(AppendSql[2]);
        insert.Parameters.Add(new() { Value = e.Txn });
        insert.Parameters.Add(new() { Value = e.ResourceType });
        insert.Parameters.Add(new() { Value = e.ResourceId });
        insert.Parameters.Add(new() { Value = e.Operation.ToString().ToLowerInvariant() });
        insert.Parameters.Add(new() { Value = e.Version });
        insert.Parameters.Add(new() { Value = JsonSerializer.Serialize(e.Attributes) });
        insert.Parameters.Add(new() { Value = (object?)e.Data ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = (object?)e.Request ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = (object?)e.Actor ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = e.Time.UtcTicks });
        insert.Parameters.Add(new() { Value = JournalUrgency.IsUrgent(e) });
        batch.BatchCommands.Add(insert);
        await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.NextResultAsync(ct).ConfigureAwait(false);
        await r.NextResultAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return r.GetInt64(0);
    }

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
                new DateTimeOffset(r.GetInt64(10), TimeSpan.Zero))));
        }
        return list;
    }

    /// <summary>
    /// Deletes a settled prefix only (nothing past the cutoff, so no entry still in flight is counted below the
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
            WITH bound AS (SELECT least($1, coalesce({Cutoff}, 0)) AS b),
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
