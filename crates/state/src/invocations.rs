//! The durable queue of asynchronous invocations.

use rayo_core::invocation::AsyncInvocation;
use rayo_core::store::{AsyncQueueCounts, InvocationQueue, StoreError};
use rusqlite::{Row, Transaction, params};

use crate::db::{SqliteState, backend, sql_limit};

/// Claims invocations whose lease lapsed (an attempt whose outcome was never
/// written), oldest lease first.
const CLAIM_LAPSED: &str = "UPDATE async_invocations SET lease_until_ms = ?2
    WHERE request_id IN (
        SELECT request_id FROM async_invocations
        WHERE lease_until_ms <= ?1 AND next_attempt_ms <= ?1
        ORDER BY lease_until_ms
        LIMIT +?3)
    RETURNING request_id, function_name, qualifier, payload, enqueued_ms,
              attempts, next_attempt_ms";

/// Claims waiting invocations that are due, in due order.
const CLAIM_WAITING: &str = "UPDATE async_invocations SET lease_until_ms = ?2
    WHERE request_id IN (
        SELECT request_id FROM async_invocations
        WHERE lease_until_ms IS NULL AND next_attempt_ms <= ?1
        ORDER BY next_attempt_ms, enqueued_ms
        LIMIT +?3)
    RETURNING request_id, function_name, qualifier, payload, enqueued_ms,
              attempts, next_attempt_ms";

/// The earliest waiting invocation's due time, or the earliest lease to
/// lapse (a leased invocation is due again no sooner).
const NEXT_DUE: &str = "WITH due (waiting, lapsing) AS (SELECT
        (SELECT min(next_attempt_ms) FROM async_invocations WHERE lease_until_ms IS NULL),
        (SELECT min(lease_until_ms) FROM async_invocations WHERE lease_until_ms IS NOT NULL))
    SELECT min(coalesce(waiting, lapsing), coalesce(lapsing, waiting)) FROM due";

impl InvocationQueue for SqliteState {
    fn enqueue_all(&self, invocations: &[AsyncInvocation]) -> Vec<Result<(), StoreError>> {
        let mut connection = self.connection();
        let mut transaction = match connection.transaction() {
            Ok(transaction) => transaction,
            Err(error) => return invocations.iter().map(|_| Err(backend(&error))).collect(),
        };
        let mut results: Vec<Result<(), StoreError>> = invocations
            .iter()
            .map(|invocation| insert_invocation(&mut transaction, invocation))
            .collect();
        if let Err(error) = transaction.commit() {
            let error = backend(error);
            for result in &mut results {
                if result.is_ok() {
                    *result = Err(StoreError::Backend(error.to_string()));
                }
            }
        }
        results
    }

    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncInvocation>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        // Lapsed leases first (an attempt whose outcome was never written),
        // then waiting invocations in due order; each an index range.
        let mut claimed = Vec::new();
        for sql in [CLAIM_LAPSED, CLAIM_WAITING] {
            let wanted = limit.saturating_sub(claimed.len());
            if wanted == 0 {
                break;
            }
            let rows = transaction
                .prepare_cached(sql)
                .and_then(|mut statement| {
                    statement
                        .query_map(
                            params![now_ms, lease_until_ms, sql_limit(wanted)],
                            invocation_from_row,
                        )?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(backend)?;
            claimed.extend(rows);
        }
        transaction.commit().map_err(backend)?;
        // RETURNING gives no order; callers get the oldest first.
        claimed.sort_by_key(|i| (i.next_attempt_ms, i.enqueued_ms));
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

    fn counts(&self, now_ms: i64) -> Result<AsyncQueueCounts, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT
                    count(*) FILTER (WHERE lease_until_ms IS NULL AND next_attempt_ms <= ?1),
                    count(*) FILTER (WHERE lease_until_ms IS NOT NULL),
                    count(*) FILTER (WHERE lease_until_ms IS NULL AND next_attempt_ms > ?1)
                FROM async_invocations",
            )
            .and_then(|mut statement| {
                statement.query_row([now_ms], |row| {
                    Ok(AsyncQueueCounts {
                        waiting: row.get::<_, i64>(0)? as u64,
                        running: row.get::<_, i64>(1)? as u64,
                        delayed: row.get::<_, i64>(2)? as u64,
                    })
                })
            })
            .map_err(backend)
    }

    fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.connection()
            .prepare_cached(NEXT_DUE)
            .and_then(|mut statement| statement.query_row([], |row| row.get::<_, Option<i64>>(0)))
            .map_err(backend)
    }
}

/// Inserts one invocation under a savepoint of the batch's transaction.
fn insert_invocation(
    transaction: &mut Transaction<'_>,
    invocation: &AsyncInvocation,
) -> Result<(), StoreError> {
    let savepoint = transaction.savepoint().map_err(backend)?;
    savepoint
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
    savepoint.commit().map_err(backend)
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
    fn counts_waiting_running_and_delayed() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(state.counts(0).unwrap(), AsyncQueueCounts::default());
        state.enqueue(&invocation("a", 10)).unwrap();
        state.enqueue(&invocation("b", 20)).unwrap();
        state.enqueue(&invocation("c", 100)).unwrap();
        let claimed = state.claim_due(10, 1000, 10).unwrap();
        assert_eq!(ids(&claimed), vec!["a"]);
        let counts = state.counts(50).unwrap();
        assert_eq!(
            counts,
            AsyncQueueCounts {
                waiting: 1,
                running: 1,
                delayed: 1
            }
        );
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

    #[test]
    fn a_batch_keeps_its_good_invocations() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("a", 10)).unwrap();
        let results = state.enqueue_all(&[
            invocation("b", 10),
            invocation("a", 10),
            invocation("c", 10),
        ]);
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true]);
        assert_eq!(
            ids(&state.claim_due(10, 1000, 10).unwrap()),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn lapsed_leases_are_claimed_again() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("a", 10)).unwrap();
        state.enqueue(&invocation("b", 20)).unwrap();
        assert_eq!(ids(&state.claim_due(10, 100, 10).unwrap()), ["a"]);
        assert_eq!(state.next_due_ms().unwrap(), Some(20));
        assert_eq!(ids(&state.claim_due(20, 100, 10).unwrap()), ["b"]);
        assert_eq!(state.next_due_ms().unwrap(), Some(100));
        assert!(state.claim_due(99, 200, 10).unwrap().is_empty());
        assert_eq!(ids(&state.claim_due(100, 200, 1).unwrap()), ["a"]);
    }

    #[test]
    fn the_queue_is_read_through_its_index() {
        let state = SqliteState::open_in_memory().unwrap();
        let connection = state.connection();
        for sql in [CLAIM_LAPSED, CLAIM_WAITING, NEXT_DUE] {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let n_params = statement.parameter_count();
            let values = [1_i64, 2, 3];
            let plan: Vec<String> = statement
                .query_map(rusqlite::params_from_iter(&values[..n_params]), |r| {
                    r.get(3)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(!plan.contains("SCAN async_invocations"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }

    #[test]
    fn claims_are_not_compiled_again_on_every_run() {
        // A bare `LIMIT ?` inside the `IN (…)` of an UPDATE makes SQLite
        // compile the statement again whenever the bound values change; the
        // claims run for every batch, so they write `LIMIT +?`.
        let state = SqliteState::open_in_memory().unwrap();
        let connection = state.connection();
        for sql in [CLAIM_LAPSED, CLAIM_WAITING] {
            let mut statement = connection.prepare_cached(sql).unwrap();
            for now in 0..5_i64 {
                let mut rows = statement.query(params![now, now + 1, 10 + now]).unwrap();
                while rows.next().unwrap().is_some() {}
            }
            let n = statement.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(n, 0, "{sql}");
        }
    }
}
