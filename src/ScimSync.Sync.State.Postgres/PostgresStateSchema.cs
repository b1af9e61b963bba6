using Npgsql;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Postgres;

/// <summary>
/// The state's layout in PostgreSQL and its history, in one place: <see cref="Steps"/>[i] takes a schema from
/// version i to i + 1, recorded in <c>state_schema</c>. A schema is brought up to <see cref="Version"/> in one
/// transaction under an advisory lock when a process opens it (engines starting together upgrade it once; all steps
/// commit or none); one written by a newer build is refused. A change is a new step at the end, never an edit.
/// The tables mirror the SQLite state's (SqliteStateSchema) table for table, so both answer the same port the same
/// way: times are UTC ticks (bigint), text compared by identity is <c>COLLATE "C"</c> (SQLite's BINARY), and
/// userName is matched case-insensitively through <c>lower()</c>, as SQLite's NOCASE (which folds ASCII only:
/// lower() folds more, so non-ASCII names that differ only in case match here and not on SQLite).
/// Every row is keyed by its target where it belongs to one, so several engines share one schema: what one engine
/// does to a target is what the next owner of that target reads (TargetLeases).
/// </summary>
internal static class PostgresStateSchema
{
    public static int Version => Steps.Length;

    private static readonly string[] Steps = [Baseline, EmailKey, LeaseRequests];

    /// <summary>Serialises upgrades between processes opening the same schema at once.</summary>
    private const string UpgradeLock = "scimsync:sync-state-schema";

