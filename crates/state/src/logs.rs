//! [`LogStore`] on SQLite: groups, streams and events, and retention expiry.

use std::time::{SystemTime, UNIX_EPOCH};

use rayo_core::logs::{LogEvent, LogGroupInfo, LogQuery, LogStreamInfo, StoredLogEvent};
use rayo_core::store::{LogStore, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params, params_from_iter};

use crate::db::{SqliteState, backend, sql_limit};

/// Milliseconds in a day of retention.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl SqliteState {
    /// Deletes events older than their group's retention at `now_ms`
    /// (milliseconds since the epoch); returns how many were deleted.
    ///
    /// An event expires when its timestamp is more than the retention's days
    /// before `now_ms`. Streams stay, even when emptied; their stored bytes
    /// and first event time follow what remains.
    pub fn expire_logs(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut connection = self.logs_connection();
        let groups: Vec<(i64, i64)> = connection
            .prepare_cached(
                "SELECT id, retention_days FROM log_groups
                 WHERE retention_days IS NOT NULL ORDER BY name",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(backend)?;
        let mut n_deleted = 0;
        // A transaction per group keeps each write lock short.
        for (group, retention_days) in groups {
            let cutoff_ms = now_ms.saturating_sub(retention_days.saturating_mul(DAY_MS));
            let transaction = connection.transaction().map_err(backend)?;
            let expired_by_stream: Vec<(i64, i64)> = transaction
                .prepare_cached(
                    "SELECT stream_id, SUM(length(CAST(message AS BLOB))) FROM log_events
                     WHERE group_id = ?1 AND timestamp_ms < ?2 GROUP BY stream_id",
                )
                .and_then(|mut statement| {
                    statement
                        .query_map(params![group, cutoff_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(backend)?;
            if expired_by_stream.is_empty() {
                continue;
            }
            n_deleted += transaction
                .prepare_cached("DELETE FROM log_events WHERE group_id = ?1 AND timestamp_ms < ?2")
                .and_then(|mut statement| statement.execute(params![group, cutoff_ms]))
                .map_err(backend)?;
            let mut update = transaction
                .prepare_cached(
                    "UPDATE log_streams SET
                        stored_bytes = max(stored_bytes - ?2, 0),
                        first_event_ms = coalesce(
                            (SELECT min(timestamp_ms) FROM log_events WHERE stream_id = ?1),
                            first_event_ms)
                     WHERE id = ?1",
                )
                .map_err(backend)?;
            for (stream, expired_bytes) in &expired_by_stream {
                update
                    .execute(params![stream, expired_bytes])
                    .map_err(backend)?;
            }
            drop(update);
            transaction.commit().map_err(backend)?;
        }
        Ok(n_deleted)
    }

    /// [`LogStore::put_log_events`] with the ingestion time given, waiting
    /// until the events are committed.
    #[cfg(test)]
    fn put_log_events_at(
        &self,
        group: &str,
        stream: &str,
        events: &[LogEvent],
        ingestion_ms: i64,
    ) -> Result<(), StoreError> {
        self.queue_log_events(group, stream, events.to_vec(), ingestion_ms);
        drop(self.logs_connection());
        Ok(())
    }
}

/// Appends events to a stream inside the open transaction `transaction`, creating the group and
/// stream if needed and keeping the stream's statistics.
pub(crate) fn append_events(
    transaction: &Connection,
    group: &str,
    stream: &str,
    events: &[LogEvent],
    ingestion_ms: i64,
) -> Result<(), StoreError> {
    let group_id = id_or_insert(
        transaction,
        "SELECT id FROM log_groups WHERE name = ?1",
        "INSERT INTO log_groups (name, created_ms) VALUES (?1, ?3) RETURNING id",
        (group, None, ingestion_ms),
    )?;
    let stream_id = id_or_insert(
        transaction,
        "SELECT id FROM log_streams WHERE name = ?1 AND group_id = ?2",
        "INSERT INTO log_streams (name, group_id, created_ms) VALUES (?1, ?2, ?3) RETURNING id",
        (stream, Some(group_id), ingestion_ms),
    )?;
    if let (Some(first_ms), Some(last_ms)) = (
        events.iter().map(|e| e.timestamp_ms).min(),
        events.iter().map(|e| e.timestamp_ms).max(),
    ) {
        // Several rows per statement: each statement's fixed costs (and
        // AUTOINCREMENT's update of sqlite_sequence) are paid once per chunk
        // rather than once per event.
        let mut n_bytes: i64 = 0;
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut insert = transaction
                .prepare_cached(insert_events_sql(chunk.len()))
                .map_err(backend)?;
            let mut parameters: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(3 + 2 * chunk.len());
            parameters.extend([&group_id as &dyn rusqlite::ToSql, &stream_id, &ingestion_ms]);
            for event in chunk {
                parameters.push(&event.timestamp_ms);
                parameters.push(&event.message);
                n_bytes = n_bytes.saturating_add(sql_limit(event.message.len()));
            }
            insert.execute(parameters.as_slice()).map_err(backend)?;
        }
        transaction
            .prepare_cached(
                "UPDATE log_streams SET
                    first_event_ms = min(coalesce(first_event_ms, ?2), ?2),
                    last_event_ms = max(coalesce(last_event_ms, ?3), ?3),
                    last_ingestion_ms = ?4,
                    stored_bytes = stored_bytes + ?5
                 WHERE id = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![stream_id, first_ms, last_ms, ingestion_ms, n_bytes])
            })
            .map_err(backend)?;
    }
    Ok(())
}

/// Events inserted by one statement at most.
const INSERT_CHUNK: usize = 16;

/// `INSERT` of `n_rows` events (1 to [`INSERT_CHUNK`]) of one stream: the
/// group id, stream id and ingestion time are `?1` to `?3`, then each
/// event's timestamp and message. Built once per row count.
fn insert_events_sql(n_rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (1..=INSERT_CHUNK)
            .map(|n| {
                let rows: Vec<String> = (0..n)
                    .map(|i| format!("(?1, ?2, ?{}, ?3, ?{})", 4 + 2 * i, 5 + 2 * i))
                    .collect();
                format!(
                    "INSERT INTO log_events (group_id, stream_id, timestamp_ms, ingestion_ms, message) VALUES {}",
                    rows.join(", ")
                )
            })
            .collect()
    });
    &all[n_rows - 1]
}

