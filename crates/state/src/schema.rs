//! The database schema, as an append-only list of migrations.
//!
//! The schema version is SQLite's `user_version`, kept by
//! `rusqlite_migration`. Migrations are only ever appended: an edited one
//! would leave existing databases with a schema no migration describes.

use rusqlite_migration::{M, Migrations};

/// The schema version this build writes: the number of migrations.
pub const SCHEMA_VERSION: usize = MIGRATION_LIST.len();

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_LIST);

const MIGRATION_LIST: &[M<'static>] = &[
    M::up(V1_FUNCTIONS_AND_LOGS),
    M::up(V2_RESERVED_CONCURRENCY),
    M::up(V3_ASYNC_INVOCATIONS),
    M::up(V4_EVENT_INVOKE_CONFIG),
    M::up(V5_RULES),
    M::up(V6_QUEUES),
    M::up(V7_EVENT_SOURCE_MAPPINGS),
    M::up(V8_HTTP_TRIGGERS),
    M::up(V9_ASYNC_QUEUE_INDEXES),
    M::up(V10_OBJECTS),
    M::up(V11_VERSIONS_ALIASES_LAYERS),
    M::up(V12_METRICS),
    M::up(V13_TEST_EVENTS),
    M::up(V14_LOG_IDS),
    M::up(V15_LOG_INDEXES),
];

/// Version 1: functions with their `$LATEST` configuration, and logs.
///
/// A function's identity, tags and policy live in `functions`; each version's
/// configuration lives in `function_versions` keyed by `(name, version)`, so
/// published versions are more rows, not a new table. Scalar fields that
/// queries use are columns; the rest of a configuration is a JSON document
/// whose missing fields take defaults when read, so fields can be added
/// without a migration and an older reader ignores the ones it does not know.
///
/// `log_events` uses AUTOINCREMENT so an event id is never reused after
/// expiry or deletion: ids are pagination tokens. SQLite appends the rowid
/// (`event_id`) to every index, so the indexes on `timestamp_ms` also serve
/// the `(timestamp_ms, event_id)` order queries ask for.
const V1_FUNCTIONS_AND_LOGS: &str = r#"
CREATE TABLE functions (
    name               TEXT PRIMARY KEY NOT NULL,
    tags               TEXT NOT NULL CHECK (json_valid(tags)),
    policy             TEXT NOT NULL CHECK (json_valid(policy)),
    policy_revision_id TEXT NOT NULL,
    created_ms         INTEGER NOT NULL
) STRICT;

CREATE TABLE function_versions (
    function_name    TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version          TEXT NOT NULL,
    revision_id      TEXT NOT NULL,
    code_sha256      TEXT NOT NULL,
    code_size        INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    config           TEXT NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (function_name, version)
) STRICT;

CREATE INDEX function_versions_code ON function_versions (code_sha256);

CREATE TABLE log_groups (
    name           TEXT PRIMARY KEY NOT NULL,
    created_ms     INTEGER NOT NULL,
    retention_days INTEGER
) STRICT;

CREATE TABLE log_streams (
    group_name        TEXT NOT NULL REFERENCES log_groups (name) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    created_ms        INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    stored_bytes      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, name)
) STRICT;

CREATE TABLE log_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name   TEXT NOT NULL,
    stream_name  TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    message      TEXT NOT NULL,
    FOREIGN KEY (group_name, stream_name)
        REFERENCES log_streams (group_name, name) ON DELETE CASCADE
) STRICT;

CREATE INDEX log_events_group_id ON log_events (group_name, event_id);
CREATE INDEX log_events_stream_time ON log_events (group_name, stream_name, timestamp_ms);
CREATE INDEX log_events_group_time ON log_events (group_name, timestamp_ms);
"#;

/// Version 2: a function's reserved concurrency (NULL when none is reserved).
const V2_RESERVED_CONCURRENCY: &str = r#"
ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER;
"#;

/// Version 3: the durable queue of asynchronous invocations. A row is
/// written before the caller gets its 202 and deleted when the invocation is
/// done; `lease_until_ms` marks one being run.
const V3_ASYNC_INVOCATIONS: &str = r#"
CREATE TABLE async_invocations (
    request_id      TEXT PRIMARY KEY NOT NULL,
    function_name   TEXT NOT NULL,
    qualifier       TEXT,
    payload         BLOB NOT NULL,
    enqueued_ms     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER
) STRICT;

CREATE INDEX async_invocations_due ON async_invocations (next_attempt_ms);
"#;

