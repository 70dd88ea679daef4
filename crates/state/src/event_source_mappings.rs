//! [`EventSourceMappingStore`] on SQLite.

use rayo_core::event_source::{EventSourceMapping, EventSourceMappingStore, MappingFilter};
use rayo_core::store::StoreError;
use rusqlite::{ErrorCode, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{SqliteState, backend, sql_limit};

impl EventSourceMappingStore for SqliteState {
    fn create_mapping(&self, mapping: &EventSourceMapping) -> Result<(), StoreError> {
        let config = config_json(mapping)?;
        self.connection()
            .prepare_cached(
                "INSERT INTO event_source_mappings
                     (uuid, event_source_arn, function_name, qualifier, enabled, created_ms,
                      last_modified_ms, config)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    mapping.uuid,
                    mapping.event_source_arn,
                    mapping.function_name,
                    mapping.qualifier,
                    mapping.enabled,
                    mapping.created_ms,
                    mapping.last_modified_ms,
                    config,
                ])
            })
            .map_err(|error| conflict_or_backend(error, mapping))?;
        Ok(())
    }

    fn get_mapping(&self, uuid: &str) -> Result<Option<EventSourceMapping>, StoreError> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM event_source_mappings WHERE uuid = ?1"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row([uuid], StoredMapping::from_row)
                    .optional()
            })
            .map_err(backend)?
            .map(StoredMapping::into_mapping)
            .transpose()
    }

    fn list_mappings(
        &self,
        filter: &MappingFilter<'_>,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<EventSourceMapping>, StoreError> {
        let (after_ms, after_uuid) = match after {
            Some((ms, uuid)) => (Some(ms), Some(uuid)),
            None => (None, None),
        };
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM event_source_mappings
                 WHERE (?1 IS NULL OR event_source_arn = ?1)
                   AND (?2 IS NULL OR function_name = ?2)
                   AND (?3 IS NULL OR (created_ms, uuid) > (?3, ?4))
                 ORDER BY created_ms, uuid LIMIT ?5"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map(
                params![
                    filter.event_source_arn,
                    filter.function_name,
                    after_ms,
                    after_uuid,
                    sql_limit(limit)
                ],
                StoredMapping::from_row,
            )
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.into_mapping())
            .collect()
    }

    fn update_mapping(&self, mapping: &EventSourceMapping) -> Result<(), StoreError> {
        let config = config_json(mapping)?;
        let updated = self
            .connection()
            .prepare_cached(
                "UPDATE event_source_mappings
                 SET event_source_arn = ?2, function_name = ?3, qualifier = ?4, enabled = ?5,
                     last_modified_ms = ?6, config = ?7
                 WHERE uuid = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    mapping.uuid,
                    mapping.event_source_arn,
                    mapping.function_name,
                    mapping.qualifier,
                    mapping.enabled,
                    mapping.last_modified_ms,
                    config,
                ])
            })
            .map_err(|error| conflict_or_backend(error, mapping))?;
        if updated == 0 {
            return Err(StoreError::NotFound(mapping.uuid.clone()));
        }
        Ok(())
    }

    fn delete_mapping(&self, uuid: &str) -> Result<bool, StoreError> {
        let deleted = self
            .connection()
            .prepare_cached("DELETE FROM event_source_mappings WHERE uuid = ?1")
            .and_then(|mut statement| statement.execute([uuid]))
            .map_err(backend)?;
        Ok(deleted > 0)
    }
}

const COLUMNS: &str = "uuid, event_source_arn, function_name, qualifier, enabled, created_ms, last_modified_ms, config";

/// The JSON kept in `event_source_mappings.config`: the settings that are
/// not columns. Fields added later need `#[serde(default)]`; unknown ones
/// are ignored, so an older rayo reads what a newer one wrote.
#[derive(Debug, Serialize, Deserialize)]
struct ConfigDocument {
    batch_size: u32,
    #[serde(default)]
    maximum_batching_window_seconds: u32,
    #[serde(default)]
    report_batch_item_failures: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maximum_concurrency: Option<u32>,
}

fn config_json(mapping: &EventSourceMapping) -> Result<String, StoreError> {
    serde_json::to_string(&ConfigDocument {
        batch_size: mapping.batch_size,
        maximum_batching_window_seconds: mapping.maximum_batching_window_seconds,
        report_batch_item_failures: mapping.report_batch_item_failures,
        maximum_concurrency: mapping.maximum_concurrency,
    })
    .map_err(backend)
}

/// A unique-index violation is a second mapping of the same pair.
fn conflict_or_backend(error: rusqlite::Error, mapping: &EventSourceMapping) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::AlreadyExists(format!(
            "{} -> {}",
            mapping.event_source_arn, mapping.function_name
        )),
        _ => backend(error),
    }
}

/// A mapping's columns as read, before the JSON is parsed.
struct StoredMapping {
    uuid: String,
    event_source_arn: String,
    function_name: String,
    qualifier: Option<String>,
    enabled: bool,
    created_ms: i64,
    last_modified_ms: i64,
    config: String,
}

