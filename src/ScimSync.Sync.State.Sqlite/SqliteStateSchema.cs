using Microsoft.Data.Sqlite;
using ScimSync.Sync.State;

namespace ScimSync.Sync.State.Sqlite;

/// <summary>
/// The state's layout and its history, in one place: <see cref="Steps"/>[i] takes a file from version i to i + 1,
/// and the file's version is SQLite's <c>user_version</c>. A file is brought up to <see cref="Version"/> in one
/// transaction when it is opened (all steps commit, or the file stays as it was); one written by a newer build is
/// refused, never guessed at. A change to the layout is a new step at the end; earlier steps never change, since
/// files in the field ran them already.
/// </summary>
internal static class SqliteStateSchema
{
    public static int Version => Steps.Length;

    private static readonly Action<SqliteConnection, SqliteTransaction>[] Steps = [Baseline, EmailKey, AccountsByRowid];

    /// <summary>Brings the file up to <see cref="Version"/>: nothing to do when it is there already.</summary>
    public static void Upgrade(SqliteConnection db, string path)
    {
        if (UserVersion(db, null) == Version) return;
        // IMMEDIATE (Microsoft.Data.Sqlite's default): another process opening the same old file waits, then finds it upgraded.
        using var tx = db.BeginTransaction();
        var version = UserVersion(db, tx);
        if (version > Version)
            throw new SyncStateUnavailableException($"{path}: the state was written by a newer build (layout version {version}; this build knows up to {Version}); run that build, or a newer one");
        for (var step = version; step < Version; step++) Steps[step](db, tx);
        // Not a parameter: PRAGMA takes none; the value is this build's constant.
        Exec(db, tx, "PRAGMA user_version = " + Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        tx.Commit();
    }

    private static long UserVersion(SqliteConnection db, SqliteTransaction? tx)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "PRAGMA user_version";
        return (long)cmd.ExecuteScalar()!;
    }

