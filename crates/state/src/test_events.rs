//! [`TestEventStore`] on SQLite.

use rayo_core::store::StoreError;
use rayo_core::test_event::{
    MAX_TEST_EVENTS_PER_FUNCTION, TestEvent, TestEventError, TestEventStore,
};
use rusqlite::{OptionalExtension, params};

use crate::db::{SqliteState, backend};

impl TestEventStore for SqliteState {
    fn list_test_events(&self, function_name: &str) -> Result<Vec<TestEvent>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT name, event, last_modified_ms FROM test_events
                 WHERE function_name = ?1 ORDER BY name",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map([function_name], |row| {
                Ok(TestEvent {
                    function_name: function_name.to_string(),
                    name: row.get(0)?,
                    event_json: row.get(1)?,
                    last_modified_ms: row.get(2)?,
                })
            })
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)).collect()
    }

    fn put_test_event(&self, event: &TestEvent) -> Result<(), TestEventError> {
        let mut connection = self.connection();
        // The count and the write in one transaction, under the one
        // connection's lock: two saves cannot both take the tenth place.
        let transaction = connection.transaction().map_err(backend)?;
        let exists = transaction
            .query_row(
                "SELECT 1 FROM test_events WHERE function_name = ?1 AND name = ?2",
                params![event.function_name, event.name],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        if !exists {
            let count: i64 = transaction
                .query_row(
                    "SELECT count(*) FROM test_events WHERE function_name = ?1",
                    [&event.function_name],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_TEST_EVENTS_PER_FUNCTION {
                return Err(TestEventError::TooMany);
            }
        }
        transaction
            .execute(
                "INSERT INTO test_events (function_name, name, event, last_modified_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (function_name, name)
                 DO UPDATE SET event = excluded.event, last_modified_ms = excluded.last_modified_ms",
                params![
                    event.function_name,
                    event.name,
                    event.event_json,
                    event.last_modified_ms
                ],
            )
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(())
    }

    fn delete_test_event(&self, function_name: &str, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .connection()
            .execute(
                "DELETE FROM test_events WHERE function_name = ?1 AND name = ?2",
                params![function_name, name],
            )
            .map_err(backend)?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(function_name: &str, name: &str, json: &str) -> TestEvent {
        TestEvent {
            function_name: function_name.to_string(),
            name: name.to_string(),
            event_json: json.to_string(),
            last_modified_ms: 1,
        }
    }

    #[test]
    fn at_most_ten_per_function_and_replace_in_place() {
        let state = SqliteState::open_in_memory().unwrap();
        for i in 0..10 {
            state
                .put_test_event(&event("f", &format!("e{i}"), "{}"))
                .unwrap();
        }
        assert!(matches!(
            state.put_test_event(&event("f", "e10", "{}")),
            Err(TestEventError::TooMany)
        ));
        // Replacing one of the ten is not an eleventh; other functions count apart.
        state
            .put_test_event(&event("f", "e3", r#"{"a":1}"#))
            .unwrap();
        state.put_test_event(&event("g", "e0", "[]")).unwrap();
        let listed = state.list_test_events("f").unwrap();
        assert_eq!(listed.len(), 10);
        assert_eq!(listed[3].event_json, r#"{"a":1}"#);
        assert!(state.delete_test_event("f", "e3").unwrap());
        assert!(!state.delete_test_event("f", "e3").unwrap());
        state.put_test_event(&event("f", "e10", "{}")).unwrap();
        assert_eq!(state.list_test_events("g").unwrap().len(), 1);
    }
}
