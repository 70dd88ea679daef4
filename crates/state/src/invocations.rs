//! The durable queue of asynchronous invocations.

use rayo_core::invocation::AsyncInvocation;
use rayo_core::store::{InvocationQueue, StoreError};
use rusqlite::{OptionalExtension, Row, params};

use crate::db::{SqliteState, backend};

impl InvocationQueue for SqliteState {
    fn enqueue(&self, invocation: &AsyncInvocation) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached(
                "INSERT INTO async_invocations
                     (request_id, function_name, qualifier, payload, enqueued_ms, attempts, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    invocation.request_id,
                    invocation.function_name,
                    invocation.qualifier,
                    invocation.payload,
                    invocation.enqueued_ms,
                    invocation.attempts,
                    invocation.next_attempt_ms,
                ])
            })
            .map_err(backend)?;
        Ok(())
    }

    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncInvocation>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let claimed = transaction
            .prepare_cached(
                "UPDATE async_invocations SET lease_until_ms = ?2
                 WHERE request_id IN (
                     SELECT request_id FROM async_invocations
                     WHERE next_attempt_ms <= ?1
                       AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
                     ORDER BY next_attempt_ms, enqueued_ms
                     LIMIT ?3)
                 RETURNING request_id, function_name, qualifier, payload, enqueued_ms,
                           attempts, next_attempt_ms",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![now_ms, lease_until_ms, limit as i64],
                        invocation_from_row,
                    )?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(claimed)
    }

    fn reschedule(
        &self,
        request_id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached(
                "UPDATE async_invocations
                 SET attempts = ?2, next_attempt_ms = ?3, lease_until_ms = NULL
                 WHERE request_id = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![request_id, attempts, next_attempt_ms])
            })
            .map_err(backend)?;
        Ok(())
    }

    fn finish(&self, request_id: &str) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached("DELETE FROM async_invocations WHERE request_id = ?1")
            .and_then(|mut statement| statement.execute(params![request_id]))
            .map_err(backend)?;
        Ok(())
    }

    fn release_all_leases(&self) -> Result<usize, StoreError> {
        self.connection()
            .execute(
                "UPDATE async_invocations SET lease_until_ms = NULL WHERE lease_until_ms IS NOT NULL",
                [],
            )
            .map_err(backend)
    }

    fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT MIN(COALESCE(MAX(next_attempt_ms, lease_until_ms), next_attempt_ms))
                 FROM async_invocations",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([], |row| row.get::<_, Option<i64>>(0))
                    .optional()
            })
            .map(Option::flatten)
            .map_err(backend)
    }
}

fn invocation_from_row(row: &Row<'_>) -> rusqlite::Result<AsyncInvocation> {
    Ok(AsyncInvocation {
        request_id: row.get(0)?,
        function_name: row.get(1)?,
        qualifier: row.get(2)?,
        payload: row.get(3)?,
        enqueued_ms: row.get(4)?,
        attempts: row.get(5)?,
        next_attempt_ms: row.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(id: &str, next_attempt_ms: i64) -> AsyncInvocation {
        AsyncInvocation {
            request_id: id.to_string(),
            function_name: "f".to_string(),
            qualifier: Some("$LATEST".to_string()),
            payload: br#"{"n":1}"#.to_vec(),
            enqueued_ms: 5,
            attempts: 0,
            next_attempt_ms,
        }
    }

    fn ids(claimed: &[AsyncInvocation]) -> Vec<&str> {
        claimed.iter().map(|i| i.request_id.as_str()).collect()
    }

    #[test]
    fn claims_due_invocations_once_per_lease() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("a", 10)).unwrap();
        state.enqueue(&invocation("b", 20)).unwrap();
        state.enqueue(&invocation("c", 100)).unwrap();
        assert!(state.claim_due(5, 1000, 10).unwrap().is_empty());
        let claimed = state.claim_due(20, 1000, 10).unwrap();
        assert_eq!(ids(&claimed), vec!["a", "b"]);
        assert_eq!(claimed[0], invocation("a", 10));
        // Leased: not handed out again until the lease ends.
        assert!(state.claim_due(50, 1000, 10).unwrap().is_empty());
        assert_eq!(state.next_due_ms().unwrap(), Some(100));
        assert_eq!(
            ids(&state.claim_due(1000, 2000, 10).unwrap()),
            vec!["a", "b", "c"]
        );
    }

    #[test]
    fn reschedule_finish_and_restart() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("a", 10)).unwrap();
        state.enqueue(&invocation("b", 10)).unwrap();
        assert_eq!(state.claim_due(10, 1000, 1).unwrap().len(), 1);
        state.reschedule("a", 1, 500).unwrap();
        let claimed = state.claim_due(10, 1000, 10).unwrap();
        assert_eq!(ids(&claimed), vec!["b"]);
        state.finish("b").unwrap();
        let later = state.claim_due(500, 1000, 10).unwrap();
        assert_eq!(later[0].attempts, 1);
        assert_eq!(state.release_all_leases().unwrap(), 1);
        assert_eq!(ids(&state.claim_due(500, 1000, 10).unwrap()), vec!["a"]);
        state.finish("a").unwrap();
        assert_eq!(state.next_due_ms().unwrap(), None);
    }

    #[test]
    fn duplicate_request_ids_are_refused() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("a", 10)).unwrap();
        assert!(state.enqueue(&invocation("a", 10)).is_err());
    }
}