    private static void Exec(SqliteConnection db, SqliteTransaction tx, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Version 1: the layout as of the first versioned build. Files without a version are either new or written by
    /// a build that created tables and added columns as it went, so this step converges any of them: every table
    /// is created if missing, and every column added since the first build is added if missing (ALTER TABLE keeps
    /// the rows). After it, a file's shape follows from its version alone.
    /// </summary>
    private static void Baseline(SqliteConnection db, SqliteTransaction tx)
    {
        Exec(db, tx, """
            -- The shadow of each target's accounts. data: the account as last seen; synced: as the engine last wrote or
            -- accepted it (the drift baseline: out-of-band edits are the difference). seen: the last read that found it
            -- (a full read forgets what it did not see). user_name is matched case-insensitively, as SCIM's userName.
            CREATE TABLE IF NOT EXISTS shadow_accounts (
                target TEXT NOT NULL, target_id TEXT NOT NULL, user_name TEXT NOT NULL, external_id TEXT,
                active INTEGER NOT NULL, data TEXT NOT NULL, synced TEXT, seen INTEGER NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_shadow_user ON shadow_accounts(target, user_name COLLATE NOCASE);
            CREATE INDEX IF NOT EXISTS ix_shadow_external ON shadow_accounts(target, external_id);
            -- Links live apart from the accounts, so that a link survives a read in which its account is missing: that
            -- is how an out-of-band deletion is recognised. One link per target account, and (by the writer) one per
            -- source account and target.
            CREATE TABLE IF NOT EXISTS links (
                target TEXT NOT NULL, target_id TEXT NOT NULL, source_id TEXT NOT NULL, linked INTEGER NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_links_source ON links(target, source_id);
            CREATE TABLE IF NOT EXISTS shadow_groups (
                target TEXT NOT NULL, target_id TEXT NOT NULL, display_name TEXT NOT NULL, external_id TEXT,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS shadow_group_members (
                target TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL,
                PRIMARY KEY (target, group_id, member_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_shadow_member ON shadow_group_members(target, member_id);
            CREATE TABLE IF NOT EXISTS group_links (
                target TEXT NOT NULL, target_id TEXT NOT NULL, source_id TEXT NOT NULL,
                PRIMARY KEY (target, target_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            -- Every value sealed with the key file kept apart from this directory, never clear (SqliteSyncState.Secrets.cs).
            CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS source_group_members (
                group_id TEXT NOT NULL, member_id TEXT NOT NULL, PRIMARY KEY (group_id, member_id)) WITHOUT ROWID;
            -- The per-target queue: one row per key, however often it is queued. enqueued is when it was first queued
            -- (its place in line); changes counts the changes queued for it, so that a key changed again while it was
            -- applied stays queued (the dequeue names the count it saw).
            CREATE TABLE IF NOT EXISTS pending (
                target TEXT NOT NULL, source_id TEXT NOT NULL, urgent INTEGER NOT NULL, enqueued INTEGER NOT NULL,
                changes INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (target, source_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ix_pending_order ON pending(target, urgent DESC, enqueued);
            -- The last full read of each target, and the last one that was complete: a read that does not add
            -- up never becomes the basis of a deletion, an unlink or a repair (see TargetReader).
            CREATE TABLE IF NOT EXISTS target_reads (
                target TEXT PRIMARY KEY, at INTEGER NOT NULL, accounts INTEGER NOT NULL, complete INTEGER NOT NULL, problems TEXT,
                complete_at INTEGER, complete_accounts INTEGER) WITHOUT ROWID;
            -- Removals the mass-change guard holds, one per queue key, until a person confirms or the source
            -- no longer asks for them. Held keys leave the queue, so they never stand in front of other work.
            CREATE TABLE IF NOT EXISTS holds (
                target TEXT NOT NULL, key TEXT NOT NULL, verb TEXT NOT NULL, subject TEXT NOT NULL, target_id TEXT,
                reason TEXT NOT NULL, since INTEGER NOT NULL,
                PRIMARY KEY (target, key)) WITHOUT ROWID;
            -- The provisioning log: every operation with what it changed (changes: JSON, old → new per attribute, see
            -- StoredChanges), the source change behind it, and the target's answer on failure with what to do about it.
            -- seq orders entries as they were committed; time is when the operation ended (retention prunes by it).
            CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, cause TEXT NOT NULL, target TEXT NOT NULL, verb TEXT NOT NULL,
                subject TEXT NOT NULL, target_id TEXT, source_id TEXT, result TEXT NOT NULL, status INTEGER, duration_ms REAL NOT NULL, detail TEXT,
                user_name TEXT COLLATE NOCASE, changes TEXT, journal_position INTEGER, event_time INTEGER, writer TEXT, scim_type TEXT, action TEXT);
            """);
        foreach (var (table, column, definition) in ColumnsAddedBeforeVersioning)
        {
            using (var probe = db.CreateCommand())
            {
                probe.Transaction = tx;
                probe.CommandText = "SELECT count(*) FROM pragma_table_info(@table) WHERE name = @column";
                probe.Parameters.AddWithValue("@table", table);
                probe.Parameters.AddWithValue("@column", column);
                if ((long)probe.ExecuteScalar()! != 0) continue;
            }
            Exec(db, tx, $"ALTER TABLE {table} ADD COLUMN {column} {definition}");
            // Entries written before the log had a userName column: the name is in the subject (`user NAME [id]`), so
            // that looking a person up by name finds what happened to them before the upgrade too.
            if (table == "audit" && column == "user_name")
                Exec(db, tx, """
                    UPDATE audit SET user_name = CASE WHEN instr(subject, ' [') > 0 THEN substr(subject, 6, instr(subject, ' [') - 6) ELSE substr(subject, 6) END
                    WHERE user_name IS NULL AND subject LIKE 'user %'
                    """);
        }
        // After the columns exist: "what happened to this person" (by source id or userName), to a target, what
        // failed, and what happened when (and what retention prunes), each answered from an index however long the log grows.
        Exec(db, tx, """
            CREATE INDEX IF NOT EXISTS ix_audit_source ON audit(source_id, seq);
            CREATE INDEX IF NOT EXISTS ix_audit_user ON audit(user_name, seq);
            CREATE INDEX IF NOT EXISTS ix_audit_target ON audit(target, seq);
            -- Failures only: nearly every entry is "ok", and a filter on ok walks the log newest first anyway.
            CREATE INDEX IF NOT EXISTS ix_audit_failed ON audit(seq) WHERE result = 'failed';
            CREATE INDEX IF NOT EXISTS ix_audit_time ON audit(time);
            """);
    }

    /// <summary>Columns that unversioned builds added to existing tables: the CREATE TABLE in <see cref="Baseline"/> has them for a new file.</summary>
    private static readonly (string Table, string Column, string Definition)[] ColumnsAddedBeforeVersioning =
    [
        ("pending", "changes", "INTEGER NOT NULL DEFAULT 0"),
        ("audit", "user_name", "TEXT COLLATE NOCASE"),
        ("audit", "changes", "TEXT"),
        ("audit", "journal_position", "INTEGER"),
        ("audit", "event_time", "INTEGER"),
        ("audit", "writer", "TEXT"),
        ("audit", "scim_type", "TEXT"),
        ("audit", "action", "TEXT"),
    ];

    /// <summary>
    /// Version 2: each shadow account's email key (TargetAccount.SearchKeys: the primary address, else the first,
    /// lower-cased), indexed, so that a console search by email is an index lookup rather than a read of every
    /// document. Existing rows get it from their documents here (SQLite's lower() folds ASCII only; the next full
    /// read writes every account again with the engine's own key).
    /// </summary>
    private static void EmailKey(SqliteConnection db, SqliteTransaction tx)
    {
        Exec(db, tx, """
            ALTER TABLE shadow_accounts ADD COLUMN email TEXT;
            UPDATE shadow_accounts SET email = (
                SELECT lower(trim(json_extract(e.value, '$.value'))) FROM json_each(shadow_accounts.data, '$.emails') e
                WHERE json_type(e.value, '$.value') = 'text'
                ORDER BY json_type(e.value, '$.primary') = 'true' DESC, CAST(e.key AS INTEGER) LIMIT 1)
            WHERE json_type(data, '$.emails') = 'array';
            CREATE INDEX ix_shadow_email ON shadow_accounts(target, email);
            """);
    }

    /// <summary>
    /// Version 3: the shadow's accounts in an ordinary (rowid) table, their key a unique index. A WITHOUT ROWID table keeps
    /// its rows in the key's b-tree, where a row keeps at most about 1,000 bytes of a 4 KB page in place and the rest
    /// spills into an overflow page of its own; an account's row (its document twice, as seen and as synced) is a little
    /// over 1 KB, so every account took more than a page, 100,000 of them 470 MB, each write in a random place. In a rowid
    /// table the same accounts take 135 MB, appended in the order they were made; only the small key index is random.
    /// The rows are copied as they are.
    /// </summary>
    private static void AccountsByRowid(SqliteConnection db, SqliteTransaction tx)
    {
        Exec(db, tx, """
            CREATE TABLE shadow_accounts_by_rowid (
                target TEXT NOT NULL, target_id TEXT NOT NULL, user_name TEXT NOT NULL, external_id TEXT,
                active INTEGER NOT NULL, data TEXT NOT NULL, synced TEXT, seen INTEGER NOT NULL, email TEXT,
                UNIQUE (target, target_id));
            INSERT INTO shadow_accounts_by_rowid(target, target_id, user_name, external_id, active, data, synced, seen, email)
                SELECT target, target_id, user_name, external_id, active, data, synced, seen, email FROM shadow_accounts;
            DROP TABLE shadow_accounts;
            ALTER TABLE shadow_accounts_by_rowid RENAME TO shadow_accounts;
            CREATE INDEX ix_shadow_user ON shadow_accounts(target, user_name COLLATE NOCASE);
            CREATE INDEX ix_shadow_external ON shadow_accounts(target, external_id);
            CREATE INDEX ix_shadow_email ON shadow_accounts(target, email);
            """);
    }

    /// <summary>
    /// The accounts put back as layout 2 kept them (a WITHOUT ROWID table keyed by target and id), user_version 2: the
    /// inverse of <see cref="AccountsByRowid"/>, for the test and the benchmark that open a layout-2 file. The state
    /// itself never runs it.
    /// </summary>
    internal const string AccountsAsLayout2 = """
        CREATE TABLE v2 (target TEXT NOT NULL, target_id TEXT NOT NULL, user_name TEXT NOT NULL, external_id TEXT,
            active INTEGER NOT NULL, data TEXT NOT NULL, synced TEXT, seen INTEGER NOT NULL, email TEXT,
            PRIMARY KEY (target, target_id)) WITHOUT ROWID;
        INSERT INTO v2 SELECT target, target_id, user_name, external_id, active, data, synced, seen, email FROM shadow_accounts;
        DROP TABLE shadow_accounts;
        ALTER TABLE v2 RENAME TO shadow_accounts;
        CREATE INDEX ix_shadow_user ON shadow_accounts(target, user_name COLLATE NOCASE);
        CREATE INDEX ix_shadow_external ON shadow_accounts(target, external_id);
        CREATE INDEX ix_shadow_email ON shadow_accounts(target, email);
        PRAGMA user_version = 2;
        """;
}