/// The id `select` finds for `(name, parent)`, or the one `insert` gives a
/// new row `(name, parent, created_ms)`.
fn id_or_insert(
    transaction: &Connection,
    select: &str,
    insert: &str,
    (name, parent, created_ms): (&str, Option<i64>, i64),
) -> Result<i64, StoreError> {
    let found = transaction
        .prepare_cached(select)
        .and_then(|mut statement| {
            let mut rows = match parent {
                Some(parent) => statement.query(params![name, parent])?,
                None => statement.query(params![name])?,
            };
            rows.next()?.map(|row| row.get(0)).transpose()
        })
        .map_err(backend)?;
    match found {
        Some(id) => Ok(id),
        None => transaction
            .prepare_cached(insert)
            .and_then(|mut statement| {
                statement.query_row(params![name, parent, created_ms], |row| row.get(0))
            })
            .map_err(backend),
    }
}

impl LogStore for SqliteState {
    fn put_log_events(
        &self,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
    ) -> Result<(), StoreError> {
        self.queue_log_events(group, stream, events, now_ms());
        Ok(())
    }

    fn query_log_events(
        &self,
        group: &str,
        query: &LogQuery,
    ) -> Result<Vec<StoredLogEvent>, StoreError> {
        let (sql, values) = event_query(group, query);
        let connection = self.logs_connection();
        let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
        let rows = statement
            .query_map(params_from_iter(values), stored_event)
            .map_err(backend)?;
        rows.map(|event| event.map_err(backend)).collect()
    }