/// Version 4: a function's asynchronous invocation settings, as JSON (NULL
/// when none are set).
const V4_EVENT_INVOKE_CONFIG: &str = r#"
ALTER TABLE functions ADD COLUMN event_invoke_config TEXT CHECK (json_valid(event_invoke_config));
"#;

/// Version 5: EventBridge rules and their targets. `revision` moves on when
/// a rule's schedule or state changes, and `next_fire_ms` is then cleared:
/// the scheduler writes a rule's ticks only if the revision it read is still
/// current. Targets keep the order they were added in by their rowid, which
/// an upsert keeps.
const V5_RULES: &str = r#"
CREATE TABLE rules (
    name                TEXT PRIMARY KEY NOT NULL,
    schedule_expression TEXT,
    event_pattern       TEXT,
    state               TEXT NOT NULL,
    description         TEXT,
    role_arn            TEXT,
    created_ms          INTEGER NOT NULL,
    revision            INTEGER NOT NULL DEFAULT 0,
    last_fire_ms        INTEGER,
    next_fire_ms        INTEGER
) STRICT;

CREATE TABLE rule_targets (
    rule_name TEXT NOT NULL REFERENCES rules (name) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    arn       TEXT NOT NULL,
    input     TEXT,
    PRIMARY KEY (rule_name, id)
) STRICT;
"#;

/// Version 6: SQS queues and their messages.
///
/// A queue's attributes are a JSON object of SQS's attribute names and
/// string values, read with defaults for any that are missing. A message's
/// `visible_ms` is when it may next be received, as an absolute time, so a
/// delay or a visibility timeout survives a restart; `receive_count > 0`
/// tells a message in flight from a delayed one. `receive_id` is the random
/// id of the latest receive, which a receipt handle must carry to act on the
/// message. `seq` (AUTOINCREMENT, never reused) orders FIFO queues and a
/// message keeps it when a redrive policy moves it to a dead-letter queue.
/// `queue_deduplication` remembers FIFO deduplication ids for five minutes,
/// after their messages are deleted too; `scope` is the message group when
/// deduplication is per group, and empty otherwise.
const V6_QUEUES: &str = r#"
CREATE TABLE queues (
    name             TEXT PRIMARY KEY NOT NULL,
    attributes       TEXT NOT NULL CHECK (json_valid(attributes)),
    tags             TEXT NOT NULL CHECK (json_valid(tags)),
    created_ms       INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    purged_ms        INTEGER
) STRICT;

CREATE TABLE queue_messages (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_name             TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    message_id             TEXT NOT NULL,
    body                   TEXT NOT NULL,
    attributes             TEXT CHECK (json_valid(attributes)),
    system_attributes      TEXT CHECK (json_valid(system_attributes)),
    group_id               TEXT,
    deduplication_id       TEXT,
    sent_ms                INTEGER NOT NULL,
    visible_ms             INTEGER NOT NULL,
    receive_count          INTEGER NOT NULL DEFAULT 0,
    first_receive_ms       INTEGER,
    receive_id             TEXT,
    dead_letter_source_arn TEXT
) STRICT;

CREATE INDEX queue_messages_visible ON queue_messages (queue_name, visible_ms);
CREATE INDEX queue_messages_sent ON queue_messages (queue_name, sent_ms);
CREATE INDEX queue_messages_group ON queue_messages (queue_name, group_id, visible_ms)
    WHERE group_id IS NOT NULL;

CREATE TABLE queue_deduplication (
    queue_name       TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    deduplication_id TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    expires_ms       INTEGER NOT NULL,
    PRIMARY KEY (queue_name, scope, deduplication_id)
) STRICT;
"#;

/// Version 7: event source mappings (a queue polled for a function).
///
/// The settings that queries use are columns; the rest is a JSON document
/// whose missing fields take defaults when read, so settings can be added
/// without a migration. One mapping per event source and function (and
/// qualifier), as Lambda allows; they are listed in creation order.
const V7_EVENT_SOURCE_MAPPINGS: &str = r#"
CREATE TABLE event_source_mappings (
    uuid             TEXT PRIMARY KEY NOT NULL,
    event_source_arn TEXT NOT NULL,
    function_name    TEXT NOT NULL,
    qualifier        TEXT,
    enabled          INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    config           TEXT NOT NULL CHECK (json_valid(config))
) STRICT;

CREATE UNIQUE INDEX event_source_mappings_pair
    ON event_source_mappings (event_source_arn, function_name, IFNULL(qualifier, ''));
CREATE INDEX event_source_mappings_order ON event_source_mappings (created_ms, uuid);
CREATE INDEX event_source_mappings_function ON event_source_mappings (function_name);
"#;