impl StoredMapping {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredMapping> {
        Ok(StoredMapping {
            uuid: row.get(0)?,
            event_source_arn: row.get(1)?,
            function_name: row.get(2)?,
            qualifier: row.get(3)?,
            enabled: row.get(4)?,
            created_ms: row.get(5)?,
            last_modified_ms: row.get(6)?,
            config: row.get(7)?,
        })
    }

    fn into_mapping(self) -> Result<EventSourceMapping, StoreError> {
        let document: ConfigDocument = serde_json::from_str(&self.config).map_err(|error| {
            StoreError::Backend(format!(
                "event source mapping {} has an unreadable configuration: {error}",
                self.uuid
            ))
        })?;
        Ok(EventSourceMapping {
            uuid: self.uuid,
            event_source_arn: self.event_source_arn,
            function_name: self.function_name,
            qualifier: self.qualifier,
            enabled: self.enabled,
            batch_size: document.batch_size,
            maximum_batching_window_seconds: document.maximum_batching_window_seconds,
            report_batch_item_failures: document.report_batch_item_failures,
            maximum_concurrency: document.maximum_concurrency,
            created_ms: self.created_ms,
            last_modified_ms: self.last_modified_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(uuid: &str, queue: &str, function: &str, created_ms: i64) -> EventSourceMapping {
        EventSourceMapping {
            uuid: uuid.to_string(),
            event_source_arn: format!("arn:aws:sqs:us-east-1:000000000000:{queue}"),
            function_name: function.to_string(),
            qualifier: None,
            enabled: true,
            batch_size: 10,
            maximum_batching_window_seconds: 0,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            created_ms,
            last_modified_ms: created_ms,
        }
    }

    fn uuids(mappings: &[EventSourceMapping]) -> Vec<&str> {
        mappings.iter().map(|m| m.uuid.as_str()).collect()
    }

    #[test]
    fn create_get_list_update_delete() {
        let state = SqliteState::open_in_memory().unwrap();
        let mut a = mapping("a", "q1", "f", 1);
        a.report_batch_item_failures = true;
        a.maximum_concurrency = Some(5);
        a.batch_size = 100;
        a.maximum_batching_window_seconds = 3;
        state.create_mapping(&a).unwrap();
        state.create_mapping(&mapping("c", "q2", "f", 2)).unwrap();
        state.create_mapping(&mapping("b", "q1", "g", 2)).unwrap();
        assert_eq!(state.get_mapping("a").unwrap(), Some(a.clone()));
        assert_eq!(state.get_mapping("x").unwrap(), None);

        // The same queue and function again is refused, with a qualifier it is not.
        assert!(matches!(
            state.create_mapping(&mapping("d", "q1", "f", 3)),
            Err(StoreError::AlreadyExists(_))
        ));
        let mut qualified = mapping("e", "q1", "f", 4);
        qualified.qualifier = Some("$LATEST".to_string());
        state.create_mapping(&qualified).unwrap();
        assert!(state.delete_mapping("e").unwrap());

        let all = MappingFilter::default();
        assert_eq!(
            uuids(&state.list_mappings(&all, None, 10).unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(
            uuids(&state.list_mappings(&all, Some((2, "b")), 10).unwrap()),
            ["c"]
        );
        assert_eq!(
            uuids(&state.list_mappings(&all, None, 2).unwrap()),
            ["a", "b"]
        );
        let by_queue = MappingFilter {
            event_source_arn: Some("arn:aws:sqs:us-east-1:000000000000:q1"),
            function_name: None,
        };
        assert_eq!(
            uuids(&state.list_mappings(&by_queue, None, 10).unwrap()),
            ["a", "b"]
        );
        let by_function = MappingFilter {
            event_source_arn: None,
            function_name: Some("f"),
        };
        assert_eq!(
            uuids(&state.list_mappings(&by_function, None, 10).unwrap()),
            ["a", "c"]
        );

        let mut changed = a.clone();
        changed.enabled = false;
        changed.batch_size = 5;
        changed.last_modified_ms = 9;
        state.update_mapping(&changed).unwrap();
        assert_eq!(state.get_mapping("a").unwrap(), Some(changed.clone()));
        // Moving it onto another mapping's pair is refused.
        changed.function_name = "g".to_string();
        assert!(matches!(
            state.update_mapping(&changed),
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(state.delete_mapping("a").unwrap());
        assert!(!state.delete_mapping("a").unwrap());
        assert!(matches!(
            state.update_mapping(&changed),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn reads_documents_with_missing_and_unknown_fields() {
        let state = SqliteState::open_in_memory().unwrap();
        state.create_mapping(&mapping("a", "q", "f", 1)).unwrap();
        state
            .connection()
            .execute(
                "UPDATE event_source_mappings SET config = ?1",
                [r#"{"batch_size":10,"filter_criteria":{"filters":[]}}"#],
            )
            .unwrap();
        assert_eq!(
            state.get_mapping("a").unwrap(),
            Some(mapping("a", "q", "f", 1))
        );
    }

    #[test]
    fn mappings_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        SqliteState::open(&path)
            .unwrap()
            .create_mapping(&mapping("a", "q", "f", 1))
            .unwrap();
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(
            state.get_mapping("a").unwrap(),
            Some(mapping("a", "q", "f", 1))
        );
    }
}