    fn describe_log_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupInfo>, StoreError> {
        let connection = self.logs_connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT g.name, g.created_ms, g.retention_days,
                    (SELECT coalesce(sum(s.stored_bytes), 0) FROM log_streams s
                     WHERE s.group_id = g.id)
                 FROM log_groups g
                 WHERE (?1 IS NULL OR substr(g.name, 1, length(?1)) = ?1)
                   AND (?2 IS NULL OR g.name > ?2)
                 ORDER BY g.name
                 LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(params![prefix, after, sql_limit(limit)], |r| {
                Ok(LogGroupInfo {
                    name: r.get(0)?,
                    creation_time_ms: r.get(1)?,
                    retention_days: r.get(2)?,
                    stored_bytes: r.get(3)?,
                })
            })
            .map_err(backend)?;
        rows.map(|group| group.map_err(backend)).collect()
    }

    fn describe_log_streams(
        &self,
        group: &str,
        prefix: Option<&str>,
        order_by_last_event: bool,
        descending: bool,
    ) -> Result<Option<Vec<LogStreamInfo>>, StoreError> {
        let connection = self.logs_connection();
        let group_id: Option<i64> = connection
            .prepare_cached("SELECT id FROM log_groups WHERE name = ?1")
            .and_then(|mut statement| {
                statement
                    .query([group])?
                    .next()?
                    .map(|row| row.get(0))
                    .transpose()
            })
            .map_err(backend)?;
        let Some(group_id) = group_id else {
            return Ok(None);
        };
        // Streams without events sort as oldest: first ascending, last descending.
        let direction = if descending { "DESC" } else { "ASC" };
        let order = if order_by_last_event {
            format!("last_event_ms {direction}, name {direction}")
        } else {
            format!("name {direction}")
        };
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes
                 FROM log_streams
                 WHERE group_id = ?1 AND (?2 IS NULL OR substr(name, 1, length(?2)) = ?2)
                 ORDER BY {order}"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map(params![group_id, prefix], |r| {
                Ok(LogStreamInfo {
                    name: r.get(0)?,
                    creation_time_ms: r.get(1)?,
                    first_event_ms: r.get(2)?,
                    last_event_ms: r.get(3)?,
                    last_ingestion_ms: r.get(4)?,
                    stored_bytes: r.get(5)?,
                })
            })
            .map_err(backend)?;
        rows.map(|stream| stream.map_err(backend))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn put_retention_policy(&self, group: &str, days: Option<u32>) -> Result<bool, StoreError> {
        let connection = self.logs_connection();
        let updated = connection
            .prepare_cached("UPDATE log_groups SET retention_days = ?2 WHERE name = ?1")
            .and_then(|mut statement| statement.execute(params![group, days]))
            .map_err(backend)?;
        Ok(updated > 0)
    }

    fn delete_log_group(&self, group: &str) -> Result<bool, StoreError> {
        let mut connection = self.logs_connection();
        let transaction = connection.transaction().map_err(backend)?;
        // Events and streams would go by cascade too; deleting them by group
        // first is one indexed range instead of a lookup per stream.
        for sql in [
            "DELETE FROM log_events WHERE group_id = (SELECT id FROM log_groups WHERE name = ?1)",
            "DELETE FROM log_streams WHERE group_id = (SELECT id FROM log_groups WHERE name = ?1)",
        ] {
            transaction
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute([group]))
                .map_err(backend)?;
        }
        let deleted = transaction
            .prepare_cached("DELETE FROM log_groups WHERE name = ?1")
            .and_then(|mut statement| statement.execute([group]))
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(deleted > 0)
    }
}