    public static void Upgrade(NpgsqlConnection db, string? schema, string display)
    {
        using var tx = db.BeginTransaction();
        void Exec(string sql)
        {
            using var cmd = new NpgsqlCommand(sql, db, tx);
            cmd.ExecuteNonQuery();
        }
        Exec($"SELECT pg_advisory_xact_lock(hashtextextended('{UpgradeLock}/' || {(schema is null ? "current_schema()" : "'" + schema.Replace("'", "''", StringComparison.Ordinal) + "'")}, 0))");
        if (schema is not null) Exec("CREATE SCHEMA IF NOT EXISTS " + ScimSync.Postgres.PostgresUrl.QuoteIdentifier(schema));
        Exec("CREATE TABLE IF NOT EXISTS state_schema (version integer NOT NULL)");
        long version;
        using (var cmd = new NpgsqlCommand("SELECT version FROM state_schema", db, tx))
            version = cmd.ExecuteScalar() is int v ? v : 0;
        if (version > Version)
            throw new SyncStateUnavailableException($"{display}: the state was written by a newer build (layout version {version}; this build knows up to {Version}); run that build, or a newer one");
        for (var step = (int)version; step < Version; step++) Exec(Steps[step]);
        if (version != Version)
        {
            Exec("DELETE FROM state_schema");
            Exec("INSERT INTO state_schema(version) VALUES (" + Version.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")");
        }
        tx.Commit();
    }

    /// <summary>Version 1: the SQLite state's layout, and the engines' leases on targets.</summary>
    private const string Baseline = """
        -- The shadow of each target's accounts. data: the account as last seen, exactly as received; synced: as the
        -- engine last wrote or accepted it (the drift baseline). seen: the last read that found it (a full read
        -- forgets what it did not see).
        CREATE TABLE shadow_accounts (
            target text COLLATE "C" NOT NULL, target_id text COLLATE "C" NOT NULL, user_name text NOT NULL, external_id text COLLATE "C",
            active boolean NOT NULL, data text NOT NULL, synced text, seen bigint NOT NULL,
            PRIMARY KEY (target, target_id));
        CREATE INDEX ix_shadow_user ON shadow_accounts(target, lower(user_name));
        CREATE INDEX ix_shadow_external ON shadow_accounts(target, external_id);
        -- Links apart from the accounts, so a link survives a read in which its account is missing (an out-of-band
        -- deletion). One per target account; one per source account and target (the writer removes an older one).
        CREATE TABLE links (
            target text COLLATE "C" NOT NULL, target_id text COLLATE "C" NOT NULL, source_id text COLLATE "C" NOT NULL, linked bigint NOT NULL,
            PRIMARY KEY (target, target_id));
        CREATE INDEX ix_links_source ON links(target, source_id);
        CREATE INDEX ix_links_any_source ON links(source_id);
        CREATE TABLE shadow_groups (
            target text COLLATE "C" NOT NULL, target_id text COLLATE "C" NOT NULL, display_name text NOT NULL, external_id text,
            PRIMARY KEY (target, target_id));
        CREATE TABLE shadow_group_members (
            target text COLLATE "C" NOT NULL, group_id text COLLATE "C" NOT NULL, member_id text COLLATE "C" NOT NULL,
            PRIMARY KEY (target, group_id, member_id));
        CREATE INDEX ix_shadow_member ON shadow_group_members(target, member_id);
        CREATE TABLE group_links (
            target text COLLATE "C" NOT NULL, target_id text COLLATE "C" NOT NULL, source_id text COLLATE "C" NOT NULL,
            PRIMARY KEY (target, target_id));
        CREATE TABLE checkpoints (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
        -- Every value sealed with the key file kept apart from the database, never clear.
        CREATE TABLE secrets (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
        CREATE TABLE source_group_members (
            group_id text COLLATE "C" NOT NULL, member_id text COLLATE "C" NOT NULL, PRIMARY KEY (group_id, member_id));
        -- The per-target queue: one row per key however often it is queued. enqueued: when first queued (its place
        -- in line); changes: how many changes were queued for it, so a key changed again while it was applied stays
        -- (the dequeue names the count it saw). Every engine queues for every target: the owner drains it.
        CREATE TABLE pending (
            target text COLLATE "C" NOT NULL, source_id text COLLATE "C" NOT NULL, urgent boolean NOT NULL, enqueued bigint NOT NULL,
            changes bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (target, source_id));
        CREATE INDEX ix_pending_order ON pending(target, urgent DESC, enqueued);
        -- The last full read of each target, and the last complete one (only a complete read grounds a removal).
        CREATE TABLE target_reads (
            target text COLLATE "C" PRIMARY KEY, at bigint NOT NULL, accounts integer NOT NULL, complete boolean NOT NULL, problems text,
            complete_at bigint, complete_accounts integer);
        -- Removals the mass-change guard holds, one per queue key, until a person confirms.
        CREATE TABLE holds (
            target text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, verb text NOT NULL, subject text NOT NULL, target_id text,
            reason text NOT NULL, since bigint NOT NULL,
            PRIMARY KEY (target, key));
        -- The provisioning log. seq orders entries as committed; time is when the operation ended (retention prunes by it).
        CREATE TABLE audit (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time bigint NOT NULL, cause text NOT NULL, target text COLLATE "C" NOT NULL,
            verb text NOT NULL, subject text NOT NULL, target_id text, source_id text COLLATE "C", result text NOT NULL, status integer,
            duration_ms double precision NOT NULL, detail text, user_name text, changes text, journal_position bigint, event_time bigint,
            writer text, scim_type text, action text);
        CREATE INDEX ix_audit_source ON audit(source_id, seq);
        CREATE INDEX ix_audit_user ON audit(lower(user_name), seq);
        CREATE INDEX ix_audit_target ON audit(target, seq);
        CREATE INDEX ix_audit_failed ON audit(seq) WHERE result = 'failed';
        CREATE INDEX ix_audit_time ON audit(time);

        -- The engine processes sharing this state: each renews its row while it runs (TargetLeases). A row whose
        -- expiry has passed is a process that stopped or died; the live ones divide the targets between them.
        CREATE TABLE engine_heartbeats (
            instance text COLLATE "C" PRIMARY KEY, expires timestamptz NOT NULL, started timestamptz NOT NULL);
        -- One owner per target at a time: a row is the owner's until its expiry, renewed by the owner, released on a
        -- clean stop. Taken over only once expired (WHERE expires < now() in the one statement that takes it), so
        -- two processes never both hold a target by the database's clock.
        CREATE TABLE target_leases (
            target text COLLATE "C" PRIMARY KEY, owner text COLLATE "C" NOT NULL, expires timestamptz NOT NULL, taken timestamptz NOT NULL);
        """;

    /// <summary>
    /// Version 2: each shadow account's email key (TargetAccount.SearchKeys: the primary address, else the first,
    /// lower-cased), indexed, so that a console search by email is an index lookup rather than a read of every
    /// document. Existing rows get it from their documents here.
    /// </summary>
    private const string EmailKey = """
        ALTER TABLE shadow_accounts ADD COLUMN email text COLLATE "C";
        UPDATE shadow_accounts s SET email = (
            SELECT lower(trim(x.e ->> 'value')) FROM jsonb_array_elements(s.data::jsonb -> 'emails') WITH ORDINALITY AS x(e, n)
            WHERE jsonb_typeof(x.e -> 'value') = 'string'
            ORDER BY (x.e -> 'primary') = 'true'::jsonb IS TRUE DESC, x.n LIMIT 1)
        WHERE jsonb_typeof(s.data::jsonb -> 'emails') = 'array';
        CREATE INDEX ix_shadow_email ON shadow_accounts(target, email);
        """;

    /// <summary>
    /// Version 3: a command (sync confirm, run, reconcile, plan on a shared state) asks the engine that owns a target
    /// to hand it over. A row lives while the command renews it; the owner stops its work on the target and releases
    /// the lease, and no engine takes a target with a live request from someone else (PostgresTargetLeases).
    /// </summary>
    private const string LeaseRequests = """
        CREATE TABLE lease_requests (
            target text COLLATE "C" PRIMARY KEY, requester text COLLATE "C" NOT NULL, expires timestamptz NOT NULL);
        """;
}