/// Version 8: HTTP triggers: function URLs, and HTTP APIs with their
/// integrations, routes and stages.
///
/// A function's URLs go with it (ON DELETE CASCADE), as Lambda deletes them
/// with the function; an unqualified URL has the qualifier `''`, so the
/// primary key holds. Everything under an API goes with the API. An API's
/// `revision` moves on with every change under it (the store does that in
/// the same transaction), which is how the gateway knows its cached route
/// table is stale. Settings that no query uses are a JSON document whose
/// missing fields take defaults when read.
const V8_HTTP_TRIGGERS: &str = r#"
CREATE TABLE function_urls (
    function_name    TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier        TEXT NOT NULL,
    url_id           TEXT NOT NULL UNIQUE,
    created_ms       INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    config           TEXT NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (function_name, qualifier)
) STRICT;

CREATE TABLE http_apis (
    api_id     TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revision   INTEGER NOT NULL DEFAULT 0,
    config     TEXT NOT NULL CHECK (json_valid(config))
) STRICT;

CREATE INDEX http_apis_order ON http_apis (created_ms, api_id);

CREATE TABLE http_api_integrations (
    api_id         TEXT NOT NULL REFERENCES http_apis (api_id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL,
    config         TEXT NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (api_id, integration_id)
) STRICT;

CREATE TABLE http_api_routes (
    api_id    TEXT NOT NULL REFERENCES http_apis (api_id) ON DELETE CASCADE,
    route_id  TEXT NOT NULL,
    route_key TEXT NOT NULL,
    config    TEXT NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (api_id, route_id)
) STRICT;

CREATE UNIQUE INDEX http_api_routes_key ON http_api_routes (api_id, route_key);

CREATE TABLE http_api_stages (
    api_id          TEXT NOT NULL REFERENCES http_apis (api_id) ON DELETE CASCADE,
    stage_name      TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    last_updated_ms INTEGER NOT NULL,
    config          TEXT NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (api_id, stage_name)
) STRICT;
"#;

/// Version 9: the asynchronous queue found by lease and due time. Waiting
/// invocations (no lease) are read in due order straight from an index, and
/// the earliest due time and the earliest lease end are index seeks, so
/// neither claiming nor sleeping reads the whole queue.
const V9_ASYNC_QUEUE_INDEXES: &str = r#"
DROP INDEX async_invocations_due;
CREATE INDEX async_invocations_due
    ON async_invocations (lease_until_ms, next_attempt_ms, enqueued_ms);
"#;

/// Version 10: the object store's buckets, objects and multipart uploads.
///
/// An object is a row keyed by `(bucket, key)`, so keys `a` and `a/b` are
/// two rows; its bytes are a body file named by `body_id`. `headers` is a
/// JSON document of the stored headers and user metadata, in the shape
/// numbered by `headers_version`. A bucket's notification configuration is
/// a JSON document too. Keys compare bytewise (BINARY), S3's listing order.
const V10_OBJECTS: &str = r#"
CREATE TABLE buckets (
    name         TEXT PRIMARY KEY NOT NULL,
    created_ms   INTEGER NOT NULL,
    notification TEXT NOT NULL CHECK (json_valid(notification))
) STRICT;

CREATE TABLE objects (
    bucket           TEXT NOT NULL REFERENCES buckets (name),
    key              TEXT NOT NULL,
    body_id          TEXT NOT NULL,
    size             INTEGER NOT NULL,
    etag             TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    parts_count      INTEGER,
    headers_version  INTEGER NOT NULL,
    headers          TEXT NOT NULL CHECK (json_valid(headers)),
    PRIMARY KEY (bucket, key)
) STRICT;

CREATE TABLE multipart_uploads (
    upload_id       TEXT PRIMARY KEY NOT NULL,
    bucket          TEXT NOT NULL REFERENCES buckets (name),
    key             TEXT NOT NULL,
    initiated_ms    INTEGER NOT NULL,
    headers_version INTEGER NOT NULL,
    headers         TEXT NOT NULL CHECK (json_valid(headers))
) STRICT;

CREATE INDEX multipart_uploads_bucket ON multipart_uploads (bucket, key, initiated_ms);

CREATE TABLE multipart_parts (
    upload_id        TEXT NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
    part_number      INTEGER NOT NULL,
    body_id          TEXT NOT NULL,
    size             INTEGER NOT NULL,
    etag             TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) STRICT;
"#;

/// Version 11: published versions, aliases, layers and provisioned concurrency.
///
/// Published versions are more `function_versions` rows (version 1 set
/// out that way); `functions.last_version` counts them so that a number is
/// never reused after its version is deleted, as in Lambda. A version's row
/// never changes once written. Aliases and provisioned concurrency
/// configurations go with their function; a configuration's status is the
/// executor's, not stored. Layer versions keep their archive by hash in
/// the code store, numbered by `layers.last_version` the same way.
const V11_VERSIONS_ALIASES_LAYERS: &str = r#"
ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE function_aliases (
    function_name TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    description   TEXT NOT NULL,
    routing       TEXT NOT NULL CHECK (json_valid(routing)),
    revision_id   TEXT NOT NULL,
    PRIMARY KEY (function_name, name)
) STRICT;

CREATE TABLE provisioned_concurrency (
    function_name    TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier        TEXT NOT NULL,
    requested        INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (function_name, qualifier)
) STRICT;

CREATE TABLE layers (
    name         TEXT PRIMARY KEY NOT NULL,
    last_version INTEGER NOT NULL
) STRICT;

CREATE TABLE layer_versions (
    layer_name  TEXT NOT NULL REFERENCES layers (name),
    version     INTEGER NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size   INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    details     TEXT NOT NULL CHECK (json_valid(details)),
    PRIMARY KEY (layer_name, version)
) STRICT;
"#;

/// Per-function, per-minute invocation metrics: a row for each minute in
/// which something happened, written in batches from memory and pruned
/// past the retention. `outcomes` and `duration_buckets` are comma-separated
/// counts in the order of `rayo_core::metrics`' `Outcome::ALL` and
/// `DURATION_BUCKET_BOUNDS_MS`.
const V12_METRICS: &str = r#"
CREATE TABLE function_metrics (
    function_name    TEXT NOT NULL,
    minute_ms        INTEGER NOT NULL,
    outcomes         TEXT NOT NULL,
    throttles        INTEGER NOT NULL,
    cold_starts      INTEGER NOT NULL,
    duration_buckets TEXT NOT NULL,
    duration_sum_ms  REAL NOT NULL,
    duration_max_ms  REAL NOT NULL,
    concurrent_max   INTEGER NOT NULL,
    PRIMARY KEY (function_name, minute_ms)
) STRICT, WITHOUT ROWID;

CREATE INDEX function_metrics_minute ON function_metrics (minute_ms);
"#;

/// Version 13: the console's saved test events, up to ten per function
/// (the limit is checked by the writer). They stay when their function is
/// deleted, as Lambda's console keeps them, so a function created again
/// under the same name finds them.
const V13_TEST_EVENTS: &str = r#"
CREATE TABLE test_events (
    function_name    TEXT NOT NULL,
    name             TEXT NOT NULL,
    event            TEXT NOT NULL CHECK (json_valid(event)),
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (function_name, name)
) STRICT;
"#;

/// Version 14: log groups and streams get integer ids, and events name
/// their stream and group by id rather than by text. An event row and its
/// three index entries were mostly the group's and stream's names; with
/// ids they are a few bytes, which is most of what the log writer writes.
///
/// The tables are rebuilt: the old ones are renamed (their foreign keys
/// follow), copied into new ones, then dropped. Event ids are kept, and the
/// AUTOINCREMENT sequence moves on from the largest, so no id is reused.
const V14_LOG_IDS: &str = r#"
ALTER TABLE log_events RENAME TO log_events_v1;
ALTER TABLE log_streams RENAME TO log_streams_v1;
ALTER TABLE log_groups RENAME TO log_groups_v1;
DROP INDEX log_events_group_id;
DROP INDEX log_events_stream_time;
DROP INDEX log_events_group_time;

CREATE TABLE log_groups (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    created_ms     INTEGER NOT NULL,
    retention_days INTEGER
) STRICT;

CREATE TABLE log_streams (
    id                INTEGER PRIMARY KEY,
    group_id          INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    created_ms        INTEGER NOT NULL,
    first_event_ms    INTEGER,
    last_event_ms     INTEGER,
    last_ingestion_ms INTEGER,
    stored_bytes      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, name)
) STRICT;

