namespace ScimSync.Store.Sqlite;

/// <summary>
/// The database layout. Hot filter attributes have their own indexed columns (folded where the attribute
/// is case-insensitive); everything else is answered from the JSON document with SQLite's JSON functions.
/// Group membership lives in its own table so that one member can be added to a 50,000-member group
/// without reading or rewriting the others.
/// </summary>
internal static class SqliteSchema
{
    public const int Version = 4;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);

        CREATE TABLE IF NOT EXISTS resources (
            seq               INTEGER PRIMARY KEY,
            id                TEXT NOT NULL UNIQUE,
            type              TEXT NOT NULL,
            user_name_key     TEXT,
            user_name_fold    TEXT,
            external_id       TEXT,
            display_name_fold TEXT,
            created           INTEGER NOT NULL,
            modified          INTEGER NOT NULL,
            version           INTEGER NOT NULL,
            password_hash     TEXT,
            data              TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS ux_resources_user_name ON resources(type, user_name_key) WHERE user_name_key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_resources_user_name_fold ON resources(type, user_name_fold);
        CREATE INDEX IF NOT EXISTS ix_resources_external_id ON resources(type, external_id);
        CREATE INDEX IF NOT EXISTS ix_resources_display_name ON resources(type, display_name_fold);
        CREATE INDEX IF NOT EXISTS ix_resources_modified ON resources(type, modified);
        CREATE INDEX IF NOT EXISTS ix_resources_type_seq ON resources(type, seq);

        -- Folded values of indexed multi-valued sub-attributes (emails.value, phoneNumbers.value).
        CREATE TABLE IF NOT EXISTS resource_values (
            seq        INTEGER NOT NULL,
            attr       TEXT NOT NULL,
            value_fold TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_resource_values_lookup ON resource_values(attr, value_fold);
        CREATE INDEX IF NOT EXISTS ix_resource_values_seq ON resource_values(seq);

        CREATE TABLE IF NOT EXISTS group_members (
            group_seq   INTEGER NOT NULL,
            member_id   TEXT NOT NULL,
            member_type TEXT NOT NULL,
            display     TEXT,
            PRIMARY KEY (group_seq, member_id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_group_members_member ON group_members(member_id);

        -- The change journal. AUTOINCREMENT: a position is never handed out twice, even after the
        -- newest entries are compacted away. SQLite has one writer and commits atomically, so positions
        -- become visible strictly in order: a reader can never see N+1 while N is uncommitted.
        CREATE TABLE IF NOT EXISTS journal (
            position      INTEGER PRIMARY KEY AUTOINCREMENT,
            txn           TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id   TEXT NOT NULL,
            operation     TEXT NOT NULL,
            version       INTEGER NOT NULL,
            attributes    TEXT NOT NULL,
            data          TEXT,
            request       TEXT,
            actor         TEXT,
            time          INTEGER NOT NULL,
            urgent        INTEGER NOT NULL DEFAULT 0,
            -- The credential's name (the token's name, "admin"): who made the change. Null before version 4.
            writer        TEXT
        );
        CREATE INDEX IF NOT EXISTS ix_journal_resource ON journal(resource_id, position);
        CREATE TABLE IF NOT EXISTS journal_floor (position INTEGER NOT NULL);

        -- signing_key: the SET signing key (HS256 secret, RS256/ES256 private key), sealed with the key file kept
        -- apart from this database ("scimsync-sealed:v1:..."), never in clear; see SqliteSecrets.
        CREATE TABLE IF NOT EXISTS subscriptions (
            id              TEXT PRIMARY KEY,
            name            TEXT NOT NULL UNIQUE,
            config          TEXT NOT NULL,
            state           TEXT NOT NULL,
            signing_key     TEXT NOT NULL,
            fanout_position INTEGER NOT NULL,
            created         INTEGER NOT NULL,
            ahead_position  INTEGER NOT NULL DEFAULT 0
        );
        -- Journal positions fanned out ahead of fanout_position because a later urgent entry of the same
        -- resource needed them (see FanoutWorker). The in-order scan skips them, then deletes the rows.
        -- ahead_position: the last urgent entry whose look-ahead is complete.
        CREATE TABLE IF NOT EXISTS fanout_ahead (
            subscription_id TEXT NOT NULL,
            position        INTEGER NOT NULL,
            resource_id     TEXT NOT NULL,
            PRIMARY KEY (subscription_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_fanout_ahead_resource ON fanout_ahead(subscription_id, resource_id, position);
        -- Resources currently inside a subscription's filter, to tell feed:add / feed:remove.
        CREATE TABLE IF NOT EXISTS subscription_members (
            subscription_id TEXT NOT NULL,
            resource_id     TEXT NOT NULL,
            PRIMARY KEY (subscription_id, resource_id)
        ) WITHOUT ROWID;
        -- state: 0 pending, 1 in flight (invisible until visible_at), 3 dead letter. Acknowledged rows are deleted.
        -- coalescible: 0 no, 1 a create, 2 an update, that a later routine change may replace (Coalescible).
        CREATE TABLE IF NOT EXISTS deliveries (
            subscription_id TEXT NOT NULL,
            jti             TEXT NOT NULL,
            position        INTEGER NOT NULL,
            resource_id     TEXT NOT NULL,
            urgent          INTEGER NOT NULL,
            token           TEXT NOT NULL,
            state           INTEGER NOT NULL,
            attempts        INTEGER NOT NULL,
            visible_at      INTEGER NOT NULL,
            created         INTEGER NOT NULL,
            last_error      TEXT,
            coalescible     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (subscription_id, jti)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_deliveries_queue ON deliveries(subscription_id, state, urgent DESC, position);
        CREATE INDEX IF NOT EXISTS ix_deliveries_resource ON deliveries(subscription_id, resource_id, position);

        -- Sealed passwords (JWE) waiting for the subscriptions with the right to them; jwe NULL: expired before it
        -- was taken, kept to be reported. Never a password in clear (docs/passwords.md).
        CREATE TABLE IF NOT EXISTS password_deliveries (
            subscription_id TEXT NOT NULL,
            id              TEXT NOT NULL,
            resource_id     TEXT NOT NULL,
            jwe             TEXT,
            created         INTEGER NOT NULL,
            expires         INTEGER NOT NULL,
            visible_at      INTEGER NOT NULL,
            PRIMARY KEY (subscription_id, id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_password_deliveries_expires ON password_deliveries(expires);

        CREATE TABLE IF NOT EXISTS tokens (
            id       TEXT PRIMARY KEY,
            name     TEXT NOT NULL UNIQUE,
            hash     TEXT NOT NULL UNIQUE,
            scopes   TEXT NOT NULL,
            user_id  TEXT,
            created  INTEGER NOT NULL,
            expires  INTEGER,
            revoked  INTEGER
        );
        """;

    /// <summary>
    /// Columns added to existing tables since version 2 (the journal's writer since version 3): <see cref="Create"/> has them for a new database, and
    /// an older one gets them by ALTER TABLE (CREATE TABLE IF NOT EXISTS leaves an existing table as it is).
    /// </summary>
    public static readonly IReadOnlyList<(string Table, string Column, string Definition)> AddedColumns =
    [
        ("journal", "urgent", "INTEGER NOT NULL DEFAULT 0"),
        ("subscriptions", "ahead_position", "INTEGER NOT NULL DEFAULT 0"),
        ("deliveries", "coalescible", "INTEGER NOT NULL DEFAULT 0"),
        // Version 4: entries journaled before have no writer (nullable, nothing to backfill: the token names
        // of those changes were never recorded).
        ("journal", "writer", "TEXT"),
    ];

    /// <summary>
    /// Indexes on <see cref="AddedColumns"/>: created only once those columns exist, so after the upgrade, not
    /// in <see cref="Create"/> (which runs first, against the old tables).
    /// </summary>
    public const string CreateAfterUpgrade = """
        -- Urgent entries ahead of a subscription's fan-out position, without scanning the backlog before them.
        CREATE INDEX IF NOT EXISTS ix_journal_urgent ON journal(position) WHERE urgent = 1;
        """;

    /// <summary>Multi-valued sub-attributes copied into resource_values for indexed lookups.</summary>
    public static readonly IReadOnlyList<(string Attribute, string Sub)> IndexedMultiValues =
        [("emails", "value"), ("phoneNumbers", "value")];

    public const string ResourceColumns = "r.seq, r.id, r.type, r.data, r.created, r.modified, r.version, r.password_hash";
}
