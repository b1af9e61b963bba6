-- The schema of version 2 (commit cd9d4a6), as older databases have it: the upgrade test starts from it.
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
    time          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_journal_resource ON journal(resource_id, position);
CREATE TABLE IF NOT EXISTS journal_floor (position INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS subscriptions (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    config          TEXT NOT NULL,
    state           TEXT NOT NULL,
    signing_key     TEXT NOT NULL,
    fanout_position INTEGER NOT NULL,
    created         INTEGER NOT NULL
);
-- Resources currently inside a subscription's filter, to tell feed:add / feed:remove.
CREATE TABLE IF NOT EXISTS subscription_members (
    subscription_id TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    PRIMARY KEY (subscription_id, resource_id)
) WITHOUT ROWID;
-- state: 0 pending, 1 in flight (invisible until visible_at), 3 dead letter. Acknowledged rows are deleted.
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
    PRIMARY KEY (subscription_id, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_deliveries_queue ON deliveries(subscription_id, state, urgent DESC, position);
CREATE INDEX IF NOT EXISTS ix_deliveries_resource ON deliveries(subscription_id, resource_id, position);

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