/// The SQL and parameters selecting a group's events that match `query`.
///
/// Every filter is a bound parameter; only the number of stream names and
/// terms and which filters are present vary the text, so the statement
/// cache sees a handful of variants.
fn event_query(group: &str, query: &LogQuery) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "SELECT e.event_id, s.name, e.timestamp_ms, e.ingestion_ms, e.message
         FROM log_events e JOIN log_streams s ON s.id = e.stream_id",
    );
    let mut values = Vec::new();
    if query.stream_names.is_empty() {
        sql.push_str(" WHERE e.group_id = (SELECT id FROM log_groups WHERE name = ?)");
        values.push(Value::Text(group.to_string()));
    } else {
        // By stream: for one, the stream index serves the order too.
        let (operator, placeholders) = match query.stream_names.len() {
            1 => ("=", "= ?".to_string()),
            n => ("IN", format!("IN ({})", vec!["?"; n].join(", "))),
        };
        sql.push_str(&format!(
            " WHERE e.stream_id {operator} (SELECT id FROM log_streams WHERE name {placeholders}
               AND group_id = (SELECT id FROM log_groups WHERE name = ?))"
        ));
        values.extend(query.stream_names.iter().cloned().map(Value::Text));
        values.push(Value::Text(group.to_string()));
    }
    if let Some(prefix) = &query.stream_prefix {
        // Not LIKE: `%` and `_` are ordinary characters in stream names.
        sql.push_str(" AND substr(s.name, 1, length(?)) = ?");
        values.push(Value::Text(prefix.clone()));
        values.push(Value::Text(prefix.clone()));
    }
    let mut filter = |condition: &str, value: Option<i64>| {
        if let Some(value) = value {
            sql.push_str(condition);
            values.push(Value::Integer(value));
        }
    };
    filter(" AND e.timestamp_ms >= ?", query.start_time_ms);
    filter(" AND e.timestamp_ms < ?", query.end_time_ms);
    filter(" AND e.event_id > ?", query.after_event_id);
    filter(" AND e.event_id < ?", query.before_event_id);
    for term in &query.terms {
        // instr, not LIKE: plain terms match literally and case-sensitively.
        sql.push_str(" AND instr(e.message, ?) > 0");
        values.push(Value::Text(term.clone()));
    }
    if query.newest_first {
        sql.push_str(" ORDER BY e.timestamp_ms DESC, e.event_id DESC");
    } else {
        sql.push_str(" ORDER BY e.timestamp_ms ASC, e.event_id ASC");
    }
    // `+?`: a bare `LIMIT ?` makes SQLite compile the statement again
    // whenever the bound limit changes.
    sql.push_str(" LIMIT +?");
    values.push(Value::Integer(sql_limit(query.limit)));
    (sql, values)
}

fn stored_event(row: &Row<'_>) -> rusqlite::Result<StoredLogEvent> {
    Ok(StoredLogEvent {
        event_id: row.get(0)?,
        log_stream_name: row.get(1)?,
        timestamp_ms: row.get(2)?,
        ingestion_time_ms: row.get(3)?,
        message: row.get(4)?,
    })
}

