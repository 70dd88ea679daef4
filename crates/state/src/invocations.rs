//! The durable queue of asynchronous invocations.

use rayo_core::invocation::{AsyncCompletion, AsyncInvocation, AsyncNext};
use rayo_core::queue::{NewMessage, SentMessage};
use rayo_core::store::{AsyncQueueCounts, InvocationQueue, StoreError};
use rusqlite::{Connection, Row, params};

use crate::db::{SqliteState, WriteTransaction, backend, sql_limit};
use crate::queues::send_in;

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

/// Puts an invocation back with its attempts, to run at a later time.
const RESCHEDULE: &str = "UPDATE async_invocations
    SET attempts = ?2, next_attempt_ms = ?3, lease_until_ms = NULL
    WHERE request_id = ?1";

/// The earliest waiting invocation's due time, or the earliest lease to
/// lapse (a leased invocation is due again no sooner).
const NEXT_DUE: &str = "WITH due (waiting, lapsing) AS (SELECT
        (SELECT min(next_attempt_ms) FROM async_invocations WHERE lease_until_ms IS NULL),
        (SELECT min(lease_until_ms) FROM async_invocations WHERE lease_until_ms IS NOT NULL))
    SELECT min(coalesce(waiting, lapsing), coalesce(lapsing, waiting)) FROM due";

impl InvocationQueue for SqliteState {
    fn enqueue_all(
        &self,
        invocations: &[AsyncInvocation],
        n_claimed: usize,
        lease_until_ms: i64,
    ) -> Vec<Result<(), StoreError>> {
        let connection = self.connection();
        let transaction = match WriteTransaction::begin(&connection) {
            Ok(transaction) => transaction,
            Err(error) => return invocations.iter().map(|_| Err(backend(&error))).collect(),
        };
        // No savepoint per row: a refused INSERT (a request id already
        // queued) undoes only itself and the transaction goes on, as SQLite
        // does on a constraint error under its default ABORT.
        let mut results = Vec::with_capacity(invocations.len());
        for (idx, invocation) in invocations.iter().enumerate() {
            let lease = (idx < n_claimed).then_some(lease_until_ms);
            let result = insert_invocation(&transaction, invocation, lease);
            if let Err(error) = &result
                && transaction.is_autocommit()
            {
                // SQLite rolled the whole transaction back (an I/O error, a
                // full disk): nothing of the batch is written.
                let error = error.to_string();
                return invocations
                    .iter()
                    .map(|_| Err(StoreError::Backend(error.clone())))
                    .collect();
            }
            results.push(result);
        }
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
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
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
            .prepare_cached(RESCHEDULE)
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

    fn complete_all(
        &self,
        completions: &[AsyncCompletion],
        now_ms: i64,
    ) -> Vec<Result<Vec<Option<SentMessage>>, StoreError>> {
        let connection = self.connection();
        match write_completions(self, &connection, completions, now_ms) {
            Ok(sent) => sent.into_iter().map(Ok).collect(),
            // One completion that cannot be written must not hold back the
            // others: each is tried again on its own.
            Err(_) if completions.len() > 1 => completions
                .iter()
                .map(|completion| {
                    write_completions(self, &connection, std::slice::from_ref(completion), now_ms)
                        .map(|mut sent| sent.pop().unwrap_or_default())
                })
                .collect(),
            Err(error) => vec![Err(error)],
        }
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

/// Inserts one invocation, leased until `lease_until_ms` if given.
fn insert_invocation(
    connection: &Connection,
    invocation: &AsyncInvocation,
    lease_until_ms: Option<i64>,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO async_invocations
                 (request_id, function_name, qualifier, payload, enqueued_ms, attempts,
                  next_attempt_ms, lease_until_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                lease_until_ms,
            ])
        })
        .map_err(backend)?;
    Ok(())
}

