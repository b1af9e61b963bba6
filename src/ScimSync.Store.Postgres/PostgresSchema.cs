namespace ScimSync.Store.Postgres;

/// <summary>
/// The database layout, and its version, in one place. It mirrors the SQLite store's (SqliteSchema) table for
/// table so that both answer the same queries through the same kinds of index:
/// <list type="bullet">
/// <item>Text that filters compare or sort is <c>COLLATE "C"</c>: byte order of UTF-8, which is code point order,
/// <see cref="Protocol.Resources.ScimText.CompareCodePoints"/>'s order (SQLite's BINARY order is the same).</item>
/// <item>Nothing is folded or parsed by PostgreSQL. Hot columns hold keys computed in .NET (userName's
/// <see cref="Protocol.Resources.ScimText.UniquenessKey"/>, <see cref="Protocol.Resources.ScimText.Fold"/>), and
/// the document is kept two ways: <c>data</c> exactly as written (what responses and the journal carry, byte for
/// byte as on SQLite; read as jsonb, <c>data::jsonb</c>, for caseExact strings, numbers, booleans and presence), and
/// <c>folded</c>, every string folded by ScimText.Fold (caseExact=false comparisons); <c>instants</c> holds the
/// dateTime-looking strings as UTC ticks, parsed by the evaluator's own parser (DerivedDocuments).</item>
/// <item>Times are UTC ticks (bigint), as on SQLite, so bound filter values compare without conversion.</item>
/// </list>
/// Every statement is idempotent (IF NOT EXISTS): <see cref="PostgresResourceStore.InitializeAsync"/> runs the
/// script in one transaction under an advisory lock, so instances starting together create it once.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>This build's layout: version 1 and one more per step in <see cref="Upgrades"/>; a database of a newer version is refused.</summary>
    public static int Version => Upgrades.Length + 1;

    /// <summary>
    /// Upgrades[i] takes a database from version i + 1 to i + 2, run by InitializeAsync in its start-up transaction
    /// after <see cref="Create"/> (which makes a new database at <see cref="Version"/> directly). Earlier steps never
    /// change: databases in the field ran them already. Instances of an older build refuse (and report unready on)
    /// a database upgraded past them, so every instance is upgraded together.
    /// </summary>
    public static readonly string[] Upgrades =
    [
        // 1 -> 2: the document is no longer stored a second time as jsonb (doc, a stored generated column). PostgreSQL
        // parsed and wrote it with every write (with the TOAST compression of a row over 2 KB): 8-16 % of its CPU per
        // create. The filters that read it (attributes without a column, scans either way) read data::jsonb instead.
        // Dropping a column rewrites nothing; the space comes back as rows are rewritten.
        "ALTER TABLE resources DROP COLUMN IF EXISTS doc",
    ];

    /// <summary>Serialises schema creation and upgrades between instances starting at the same time.</summary>
    public const string InitLockKey = "scimsync:schema";

    /// <summary>The unique index on userName: its violation is a taken userName (409), whichever statement met it.</summary>
    public const string UserNameIndex = "ux_resources_user_name";

    public const string Create = $$"""
        CREATE TABLE IF NOT EXISTS schema_info (version integer NOT NULL);
        CREATE TABLE IF NOT EXISTS store_meta (key text PRIMARY KEY, value text NOT NULL);

        CREATE TABLE IF NOT EXISTS resources (
            seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id                text COLLATE "C" NOT NULL UNIQUE,
            type              text COLLATE "C" NOT NULL,
            user_name_key     text COLLATE "C",
            user_name_fold    text COLLATE "C",
            external_id       text COLLATE "C",
            display_name_fold text COLLATE "C",
            created           bigint NOT NULL,
            modified          bigint NOT NULL,
            version           bigint NOT NULL,
            password_hash     text,
            data              text NOT NULL,
            folded            jsonb NOT NULL,
            instants          jsonb
        );
        -- userName uniqueness, with the same preparation as every userName filter (ScimText.UniquenessKey).
        CREATE UNIQUE INDEX IF NOT EXISTS {{UserNameIndex}} ON resources(type, user_name_key) WHERE user_name_key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_resources_user_name_fold ON resources(type, user_name_fold);
        CREATE INDEX IF NOT EXISTS ix_resources_external_id ON resources(type, external_id);
        CREATE INDEX IF NOT EXISTS ix_resources_display_name ON resources(type, display_name_fold);
        CREATE INDEX IF NOT EXISTS ix_resources_modified ON resources(type, modified);
        CREATE INDEX IF NOT EXISTS ix_resources_type_seq ON resources(type, seq);

        -- Folded values of indexed multi-valued sub-attributes (emails.value, phoneNumbers.value): a btree answers
        -- eq and sw (as a range), as on SQLite; a GIN index over the jsonb could answer eq only.
        CREATE TABLE IF NOT EXISTS resource_values (
            seq        bigint NOT NULL,
            attr       text COLLATE "C" NOT NULL,
            value_fold text COLLATE "C" NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_resource_values_lookup ON resource_values(attr, value_fold);
        CREATE INDEX IF NOT EXISTS ix_resource_values_seq ON resource_values(seq);

        -- Members are rows, so one member of a 50,000-member group is added or removed without reading the rest.
        CREATE TABLE IF NOT EXISTS group_members (
            group_seq   bigint NOT NULL,
            member_id   text COLLATE "C" NOT NULL,
            member_type text COLLATE "C" NOT NULL,
            display     text COLLATE "C",
            -- Folded by ScimText.Fold when written: members.type and members.display are case-insensitive.
            type_fold    text COLLATE "C" NOT NULL,
            display_fold text COLLATE "C",
            PRIMARY KEY (group_seq, member_id)
        );
        CREATE INDEX IF NOT EXISTS ix_group_members_member ON group_members(member_id);

        -- The change journal. position = (the writing transaction's id << 16) | the entry's index in it: ordered
        -- as transaction ids are, which is what lets readers see only a prefix that can no longer change
        -- (PostgresJournal); never reused, since transaction ids (xid8) never are.
        CREATE TABLE IF NOT EXISTS journal (
            position      bigint PRIMARY KEY,
            txn           text NOT NULL,
            resource_type text COLLATE "C" NOT NULL,
            resource_id   text COLLATE "C" NOT NULL,
            operation     text NOT NULL,
            version       bigint NOT NULL,
            attributes    text NOT NULL,
            data          text,
            request       text,
            actor         text,
            time          bigint NOT NULL,
            urgent        boolean NOT NULL,
            writer        text
        );
        -- The credential's name that wrote the change (subscribers with the admin scope may ask for it); added
        -- in place to a schema made before it was recorded.
        ALTER TABLE journal ADD COLUMN IF NOT EXISTS writer text;
        CREATE INDEX IF NOT EXISTS ix_journal_resource ON journal(resource_id, position);
        -- Urgent entries ahead of a subscription's fan-out position, without scanning the backlog before them.
        CREATE INDEX IF NOT EXISTS ix_journal_urgent ON journal(position) WHERE urgent;
        CREATE TABLE IF NOT EXISTS journal_floor (position bigint NOT NULL);

        -- signing_key: sealed with the key file kept apart from the database ("scimsync-sealed:v1:..."), never in
        -- clear (PostgresSecrets).
        CREATE TABLE IF NOT EXISTS subscriptions (
            id              text PRIMARY KEY,
            name            text NOT NULL UNIQUE,
            config          text NOT NULL,
            state           text NOT NULL,
            signing_key     text NOT NULL,
            fanout_position bigint NOT NULL,
            created         bigint NOT NULL,
            ahead_position  bigint NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS fanout_ahead (
            subscription_id text NOT NULL,
            position        bigint NOT NULL,
            resource_id     text NOT NULL,
            PRIMARY KEY (subscription_id, position)
        );
        CREATE INDEX IF NOT EXISTS ix_fanout_ahead_resource ON fanout_ahead(subscription_id, resource_id, position);
        CREATE TABLE IF NOT EXISTS subscription_members (
            subscription_id text NOT NULL,
            resource_id     text NOT NULL,
            PRIMARY KEY (subscription_id, resource_id)
        );
        -- state: 0 pending, 1 in flight (invisible until visible_at), 3 dead letter; acknowledged rows are deleted.
        CREATE TABLE IF NOT EXISTS deliveries (
            subscription_id text NOT NULL,
            jti             text NOT NULL,
            position        bigint NOT NULL,
            resource_id     text NOT NULL,
            urgent          integer NOT NULL,
            token           text NOT NULL,
            state           integer NOT NULL,
            attempts        integer NOT NULL,
            visible_at      bigint NOT NULL,
            created         bigint NOT NULL,
            last_error      text,
            coalescible     integer NOT NULL DEFAULT 0,
            PRIMARY KEY (subscription_id, jti)
        );
        CREATE INDEX IF NOT EXISTS ix_deliveries_queue ON deliveries(subscription_id, state, urgent DESC, position);
        CREATE INDEX IF NOT EXISTS ix_deliveries_resource ON deliveries(subscription_id, resource_id, position);

        -- Sealed passwords (JWE) waiting for the subscriptions with the right to them; jwe NULL: expired before it
        -- was taken, kept to be reported. Never a password in clear (docs/passwords.md).
        CREATE TABLE IF NOT EXISTS password_deliveries (
            subscription_id text NOT NULL,
            id              text NOT NULL,
            resource_id     text NOT NULL,
            jwe             text,
            created         bigint NOT NULL,
            expires         bigint NOT NULL,
            visible_at      bigint NOT NULL,
            PRIMARY KEY (subscription_id, id)
        );
        CREATE INDEX IF NOT EXISTS ix_password_deliveries_expires ON password_deliveries(expires);

        CREATE TABLE IF NOT EXISTS tokens (
            id       text PRIMARY KEY,
            name     text NOT NULL UNIQUE,
            hash     text NOT NULL UNIQUE,
            scopes   text NOT NULL,
            user_id  text,
            created  bigint NOT NULL,
            expires  bigint,
            revoked  bigint
        );

        -- How filters read a jsonb value: NULL when it is not of the kind asked for, as the in-memory evaluator
        -- skips a value of the wrong kind. Plain SQL functions, inlined by the planner.
        CREATE OR REPLACE FUNCTION scimsync_text(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}' END $$;
        CREATE OR REPLACE FUNCTION scimsync_number(j jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN j::numeric END $$;
        CREATE OR REPLACE FUNCTION scimsync_boolean(j jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'boolean' THEN j::boolean END $$;
        CREATE OR REPLACE FUNCTION scimsync_ticks(j jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN j::bigint END $$;
        CREATE OR REPLACE FUNCTION scimsync_array(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN j ELSE '[]'::jsonb END $$;
        -- "pr": a value that is not null, "", [] or {} (stored documents are normalised, as on SQLite).
        CREATE OR REPLACE FUNCTION scimsync_present(j jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT j IS NOT NULL AND j NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb) $$;

        -- Secrets the instances share (the cursor key), sealed like the signing keys.
        CREATE TABLE IF NOT EXISTS shared_secrets (name text PRIMARY KEY, value text NOT NULL);
        """;

    /// <summary>Multi-valued sub-attributes copied into resource_values for indexed lookups (as SqliteSchema).</summary>
    public static readonly IReadOnlyList<(string Attribute, string Sub)> IndexedMultiValues =
        [("emails", "value"), ("phoneNumbers", "value")];

    /// <summary>
    /// The document of the resources row <paramref name="alias"/> as jsonb, for caseExact strings, numbers, booleans and
    /// presence: parsed from <c>data</c> when read (layout 2 keeps no stored copy; see <see cref="Upgrades"/>).
    /// </summary>
    public static string Exact(string alias) => $"({alias}.data::jsonb)";

    public const string ResourceColumns = "r.seq, r.id, r.type, r.data, r.created, r.modified, r.version, r.password_hash";
}