/// The wall clock in milliseconds since the epoch.
fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "/aws/lambda/app";
    const STREAM_A: &str = "2024/01/01/[$LATEST]aaa";
    const STREAM_B: &str = "2024/01/01/[$LATEST]bbb";
    const STREAM_OTHER: &str = "other_%";

    fn state() -> SqliteState {
        SqliteState::open_in_memory().unwrap()
    }

    fn events(pairs: &[(i64, &str)]) -> Vec<LogEvent> {
        pairs
            .iter()
            .map(|&(timestamp_ms, message)| LogEvent {
                timestamp_ms,
                message: message.to_string(),
            })
            .collect()
    }

    fn query(limit: usize) -> LogQuery {
        LogQuery {
            limit,
            ..LogQuery::default()
        }
    }

    /// Events 1 to 7, in this order; `late Error` is written after events
    /// with later timestamps.
    fn fixture() -> SqliteState {
        let state = state();
        let put = |group: &str, stream: &str, pairs: &[(i64, &str)], ingestion_ms: i64| {
            state
                .put_log_events_at(group, stream, &events(pairs), ingestion_ms)
                .unwrap();
        };
        put(
            APP,
            STREAM_A,
            &[
                (1000, "START RequestId: 1"),
                (1001, "hello world"),
                (1002, "ERROR boom"),
            ],
            10_000,
        );
        put(
            APP,
            STREAM_B,
            &[(1500, "hello again"), (999, "late Error")],
            10_001,
        );
        put(APP, STREAM_OTHER, &[(2000, "100% done_ok")], 10_002);
        put(
            "/aws/lambda/other",
            STREAM_A,
            &[(1000, "hello world")],
            10_003,
        );
        state
    }

    /// Builds queries in one line each, for the tables below.
    trait QueryBuilder {
        fn streams(self, names: &[&str]) -> Self;
        fn prefix(self, prefix: &str) -> Self;
        fn start(self, ms: i64) -> Self;
        fn end(self, ms: i64) -> Self;
        fn after(self, event_id: i64) -> Self;
        fn before(self, event_id: i64) -> Self;
        fn terms(self, terms: &[&str]) -> Self;
        fn newest_first(self) -> Self;
    }

    impl QueryBuilder for LogQuery {
        fn streams(mut self, names: &[&str]) -> Self {
            self.stream_names = names.iter().map(|n| n.to_string()).collect();
            self
        }
        fn prefix(mut self, prefix: &str) -> Self {
            self.stream_prefix = Some(prefix.to_string());
            self
        }
        fn start(mut self, ms: i64) -> Self {
            self.start_time_ms = Some(ms);
            self
        }
        fn end(mut self, ms: i64) -> Self {
            self.end_time_ms = Some(ms);
            self
        }
        fn after(mut self, event_id: i64) -> Self {
            self.after_event_id = Some(event_id);
            self
        }
        fn before(mut self, event_id: i64) -> Self {
            self.before_event_id = Some(event_id);
            self
        }
        fn terms(mut self, terms: &[&str]) -> Self {
            self.terms = terms.iter().map(|t| t.to_string()).collect();
            self
        }
        fn newest_first(mut self) -> Self {
            self.newest_first = true;
            self
        }
    }

    #[test]
    fn queries_filter_and_order() {
        let state = fixture();
        // The fixture's events in (timestamp, id) order; the comments give their ids.
        const LATE: &str = "late Error"; // 5
        const START: &str = "START RequestId: 1"; // 1
        const WORLD: &str = "hello world"; // 2
        const BOOM: &str = "ERROR boom"; // 3
        const AGAIN: &str = "hello again"; // 4
        const DONE: &str = "100% done_ok"; // 6
        let all = [LATE, START, WORLD, BOOM, AGAIN, DONE];
        let check = |query: LogQuery, expected: &[&str]| {
            let found = state.query_log_events(APP, &query).unwrap();
            let messages: Vec<&str> = found.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, expected, "{query:?}");
        };

        check(query(100), &all);
        check(
            query(100).newest_first(),
            &[DONE, AGAIN, BOOM, WORLD, START, LATE],
        );
        check(query(2), &[LATE, START]);
        check(query(1).newest_first(), &[DONE]);
        check(query(0), &[]);
        check(query(usize::MAX), &all);

        check(query(100).streams(&[STREAM_A]), &[START, WORLD, BOOM]);
        check(
            query(100).streams(&[STREAM_B, STREAM_OTHER]),
            &[LATE, AGAIN, DONE],
        );
        check(query(100).streams(&["missing"]), &[]);

        check(
            query(100).prefix("2024/01/01/"),
            &[LATE, START, WORLD, BOOM, AGAIN],
        );
        check(query(100).prefix("2024/01/01/[$LATEST]b"), &[LATE, AGAIN]);
        check(query(100).prefix("other_"), &[DONE]);
        check(query(100).prefix("other%"), &[]);
        check(query(100).prefix("o_her"), &[]);
        check(query(100).prefix(""), &all);
        check(
            query(100).streams(&[STREAM_A, STREAM_OTHER]).prefix("2024"),
            &[START, WORLD, BOOM],
        );

        check(query(100).start(1000), &[START, WORLD, BOOM, AGAIN, DONE]);
        check(query(100).end(1002), &[LATE, START, WORLD]);
        check(query(100).start(1000).end(1002), &[START, WORLD]);
        check(query(100).start(1500).end(1500), &[]);

        check(query(100).terms(&["hello"]), &[WORLD, AGAIN]);
        check(query(100).terms(&["hello", "world"]), &[WORLD]);
        check(query(100).terms(&["hello world"]), &[WORLD]);
        check(query(100).terms(&["world", "again"]), &[]);
        check(query(100).terms(&["Error"]), &[LATE]);
        check(query(100).terms(&["ERROR"]), &[BOOM]);
        check(query(100).terms(&["error"]), &[]);
        check(query(100).terms(&["%"]), &[DONE]);
        check(query(100).terms(&["e_o"]), &[DONE]);
        check(query(100).terms(&["h_llo"]), &[]);
        check(query(100).terms(&["h%o"]), &[]);

        check(query(100).after(3), &[LATE, AGAIN, DONE]);
        check(query(100).before(3), &[START, WORLD]);
        check(query(100).after(1).before(4), &[WORLD, BOOM]);
        check(query(100).after(6), &[]);
        check(query(2).before(5).newest_first(), &[AGAIN, BOOM]);

        let combined = query(2).prefix("2024").terms(&["o"]).start(1000).after(1);
        check(combined.clone(), &[WORLD, BOOM]);
        check(combined.newest_first(), &[AGAIN, BOOM]);
    }

    #[test]
    fn events_read_back_whole() {
        let state = fixture();
        let found = state.query_log_events(APP, &query(1).after(3)).unwrap();
        assert_eq!(
            found,
            [StoredLogEvent {
                event_id: 5,
                log_stream_name: STREAM_B.to_string(),
                timestamp_ms: 999,
                ingestion_time_ms: 10_001,
                message: "late Error".to_string(),
            }]
        );
        let other = state
            .query_log_events("/aws/lambda/other", &query(10))
            .unwrap();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].event_id, 7);
        assert!(
            state
                .query_log_events("/aws/lambda/missing", &query(10))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn stream_statistics_follow_writes() {
        let state = state();
        state.put_log_events_at(APP, "s", &[], 5).unwrap();
        let info = |state: &SqliteState| {
            state
                .describe_log_streams(APP, None, false, false)
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            info(&state),
            [LogStreamInfo {
                name: "s".to_string(),
                creation_time_ms: 5,
                first_event_ms: None,
                last_event_ms: None,
                last_ingestion_ms: None,
                stored_bytes: 0,
            }]
        );
        state
            .put_log_events_at(APP, "s", &events(&[(50, "ab"), (30, "cde")]), 10)
            .unwrap();
        state
            .put_log_events_at(APP, "s", &events(&[(70, "✓"), (10, "")]), 20)
            .unwrap();
        assert_eq!(
            info(&state),
            [LogStreamInfo {
                name: "s".to_string(),
                creation_time_ms: 5,
                first_event_ms: Some(10),
                last_event_ms: Some(70),
                last_ingestion_ms: Some(20),
                stored_bytes: 2 + 3 + 3,
            }]
        );
        let groups = state.describe_log_groups(None, None, 10).unwrap();
        assert_eq!(
            groups,
            [LogGroupInfo {
                name: APP.to_string(),
                creation_time_ms: 5,
                retention_days: None,
                stored_bytes: 8,
            }]
        );
    }

    #[test]
    fn many_events_in_one_batch() {
        let state = state();
        let batch: Vec<LogEvent> = (0..5_000)
            .map(|i| LogEvent {
                timestamp_ms: i,
                message: format!("line {i}"),
            })
            .collect();
        state.put_log_events(APP, "s", batch.clone()).unwrap();
        let found = state
            .query_log_events(APP, &query(1).newest_first())
            .unwrap();
        assert_eq!(found[0].message, "line 4999");
        // Written in chunks of several rows, read back whole and in order,
        // each event with its own id.
        let all = state.query_log_events(APP, &query(10_000)).unwrap();
        let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
        let expected: Vec<String> = (0..5_000).map(|i| format!("line {i}")).collect();
        assert_eq!(messages, expected);
        assert!(
            all.windows(2)
                .all(|pair| pair[0].event_id < pair[1].event_id)
        );
    }

    #[test]
    fn describe_groups_by_prefix_and_page() {
        let state = state();
        for (group, stream, message) in [
            ("/aws/lambda/b", "s1", "12345"),
            ("/aws/lambda/b", "s2", "678"),
            ("/aws/lambda/a", "s", "1"),
            ("/aws/lambda/c", "s", ""),
            ("/custom/x", "s", "1"),
            ("/aws/lambdax", "s", "1"),
        ] {
            state
                .put_log_events_at(group, stream, &events(&[(1, message)]), 7)
                .unwrap();
        }
        let check = |prefix: Option<&str>, after: Option<&str>, limit: usize, expected: &[&str]| {
            let groups = state.describe_log_groups(prefix, after, limit).unwrap();
            let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            assert_eq!(names, expected, "{prefix:?} {after:?} {limit}");
        };
        check(
            None,
            None,
            50,
            &[
                "/aws/lambda/a",
                "/aws/lambda/b",
                "/aws/lambda/c",
                "/aws/lambdax",
                "/custom/x",
            ],
        );
        check(
            Some("/aws/lambda/"),
            None,
            50,
            &["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c"],
        );
        check(
            Some("/aws/lambda/"),
            None,
            2,
            &["/aws/lambda/a", "/aws/lambda/b"],
        );
        check(
            Some("/aws/lambda/"),
            Some("/aws/lambda/b"),
            2,
            &["/aws/lambda/c"],
        );
        check(Some("/aws/lambda_"), None, 50, &[]);
        check(Some("/aws/lambda%"), None, 50, &[]);
        check(Some("/custom/x"), None, 50, &["/custom/x"]);
        check(None, Some("/aws/lambdax"), 50, &["/custom/x"]);
        check(None, None, 0, &[]);
        let b = &state
            .describe_log_groups(Some("/aws/lambda/b"), None, 1)
            .unwrap()[0];
        assert_eq!(
            (b.stored_bytes, b.creation_time_ms, b.retention_days),
            (8, 7, None)
        );
    }

    #[test]
    fn describe_streams_orders() {
        let state = state();
        for (stream, last_ms) in [
            ("s2", Some(100)),
            ("s1", Some(300)),
            ("s3", None),
            ("s10", Some(200)),
        ] {
            let batch = match last_ms {
                Some(last_ms) => events(&[(last_ms - 50, "a"), (last_ms, "b")]),
                None => Vec::new(),
            };
            state.put_log_events_at(APP, stream, &batch, 1).unwrap();
        }
        state
            .put_log_events_at("/aws/lambda/elsewhere", "s4", &events(&[(1, "x")]), 1)
            .unwrap();
        let check =
            |prefix: Option<&str>, by_last_event: bool, descending: bool, expected: &[&str]| {
                let streams = state
                    .describe_log_streams(APP, prefix, by_last_event, descending)
                    .unwrap()
                    .unwrap();
                let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
                assert_eq!(
                    names, expected,
                    "{prefix:?} by last event {by_last_event} descending {descending}"
                );
            };
        check(None, false, false, &["s1", "s10", "s2", "s3"]);
        check(None, false, true, &["s3", "s2", "s10", "s1"]);
        check(None, true, true, &["s1", "s10", "s2", "s3"]);
        check(None, true, false, &["s3", "s2", "s10", "s1"]);
        check(Some("s1"), false, false, &["s1", "s10"]);
        check(Some("s1"), true, false, &["s10", "s1"]);
        check(Some("s_"), false, false, &[]);
        check(Some("x"), false, false, &[]);
        assert_eq!(
            state
                .describe_log_streams("/aws/lambda/missing", None, false, false)
                .unwrap(),
            None
        );
    }

    #[test]
    fn retention_expires_old_events() {
        let state = state();
        let now_ms = 10 * DAY_MS;
        for group in [
            "/aws/lambda/one-day",
            "/aws/lambda/kept",
            "/aws/lambda/two-days",
        ] {
            let batch = events(&[
                (now_ms - 3 * DAY_MS, "3 days"),
                (now_ms - DAY_MS - DAY_MS / 2, "1.5 days"),
                (now_ms - DAY_MS, "1 day"),
                (now_ms - DAY_MS / 2, "0.5 day"),
            ]);
            state.put_log_events_at(group, "s", &batch, now_ms).unwrap();
        }
        assert!(
            state
                .put_retention_policy("/aws/lambda/one-day", Some(1))
                .unwrap()
        );
        assert!(
            state
                .put_retention_policy("/aws/lambda/two-days", Some(2))
                .unwrap()
        );
        assert!(
            !state
                .put_retention_policy("/aws/lambda/missing", Some(1))
                .unwrap()
        );
        assert_eq!(
            state
                .describe_log_groups(Some("/aws/lambda/missing"), None, 1)
                .unwrap(),
            []
        );

        assert_eq!(state.expire_logs(now_ms).unwrap(), 3);
        assert_eq!(state.expire_logs(now_ms).unwrap(), 0);
        let check = |group: &str, expected: &[&str]| {
            let found = state.query_log_events(group, &query(10)).unwrap();
            let messages: Vec<&str> = found.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, expected, "{group}");
            let stream = &state
                .describe_log_streams(group, None, false, false)
                .unwrap()
                .unwrap()[0];
            let remaining_bytes: usize = expected.iter().map(|m| m.len()).sum();
            assert_eq!(
                stream.stored_bytes,
                i64::try_from(remaining_bytes).unwrap(),
                "{group}"
            );
            let first_ms = found.iter().map(|e| e.timestamp_ms).min();
            assert_eq!(stream.first_event_ms, first_ms, "{group}");
        };
        // An event exactly at the cutoff stays.
        check("/aws/lambda/one-day", &["1 day", "0.5 day"]);
        check("/aws/lambda/two-days", &["1.5 days", "1 day", "0.5 day"]);
        check(
            "/aws/lambda/kept",
            &["3 days", "1.5 days", "1 day", "0.5 day"],
        );

        assert!(
            state
                .put_retention_policy("/aws/lambda/one-day", None)
                .unwrap()
        );
        assert_eq!(state.expire_logs(now_ms + 100 * DAY_MS).unwrap(), 3);
        check("/aws/lambda/one-day", &["1 day", "0.5 day"]);
        let retention: Vec<Option<u32>> = state
            .describe_log_groups(None, None, 10)
            .unwrap()
            .iter()
            .map(|g| g.retention_days)
            .collect();
        assert_eq!(retention, [None, None, Some(2)]);
    }

    #[test]
    fn expiry_keeps_emptied_streams() {
        let state = state();
        state
            .put_log_events_at(APP, "s", &events(&[(1, "old")]), 1)
            .unwrap();
        state.put_retention_policy(APP, Some(1)).unwrap();
        assert_eq!(state.expire_logs(2 * DAY_MS).unwrap(), 1);
        let stream = &state
            .describe_log_streams(APP, None, false, false)
            .unwrap()
            .unwrap()[0];
        assert_eq!(
            (
                stream.stored_bytes,
                stream.first_event_ms,
                stream.last_event_ms
            ),
            (0, Some(1), Some(1))
        );
    }

    #[test]
    fn delete_group_removes_everything_and_ids_are_not_reused() {
        let state = fixture();
        assert!(state.delete_log_group(APP).unwrap());
        assert!(!state.delete_log_group(APP).unwrap());
        assert_eq!(
            state.describe_log_streams(APP, None, false, false).unwrap(),
            None
        );
        assert!(state.query_log_events(APP, &query(10)).unwrap().is_empty());
        assert_eq!(state.describe_log_groups(None, None, 10).unwrap().len(), 1);
        assert_eq!(
            state
                .query_log_events("/aws/lambda/other", &query(10))
                .unwrap()
                .len(),
            1
        );
        state.delete_log_group("/aws/lambda/other").unwrap();
        state
            .put_log_events(APP, STREAM_A, events(&[(1, "again")]))
            .unwrap();
        let found = state.query_log_events(APP, &query(10)).unwrap();
        assert_eq!(found[0].event_id, 8);
        let stream = &state
            .describe_log_streams(APP, None, false, false)
            .unwrap()
            .unwrap()[0];
        assert_eq!(stream.stored_bytes, 5);
    }

    #[test]
    fn common_queries_use_an_index_in_order() {
        let state = fixture();
        let check = |query: LogQuery| {
            let (sql, values) = event_query(APP, &query);
            let connection = state.connection();
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let plan: Vec<String> = statement
                .query_map(params_from_iter(values), |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains("USING INDEX"), "{query:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {plan}");
        };
        // GetLogEvents on one stream, both directions.
        check(query(100).streams(&[STREAM_A]));
        check(query(100).streams(&[STREAM_A]).start(1).newest_first());
        // FilterLogEvents over the group.
        check(query(100).terms(&["x"]).start(1));
    }
}