CREATE TABLE log_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id     INTEGER NOT NULL,
    stream_id    INTEGER NOT NULL REFERENCES log_streams (id) ON DELETE CASCADE,
    timestamp_ms INTEGER NOT NULL,
    ingestion_ms INTEGER NOT NULL,
    message      TEXT NOT NULL
) STRICT;

INSERT INTO log_groups (name, created_ms, retention_days)
    SELECT name, created_ms, retention_days FROM log_groups_v1 ORDER BY name;
INSERT INTO log_streams (group_id, name, created_ms, first_event_ms, last_event_ms,
                         last_ingestion_ms, stored_bytes)
    SELECT g.id, s.name, s.created_ms, s.first_event_ms, s.last_event_ms,
           s.last_ingestion_ms, s.stored_bytes
    FROM log_streams_v1 s JOIN log_groups g ON g.name = s.group_name
    ORDER BY g.id, s.name;
INSERT INTO log_events (event_id, group_id, stream_id, timestamp_ms, ingestion_ms, message)
    SELECT e.event_id, s.group_id, s.id, e.timestamp_ms, e.ingestion_ms, e.message
    FROM log_events_v1 e
    JOIN log_groups g ON g.name = e.group_name
    JOIN log_streams s ON s.group_id = g.id AND s.name = e.stream_name
    ORDER BY e.event_id;