/// Writes completions in one transaction: their messages, grouped by queue
/// so that each queue is read once, then their rows.
fn write_completions(
    state: &SqliteState,
    connection: &Connection,
    completions: &[AsyncCompletion],
    now_ms: i64,
) -> Result<Vec<Vec<Option<SentMessage>>>, StoreError> {
    let transaction = WriteTransaction::begin(connection).map_err(backend)?;
    let mut sent: Vec<Vec<Option<SentMessage>>> = completions
        .iter()
        .map(|completion| vec![None; completion.messages.len()])
        .collect();
    // Each queue's messages in the order of the batch: (completion, message).
    let mut by_queue: Vec<(&str, Vec<(usize, usize)>)> = Vec::new();
    for (completion_idx, completion) in completions.iter().enumerate() {
        for (message_idx, (queue_name, _)) in completion.messages.iter().enumerate() {
            let position = (completion_idx, message_idx);
            match by_queue.iter_mut().find(|(name, _)| name == queue_name) {
                Some((_, positions)) => positions.push(position),
                None => by_queue.push((queue_name, vec![position])),
            }
        }
    }
    for (queue_name, positions) in by_queue {
        let messages: Vec<&NewMessage> = positions
            .iter()
            .map(|&(c, m)| &completions[c].messages[m].1)
            .collect();
        let Some(results) = send_in(state, &transaction, queue_name, &messages, now_ms)? else {
            continue;
        };
        for ((c, m), result) in positions.into_iter().zip(results) {
            sent[c][m] = Some(result);
        }
    }
    for completion in completions {
        match completion.next {
            AsyncNext::Finish => transaction
                .prepare_cached("DELETE FROM async_invocations WHERE request_id = ?1")
                .and_then(|mut statement| statement.execute(params![completion.request_id])),
            AsyncNext::RetryAt(at_ms) => {
                transaction
                    .prepare_cached(RESCHEDULE)
                    .and_then(|mut statement| {
                        statement.execute(params![
                            completion.request_id,
                            completion.attempts,
                            at_ms
                        ])
                    })
            }
        }
        .map_err(backend)?;
    }
    transaction.commit().map_err(backend)?;
    Ok(sent)
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
        let results = state.enqueue_all(
            &[
                invocation("b", 10),
                invocation("a", 10),
                invocation("c", 10),
            ],
            0,
            0,
        );
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true]);
        assert_eq!(
            ids(&state.claim_due(10, 1000, 10).unwrap()),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn invocations_can_be_added_claimed() {
        let state = SqliteState::open_in_memory().unwrap();
        state.enqueue(&invocation("old", 10)).unwrap();
        let results = state.enqueue_all(
            &[
                invocation("a", 10),
                invocation("old", 10),
                invocation("b", 10),
            ],
            2,
            1000,
        );
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true]);
        // `a` is leased as a claim leaves it; `b` waits to be claimed.
        assert_eq!(
            state.counts(10).unwrap(),
            AsyncQueueCounts {
                waiting: 2,
                running: 1,
                delayed: 0
            }
        );
        assert_eq!(ids(&state.claim_due(10, 5000, 10).unwrap()), ["old", "b"]);
        assert_eq!(ids(&state.claim_due(1000, 2000, 10).unwrap()), ["a"]);
        // A restart releases it like any claimed invocation.
        assert_eq!(state.release_all_leases().unwrap(), 3);
        assert_eq!(state.claim_due(10, 3000, 10).unwrap().len(), 3);
    }

    fn completion(id: &str, next: AsyncNext, messages: &[(&str, &str)]) -> AsyncCompletion {
        AsyncCompletion {
            request_id: id.to_string(),
            attempts: 1,
            next,
            messages: messages
                .iter()
                .map(|(queue, body)| {
                    let message = NewMessage {
                        message_id: format!("{id}-{body}"),
                        body: body.to_string(),
                        attributes: Default::default(),
                        system_attributes: Default::default(),
                        group_id: None,
                        deduplication_id: None,
                        delay_seconds: 0,
                    };
                    (queue.to_string(), message)
                })
                .collect(),
        }
    }

    fn create_queue(state: &SqliteState, name: &str) {
        use rayo_core::queue::{QueueAttributes, QueueRecord, QueueStore};
        let record = QueueRecord {
            name: name.to_string(),
            attributes: QueueAttributes::for_new_queue(name, &Default::default()).unwrap(),
            tags: Default::default(),
            created_ms: 0,
            last_modified_ms: 0,
        };
        state.create_queue(&record).unwrap();
    }

    fn bodies(state: &SqliteState, queue: &str) -> Vec<String> {
        use rayo_core::queue::{QueueStore, ReceiveRequest};
        let request = ReceiveRequest {
            max_messages: 10,
            visibility_timeout_seconds: None,
            receive_id: "r".to_string(),
            now_ms: 100,
        };
        let mut bodies: Vec<String> = state
            .receive_messages(queue, &request)
            .unwrap()
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.message.body)
            .collect();
        bodies.sort();
        bodies
    }

    #[test]
    fn completions_send_their_messages_and_leave_the_queue_together() {
        let state = SqliteState::open_in_memory().unwrap();
        create_queue(&state, "done");
        create_queue(&state, "dead");
        for id in ["a", "b", "c"] {
            state.enqueue(&invocation(id, 10)).unwrap();
        }
        assert_eq!(state.claim_due(10, 1000, 10).unwrap().len(), 3);
        let results = state.complete_all(
            &[
                completion("a", AsyncNext::Finish, &[("done", "ra")]),
                completion("b", AsyncNext::RetryAt(500), &[]),
                completion(
                    "c",
                    AsyncNext::Finish,
                    &[("dead", "ec"), ("gone", "x"), ("done", "rc")],
                ),
            ],
            10,
        );
        let sent: Vec<Vec<Option<String>>> = results
            .into_iter()
            .map(|result| {
                result
                    .unwrap()
                    .into_iter()
                    .map(|sent| sent.map(|s| s.message_id))
                    .collect()
            })
            .collect();
        assert_eq!(
            sent,
            [
                vec![Some("a-ra".to_string())],
                vec![],
                vec![Some("c-ec".to_string()), None, Some("c-rc".to_string())],
            ]
        );
        assert_eq!(bodies(&state, "done"), ["ra", "rc"]);
        assert_eq!(bodies(&state, "dead"), ["ec"]);
        // `a` and `c` are gone; `b` waits for its retry with its attempt counted.
        assert_eq!(
            state.counts(10).unwrap(),
            AsyncQueueCounts {
                waiting: 0,
                running: 0,
                delayed: 1
            }
        );
        let retried = state.claim_due(500, 2000, 10).unwrap();
        assert_eq!(ids(&retried), ["b"]);
        assert_eq!(retried[0].attempts, 1);
    }

    #[test]
    fn a_completion_that_cannot_be_written_holds_back_no_other() {
        let state = SqliteState::open_in_memory().unwrap();
        create_queue(&state, "done");
        for id in ["a", "bad", "c"] {
            state.enqueue(&invocation(id, 10)).unwrap();
        }
        state.claim_due(10, 1000, 10).unwrap();
        state
            .connection()
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE DELETE ON async_invocations
                 WHEN old.request_id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .unwrap();
        let results = state.complete_all(
            &[
                completion("a", AsyncNext::Finish, &[("done", "ra")]),
                completion("bad", AsyncNext::Finish, &[("done", "rbad")]),
                completion("c", AsyncNext::Finish, &[("done", "rc")]),
            ],
            10,
        );
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, false, true]);
        // The refused one sent nothing and is still leased.
        assert_eq!(bodies(&state, "done"), ["ra", "rc"]);
        assert_eq!(state.counts(10).unwrap().running, 1);
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