UPDATE sqlite_sequence
    SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'log_events_v1'))
    WHERE name = 'log_events';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'log_events', seq FROM sqlite_sequence WHERE name = 'log_events_v1'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'log_events');

DROP TABLE log_events_v1;
DROP TABLE log_streams_v1;
DROP TABLE log_groups_v1;

CREATE INDEX log_events_group_id ON log_events (group_id, event_id);
CREATE INDEX log_events_stream_time ON log_events (stream_id, timestamp_ms);
CREATE INDEX log_events_group_time ON log_events (group_id, timestamp_ms);
"#;

/// Version 15: one index fewer to write for every log event. Queries over a
/// group go by `(group_id, timestamp_ms)`, whose entries end with the
/// event id, so they come in the order reads want; `(group_id, event_id)`
/// served none of them.
const V15_LOG_INDEXES: &str = r#"
DROP INDEX log_events_group_id;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn log_ids_keep_every_event_and_never_reuse_an_id() {
        let mut connection = rusqlite::Connection::open_in_memory().unwrap();
        connection
            .pragma_update(None, "foreign_keys", true)
            .unwrap();
        let before_ids = MIGRATION_LIST
            .iter()
            .position(|m| *m == M::up(V14_LOG_IDS))
            .unwrap();
        MIGRATIONS.to_version(&mut connection, before_ids).unwrap();
        connection
            .execute_batch(
                "INSERT INTO log_groups (name, created_ms, retention_days)
                     VALUES ('/aws/lambda/a', 1, 7), ('/aws/lambda/b', 2, NULL);
                 INSERT INTO log_streams (group_name, name, created_ms, stored_bytes)
                     VALUES ('/aws/lambda/a', 's1', 1, 2), ('/aws/lambda/a', 's2', 1, 1),
                            ('/aws/lambda/b', 's1', 2, 1);
                 INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message)
                     VALUES ('/aws/lambda/a', 's1', 10, 11, 'x'), ('/aws/lambda/a', 's2', 12, 13, 'y'),
                            ('/aws/lambda/b', 's1', 14, 15, 'z'), ('/aws/lambda/a', 's1', 16, 17, 'w');
                 DELETE FROM log_events WHERE message = 'w';",
            )
            .unwrap();
        MIGRATIONS.to_latest(&mut connection).unwrap();
        let rows: Vec<(i64, String, String, String)> = connection
            .prepare(
                "SELECT e.event_id, g.name, s.name, e.message FROM log_events e
                 JOIN log_streams s ON s.id = e.stream_id
                 JOIN log_groups g ON g.id = e.group_id AND g.id = s.group_id
                 ORDER BY e.event_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [
            (1, "/aws/lambda/a", "s1", "x"),
            (2, "/aws/lambda/a", "s2", "y"),
            (3, "/aws/lambda/b", "s1", "z"),
        ];
        assert_eq!(rows.len(), expected.len());
        for (row, (id, group, stream, message)) in rows.iter().zip(expected) {
            assert_eq!(
                (row.0, row.1.as_str(), row.2.as_str(), row.3.as_str()),
                (id, group, stream, message)
            );
        }
        // Event 4 was deleted before the migration; its id stays used.
        let next: i64 = connection
            .query_row(
                "INSERT INTO log_events (group_id, stream_id, timestamp_ms, ingestion_ms, message)
                 VALUES (1, 1, 20, 21, 'v') RETURNING event_id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(next, 5);
        let retention: Option<i64> = connection
            .query_row(
                "SELECT retention_days FROM log_groups WHERE name = '/aws/lambda/a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(retention, Some(7));
        let check: Vec<String> = connection
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(check.is_empty(), "{check:?}");
    }

    #[test]
    fn schema_version_counts_migrations() {
        assert_eq!(SCHEMA_VERSION, 15);
    }
}
