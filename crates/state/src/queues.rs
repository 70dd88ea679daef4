//! [`QueueStore`] on SQLite: queues, their messages, visibility and FIFO
//! deduplication.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rayo_core::queue::{
    AttributeValue, DEDUPLICATION_INTERVAL_MS, DeduplicationScope, HandleOutcome, MessageAttribute,
    MessageAttributes, NewMessage, PURGE_INTERVAL_MS, PurgeOutcome, QueueAttributes, QueueCounts,
    QueueRecord, QueueStore, ReceiptHandle, ReceiveRequest, Received, ReceivedMessage, SentMessage,
    StoredMessage,
};
use rayo_core::store::StoreError;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{SqliteState, WriteTransaction, backend, sql_limit};

impl QueueStore for SqliteState {
    fn create_queue(&self, queue: &QueueRecord) -> Result<Option<QueueRecord>, StoreError> {
        let attributes = attributes_json(&queue.attributes)?;
        let tags = serde_json::to_string(&queue.tags).map_err(backend)?;
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let inserted = transaction
            .prepare_cached(
                "INSERT INTO queues (name, attributes, tags, created_ms, last_modified_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    queue.name,
                    attributes,
                    tags,
                    queue.created_ms,
                    queue.last_modified_ms
                ])
            })
            .map_err(backend)?;
        let existing = if inserted == 0 {
            read_queue(&transaction, &queue.name)?
        } else {
            None
        };
        transaction.commit().map_err(backend)?;
        self.queue_cache.forget(&queue.name);
        Ok(existing)
    }

    fn get_queue(&self, name: &str) -> Result<Option<QueueRecord>, StoreError> {
        let connection = self.connection();
        Ok(self
            .queue(&connection, name)?
            .map(|queue| QueueRecord::clone(&queue)))
    }

    fn list_queues(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT name, attributes, tags, created_ms, last_modified_ms FROM queues
                 WHERE (?1 IS NULL OR substr(name, 1, length(?1)) = ?1)
                   AND (?2 IS NULL OR name > ?2)
                 ORDER BY name LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map(
                params![prefix, after, sql_limit(limit)],
                StoredQueue::from_row,
            )
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.into_record())
            .collect()
    }

    fn set_queue_attributes(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let attributes = attributes_json(attributes)?;
        let connection = self.connection();
        let updated = connection
            .prepare_cached(
                "UPDATE queues SET attributes = ?2, last_modified_ms = ?3 WHERE name = ?1",
            )
            .and_then(|mut statement| statement.execute(params![name, attributes, now_ms]))
            .map_err(backend)?;
        self.queue_cache.forget(name);
        Ok(updated > 0)
    }

    fn set_queue_tags(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let tags = serde_json::to_string(tags).map_err(backend)?;
        let connection = self.connection();
        let updated = connection
            .prepare_cached("UPDATE queues SET tags = ?2 WHERE name = ?1")
            .and_then(|mut statement| statement.execute(params![name, tags]))
            .map_err(backend)?;
        self.queue_cache.forget(name);
        Ok(updated > 0)
    }

    fn delete_queue(&self, name: &str) -> Result<bool, StoreError> {
        // Messages and deduplication ids go with the queue (ON DELETE CASCADE).
        let connection = self.connection();
        let deleted = connection
            .prepare_cached("DELETE FROM queues WHERE name = ?1")
            .and_then(|mut statement| statement.execute([name]))
            .map_err(backend)?;
        self.queue_cache.forget(name);
        Ok(deleted > 0)
    }

    fn purge_queue(&self, name: &str, now_ms: i64) -> Result<PurgeOutcome, StoreError> {
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let purged_ms: Option<Option<i64>> = transaction
            .prepare_cached("SELECT purged_ms FROM queues WHERE name = ?1")
            .and_then(|mut statement| statement.query_row([name], |row| row.get(0)).optional())
            .map_err(backend)?;
        let outcome = match purged_ms {
            None => PurgeOutcome::NotFound,
            Some(Some(purged_ms)) if now_ms < purged_ms + PURGE_INTERVAL_MS => {
                PurgeOutcome::InProgress
            }
            Some(_) => {
                transaction
                    .prepare_cached("DELETE FROM queue_messages WHERE queue_name = ?1")
                    .and_then(|mut statement| statement.execute([name]))
                    .map_err(backend)?;
                transaction
                    .prepare_cached("UPDATE queues SET purged_ms = ?2 WHERE name = ?1")
                    .and_then(|mut statement| statement.execute(params![name, now_ms]))
                    .map_err(backend)?;
                PurgeOutcome::Purged
            }
        };
        transaction.commit().map_err(backend)?;
        Ok(outcome)
    }

    fn queue_counts(&self, name: &str, now_ms: i64) -> Result<Option<QueueCounts>, StoreError> {
        let connection = self.connection();
        if !queue_exists(&connection, name)? {
            return Ok(None);
        }
        // Visible messages are counted in the index alone; only those not
        // visible are read, to tell the received from the delayed. A
        // backlog is mostly visible, and clients poll these counts.
        let count = |n: i64| n.max(0) as u64;
        let visible: i64 = connection
            .prepare_cached(COUNT_VISIBLE)
            .and_then(|mut statement| statement.query_row(params![name, now_ms], |row| row.get(0)))
            .map_err(backend)?;
        let (not_visible, delayed): (i64, i64) = connection
            .prepare_cached(COUNT_NOT_VISIBLE)
            .and_then(|mut statement| {
                statement.query_row(params![name, now_ms], |row| Ok((row.get(0)?, row.get(1)?)))
            })
            .map_err(backend)?;
        Ok(Some(QueueCounts {
            visible: count(visible),
            not_visible: count(not_visible),
            delayed: count(delayed),
        }))
    }

    fn send_messages(
        &self,
        queue_name: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<Option<Vec<SentMessage>>, StoreError> {
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let messages: Vec<&NewMessage> = messages.iter().collect();
        let sent = send_in(self, &transaction, queue_name, &messages, now_ms)?;
        if sent.is_some() {
            transaction.commit().map_err(backend)?;
        }
        Ok(sent)
    }

    fn receive_messages(
        &self,
        queue_name: &str,
        request: &ReceiveRequest,
    ) -> Result<Option<Received>, StoreError> {
        let now_ms = request.now_ms;
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let Some(queue) = self.queue(&transaction, queue_name)? else {
            return Ok(None);
        };
        let attributes = &queue.attributes;
        let retention_ms = i64::from(attributes.message_retention_period) * 1000;
        transaction
            .prepare_cached("DELETE FROM queue_messages WHERE queue_name = ?1 AND sent_ms <= ?2")
            .and_then(|mut statement| statement.execute(params![queue_name, now_ms - retention_ms]))
            .map_err(backend)?;

        // The dead-letter queue, when the policy names another queue that
        // exists; otherwise messages stay where they are.
        let redrive = match &attributes.redrive_policy {
            Some(policy)
                if policy.dead_letter_queue_name() != queue_name
                    && queue_exists(&transaction, policy.dead_letter_queue_name())? =>
            {
                Some(policy)
            }
            _ => None,
        };
        let visibility_ms = i64::from(
            request
                .visibility_timeout_seconds
                .unwrap_or(attributes.visibility_timeout),
        ) * 1000;
        let select = if attributes.is_fifo() {
            SELECT_FIFO_CANDIDATES
        } else {
            SELECT_STANDARD_CANDIDATES
        };
        let mut received = Received::default();
        loop {
            let wanted = request.max_messages.saturating_sub(received.messages.len());
            if wanted == 0 {
                break;
            }
            let candidates = transaction
                .prepare_cached(select)
                .and_then(|mut statement| {
                    statement
                        .query_map(
                            params![queue_name, now_ms, sql_limit(wanted)],
                            StoredMessageRow::from_row,
                        )?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(backend)?;
            let n_candidates = candidates.len();
            let mut moved_any = false;
            for candidate in candidates {
                if let Some(policy) = redrive
                    && candidate.receive_count >= policy.max_receive_count
                {
                    let dead_letter_queue = policy.dead_letter_queue_name();
                    transaction
                        .prepare_cached(
                            "UPDATE queue_messages
                             SET queue_name = ?2, visible_ms = ?3, receive_id = NULL,
                                 dead_letter_source_arn = ?4
                             WHERE seq = ?1",
                        )
                        .and_then(|mut statement| {
                            statement.execute(params![
                                candidate.seq,
                                dead_letter_queue,
                                now_ms,
                                policy.source_queue_arn(queue_name)
                            ])
                        })
                        .map_err(backend)?;
                    if !received.moved_to.iter().any(|q| q == dead_letter_queue) {
                        received.moved_to.push(dead_letter_queue.to_string());
                    }
                    moved_any = true;
                    continue;
                }
                transaction
                    .prepare_cached(
                        "UPDATE queue_messages
                         SET visible_ms = ?2, receive_count = receive_count + 1,
                             first_receive_ms = COALESCE(first_receive_ms, ?3), receive_id = ?4
                         WHERE seq = ?1",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![
                            candidate.seq,
                            now_ms + visibility_ms,
                            now_ms,
                            request.receive_id
                        ])
                    })
                    .map_err(backend)?;
                let mut message = candidate.into_message()?;
                message.receive_count += 1;
                message.first_receive_ms.get_or_insert(now_ms);
                received.messages.push(ReceivedMessage {
                    receipt_handle: ReceiptHandle {
                        queue_name: queue_name.to_string(),
                        seq: message.seq,
                        receive_id: request.receive_id.clone(),
                    },
                    message,
                });
            }
            // Moving a message may have made room, or (on a FIFO queue)
            // unblocked its group; otherwise there is nothing more to take.
            if !moved_any || n_candidates == 0 {
                break;
            }
        }
        received.next_visible_ms = transaction
            .prepare_cached(
                "SELECT MIN(visible_ms) FROM queue_messages WHERE queue_name = ?1 AND visible_ms > ?2",
            )
            .and_then(|mut statement| {
                statement.query_row(params![queue_name, now_ms], |row| row.get(0))
            })
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(Some(received))
    }

    fn delete_message(&self, handle: &ReceiptHandle) -> Result<HandleOutcome, StoreError> {
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let outcome = match current_receive(&transaction, handle)? {
            None => HandleOutcome::NotFound,
            Some((receive_id, _)) if receive_id.as_deref() != Some(&handle.receive_id) => {
                HandleOutcome::NotCurrent
            }
            Some(_) => {
                transaction
                    .prepare_cached("DELETE FROM queue_messages WHERE seq = ?1")
                    .and_then(|mut statement| statement.execute([handle.seq]))
                    .map_err(backend)?;
                HandleOutcome::Done
            }
        };
        transaction.commit().map_err(backend)?;
        Ok(outcome)
    }

    fn change_message_visibility(
        &self,
        handle: &ReceiptHandle,
        visibility_timeout_seconds: u32,
        now_ms: i64,
    ) -> Result<HandleOutcome, StoreError> {
        let connection = self.connection();
        let transaction = WriteTransaction::begin(&connection).map_err(backend)?;
        let outcome = match current_receive(&transaction, handle)? {
            None => HandleOutcome::NotFound,
            Some((receive_id, _)) if receive_id.as_deref() != Some(&handle.receive_id) => {
                HandleOutcome::NotCurrent
            }
            Some((_, visible_ms)) if visible_ms <= now_ms => HandleOutcome::NotInFlight,
            Some(_) => {
                let visible_ms = now_ms + i64::from(visibility_timeout_seconds) * 1000;
                transaction
                    .prepare_cached("UPDATE queue_messages SET visible_ms = ?2 WHERE seq = ?1")
                    .and_then(|mut statement| statement.execute(params![handle.seq, visible_ms]))
                    .map_err(backend)?;
                HandleOutcome::Done
            }
        };
        transaction.commit().map_err(backend)?;
        Ok(outcome)
    }
}

/// A queue's visible messages (`?1` the queue, `?2` the time).
const COUNT_VISIBLE: &str =
    "SELECT count(*) FROM queue_messages WHERE queue_name = ?1 AND visible_ms <= ?2";

/// A queue's messages that are not visible: received (in flight), and
/// delayed (never received yet).
const COUNT_NOT_VISIBLE: &str = "SELECT
        count(*) FILTER (WHERE receive_count > 0),
        count(*) FILTER (WHERE receive_count = 0)
    FROM queue_messages WHERE queue_name = ?1 AND visible_ms > ?2";

/// Visible messages of a standard queue, those visible longest first.
/// `?1` is the queue, `?2` the time, `?3` the limit (`+?3`: a bare bound
/// limit makes SQLite compile the statement again on every run).
const SELECT_STANDARD_CANDIDATES: &str = "SELECT seq, message_id, body, attributes,
        system_attributes, group_id, deduplication_id, sent_ms, receive_count,
        first_receive_ms, dead_letter_source_arn
    FROM queue_messages
    WHERE queue_name = ?1 AND visible_ms <= ?2
    ORDER BY visible_ms, seq
    LIMIT +?3";

/// Visible messages of a FIFO queue in order, leaving out every message
/// behind one of its group that is in flight or not yet visible.
const SELECT_FIFO_CANDIDATES: &str = "SELECT m.seq, m.message_id, m.body, m.attributes,
        m.system_attributes, m.group_id, m.deduplication_id, m.sent_ms, m.receive_count,
        m.first_receive_ms, m.dead_letter_source_arn
    FROM queue_messages m
    WHERE m.queue_name = ?1 AND m.visible_ms <= ?2
      AND NOT EXISTS (
          SELECT 1 FROM queue_messages b
          WHERE b.queue_name = m.queue_name AND b.group_id IS NOT NULL
            AND b.group_id = m.group_id AND b.visible_ms > ?2 AND (b.seq < m.seq OR b.receive_count > 0))
    ORDER BY m.seq
    LIMIT +?3";

/// Adds messages to a queue inside the caller's transaction, deduplicating
/// on a FIFO queue; `None` when the queue does not exist.
pub(crate) fn send_in(
    state: &SqliteState,
    transaction: &Connection,
    queue_name: &str,
    messages: &[&NewMessage],
    now_ms: i64,
) -> Result<Option<Vec<SentMessage>>, StoreError> {
    let Some(queue) = state.queue(transaction, queue_name)? else {
        return Ok(None);
    };
    let scope = queue
        .attributes
        .fifo
        .as_ref()
        .map(|fifo| fifo.deduplication_scope);
    if scope.is_some() {
        transaction
            .prepare_cached(
                "DELETE FROM queue_deduplication WHERE queue_name = ?1 AND expires_ms <= ?2",
            )
            .and_then(|mut statement| statement.execute(params![queue_name, now_ms]))
            .map_err(backend)?;
    }
    let mut sent = Vec::with_capacity(messages.len());
    for message in messages {
        let deduplication = match (scope, &message.deduplication_id) {
            (Some(scope), Some(id)) => {
                let scope_key = match scope {
                    DeduplicationScope::Queue => "",
                    DeduplicationScope::MessageGroup => {
                        message.group_id.as_deref().unwrap_or_default()
                    }
                };
                Some((scope_key, id.as_str()))
            }
            _ => None,
        };
        if let Some((scope_key, id)) = deduplication {
            let original: Option<(String, i64)> = transaction
                .prepare_cached(
                    "SELECT message_id, seq FROM queue_deduplication
                     WHERE queue_name = ?1 AND scope = ?2 AND deduplication_id = ?3
                       AND expires_ms > ?4",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row(params![queue_name, scope_key, id, now_ms], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .optional()
                })
                .map_err(backend)?;
            if let Some((message_id, seq)) = original {
                sent.push(SentMessage {
                    message_id,
                    seq,
                    duplicate: true,
                });
                continue;
            }
        }
        let seq = insert_message(transaction, queue_name, message, now_ms)?;
        if let Some((scope_key, id)) = deduplication {
            transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO queue_deduplication
                         (queue_name, scope, deduplication_id, message_id, seq, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        queue_name,
                        scope_key,
                        id,
                        message.message_id,
                        seq,
                        now_ms + DEDUPLICATION_INTERVAL_MS
                    ])
                })
                .map_err(backend)?;
        }
        sent.push(SentMessage {
            message_id: message.message_id.clone(),
            seq,
            duplicate: false,
        });
    }
    Ok(Some(sent))
}

fn insert_message(
    transaction: &Connection,
    queue_name: &str,
    message: &NewMessage,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let attributes = attributes_document(&message.attributes)?;
    let system_attributes = attributes_document(&message.system_attributes)?;
    transaction
        .prepare_cached(
            "INSERT INTO queue_messages
                 (queue_name, message_id, body, attributes, system_attributes, group_id,
                  deduplication_id, sent_ms, visible_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             RETURNING seq",
        )
        .and_then(|mut statement| {
            statement.query_row(
                params![
                    queue_name,
                    message.message_id,
                    message.body,
                    attributes,
                    system_attributes,
                    message.group_id,
                    message.deduplication_id,
                    now_ms,
                    now_ms + i64::from(message.delay_seconds) * 1000,
                ],
                |row| row.get(0),
            )
        })
        .map_err(backend)
}

/// Queue records as last read, by name: every message sent or received
/// reads its queue, and a queue changes only through this store. A name is
/// forgotten by every write to it, and remembered only when read, both
/// under the connection's lock, so a record read here is never older than
/// the last write.
#[derive(Debug, Default)]
pub(crate) struct QueueCache {
    records: Mutex<HashMap<String, Arc<QueueRecord>>>,
}

impl QueueCache {
    fn get(&self, name: &str) -> Option<Arc<QueueRecord>> {
        self.lock().get(name).cloned()
    }

    fn put(&self, record: Arc<QueueRecord>) {
        self.lock().insert(record.name.clone(), record);
    }

    fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<QueueRecord>>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SqliteState {
    /// The queue `name`, remembered or read through `connection`, whose
    /// lock the caller holds (outside any transaction that wrote queues).
    fn queue(
        &self,
        connection: &Connection,
        name: &str,
    ) -> Result<Option<Arc<QueueRecord>>, StoreError> {
        if let Some(queue) = self.queue_cache.get(name) {
            return Ok(Some(queue));
        }
        let Some(queue) = read_queue(connection, name)? else {
            return Ok(None);
        };
        let queue = Arc::new(queue);
        self.queue_cache.put(Arc::clone(&queue));
        Ok(Some(queue))
    }
}

fn read_queue(connection: &Connection, name: &str) -> Result<Option<QueueRecord>, StoreError> {
    connection
        .prepare_cached(
            "SELECT name, attributes, tags, created_ms, last_modified_ms FROM queues WHERE name = ?1",
        )
        .and_then(|mut statement| statement.query_row([name], StoredQueue::from_row).optional())
        .map_err(backend)?
        .map(StoredQueue::into_record)
        .transpose()
}

fn queue_exists(connection: &Connection, name: &str) -> Result<bool, StoreError> {
    connection
        .prepare_cached("SELECT 1 FROM queues WHERE name = ?1")
        .and_then(|mut statement| statement.exists([name]))
        .map_err(backend)
}

/// The receive id and visibility of the message a handle names, if it is
/// still in the handle's queue.
fn current_receive(
    transaction: &Connection,
    handle: &ReceiptHandle,
) -> Result<Option<(Option<String>, i64)>, StoreError> {
    transaction
        .prepare_cached(
            "SELECT receive_id, visible_ms FROM queue_messages WHERE seq = ?1 AND queue_name = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![handle.seq, handle.queue_name], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .map_err(backend)
}

fn attributes_json(attributes: &QueueAttributes) -> Result<String, StoreError> {
    let pairs: BTreeMap<&str, String> = attributes.to_pairs().into_iter().collect();
    serde_json::to_string(&pairs).map_err(backend)
}

/// A queue's columns as read, before the JSON is parsed.
struct StoredQueue {
    name: String,
    attributes: String,
    tags: String,
    created_ms: i64,
    last_modified_ms: i64,
}

impl StoredQueue {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredQueue> {
        Ok(StoredQueue {
            name: row.get(0)?,
            attributes: row.get(1)?,
            tags: row.get(2)?,
            created_ms: row.get(3)?,
            last_modified_ms: row.get(4)?,
        })
    }

    fn into_record(self) -> Result<QueueRecord, StoreError> {
        let name = self.name;
        let unreadable = |what: &str, error: &dyn std::fmt::Display| -> StoreError {
            StoreError::Backend(format!("queue {name} has unreadable {what}: {error}"))
        };
        let pairs: BTreeMap<String, String> =
            serde_json::from_str(&self.attributes).map_err(|e| unreadable("attributes", &e))?;
        let attributes =
            QueueAttributes::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(|e| unreadable("attributes", &e))?;
        let tags = serde_json::from_str(&self.tags).map_err(|e| unreadable("tags", &e))?;
        Ok(QueueRecord {
            name: name.clone(),
            attributes,
            tags,
            created_ms: self.created_ms,
            last_modified_ms: self.last_modified_ms,
        })
    }
}

/// A message attribute as stored: the data type and one of the values.
#[derive(Debug, Serialize, Deserialize)]
struct AttributeDocument {
    #[serde(rename = "type")]
    data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    binary: Option<Vec<u8>>,
}

/// Message attributes as a JSON document; `None` when there are none.
fn attributes_document(attributes: &MessageAttributes) -> Result<Option<String>, StoreError> {
    if attributes.is_empty() {
        return Ok(None);
    }
    let documents: BTreeMap<&str, AttributeDocument> = attributes
        .iter()
        .map(|(name, attribute)| {
            let (string, binary) = match &attribute.value {
                AttributeValue::String(s) => (Some(s.clone()), None),
                AttributeValue::Binary(b) => (None, Some(b.clone())),
            };
            (
                name.as_str(),
                AttributeDocument {
                    data_type: attribute.data_type.clone(),
                    string,
                    binary,
                },
            )
        })
        .collect();
    serde_json::to_string(&documents).map(Some).map_err(backend)
}

fn attributes_from_document(document: Option<&str>) -> Result<MessageAttributes, StoreError> {
    let Some(document) = document else {
        return Ok(MessageAttributes::new());
    };
    let documents: BTreeMap<String, AttributeDocument> =
        serde_json::from_str(document).map_err(backend)?;
    Ok(documents
        .into_iter()
        .map(|(name, document)| {
            let value = match (document.string, document.binary) {
                (_, Some(binary)) => AttributeValue::Binary(binary),
                (string, None) => AttributeValue::String(string.unwrap_or_default()),
            };
            (
                name,
                MessageAttribute {
                    data_type: document.data_type,
                    value,
                },
            )
        })
        .collect())
}

/// A message's columns as read, in the candidate queries' order.
struct StoredMessageRow {
    seq: i64,
    message_id: String,
    body: String,
    attributes: Option<String>,
    system_attributes: Option<String>,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    sent_ms: i64,
    receive_count: u32,
    first_receive_ms: Option<i64>,
    dead_letter_source_arn: Option<String>,
}

impl StoredMessageRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredMessageRow> {
        Ok(StoredMessageRow {
            seq: row.get(0)?,
            message_id: row.get(1)?,
            body: row.get(2)?,
            attributes: row.get(3)?,
            system_attributes: row.get(4)?,
            group_id: row.get(5)?,
            deduplication_id: row.get(6)?,
            sent_ms: row.get(7)?,
            receive_count: row.get(8)?,
            first_receive_ms: row.get(9)?,
            dead_letter_source_arn: row.get(10)?,
        })
    }

    fn into_message(self) -> Result<StoredMessage, StoreError> {
        Ok(StoredMessage {
            seq: self.seq,
            message_id: self.message_id,
            body: self.body,
            attributes: attributes_from_document(self.attributes.as_deref())?,
            system_attributes: attributes_from_document(self.system_attributes.as_deref())?,
            group_id: self.group_id,
            deduplication_id: self.deduplication_id,
            sent_ms: self.sent_ms,
            receive_count: self.receive_count,
            first_receive_ms: self.first_receive_ms,
            dead_letter_source_arn: self.dead_letter_source_arn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn queue(name: &str, pairs: &[(&str, &str)]) -> QueueRecord {
        let requested = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueueRecord {
            name: name.to_string(),
            attributes: QueueAttributes::for_new_queue(name, &requested).unwrap(),
            tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
            created_ms: T0,
            last_modified_ms: T0,
        }
    }

    fn message(id: &str) -> NewMessage {
        NewMessage {
            message_id: id.to_string(),
            body: format!("body of {id}"),
            attributes: MessageAttributes::new(),
            system_attributes: MessageAttributes::new(),
            group_id: None,
            deduplication_id: None,
            delay_seconds: 0,
        }
    }

    fn fifo_message(id: &str, group: &str) -> NewMessage {
        NewMessage {
            group_id: Some(group.to_string()),
            deduplication_id: Some(id.to_string()),
            ..message(id)
        }
    }

    fn receive(state: &SqliteState, queue: &str, max: usize, now_ms: i64) -> Vec<ReceivedMessage> {
        state
            .receive_messages(
                queue,
                &ReceiveRequest {
                    max_messages: max,
                    visibility_timeout_seconds: None,
                    receive_id: format!("r{now_ms}"),
                    now_ms,
                },
            )
            .unwrap()
            .unwrap()
            .messages
    }

    fn ids(messages: &[ReceivedMessage]) -> Vec<&str> {
        messages
            .iter()
            .map(|m| m.message.message_id.as_str())
            .collect()
    }

    fn counts(state: &SqliteState, queue: &str, now_ms: i64) -> (u64, u64, u64) {
        let c = state.queue_counts(queue, now_ms).unwrap().unwrap();
        (c.visible, c.not_visible, c.delayed)
    }

    #[test]
    fn counts_read_only_the_index_for_visible_messages() {
        let state = SqliteState::open_in_memory().unwrap();
        let connection = state.connection();
        let plan = |sql: &str| -> String {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows: Vec<String> = statement
                .query_map(params!["q", 1], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.join("; ")
        };
        let visible = plan(COUNT_VISIBLE);
        assert!(
            visible.contains("COVERING INDEX queue_messages_visible"),
            "{visible}"
        );
        let not_visible = plan(COUNT_NOT_VISIBLE);
        assert!(
            not_visible.contains("INDEX queue_messages_visible"),
            "{not_visible}"
        );
    }

    #[test]
    fn remembered_queues_are_forgotten_when_written() {
        let state = SqliteState::open_in_memory().unwrap();
        state.create_queue(&queue("q", &[])).unwrap();
        state.send_messages("q", &[message("a")], T0).unwrap();
        // Received under the queue's default visibility timeout (30 s).
        assert_eq!(ids(&receive(&state, "q", 10, T0)), ["a"]);
        let shorter = queue("q", &[("VisibilityTimeout", "5")]);
        state
            .set_queue_attributes("q", &shorter.attributes, T0)
            .unwrap();
        state.send_messages("q", &[message("b")], T0).unwrap();
        assert_eq!(ids(&receive(&state, "q", 10, T0)), ["b"]);
        assert_eq!(ids(&receive(&state, "q", 10, T0 + 5_000)), ["b"]);
        assert!(state.delete_queue("q").unwrap());
        assert_eq!(state.send_messages("q", &[message("c")], T0).unwrap(), None);
        state.create_queue(&queue("q", &[])).unwrap();
        assert_eq!(state.get_queue("q").unwrap(), Some(queue("q", &[])));
    }

    #[test]
    fn create_get_list_set_delete() {
        let state = SqliteState::open_in_memory().unwrap();
        let q = queue("alpha", &[("VisibilityTimeout", "5")]);
        assert_eq!(state.create_queue(&q).unwrap(), None);
        assert_eq!(
            state.create_queue(&queue("alpha", &[])).unwrap(),
            Some(q.clone())
        );
        assert_eq!(state.get_queue("alpha").unwrap(), Some(q.clone()));
        state.create_queue(&queue("beta", &[])).unwrap();
        state.create_queue(&queue("alphabet", &[])).unwrap();
        let names = |v: Vec<QueueRecord>| v.into_iter().map(|q| q.name).collect::<Vec<_>>();
        assert_eq!(
            names(state.list_queues(Some("alpha"), None, 10).unwrap()),
            ["alpha", "alphabet"]
        );
        assert_eq!(
            names(state.list_queues(Some("Alpha"), None, 10).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(
            names(state.list_queues(None, Some("alpha"), 1).unwrap()),
            ["alphabet"]
        );
        let mut attributes = q.attributes.clone();
        attributes.set("DelaySeconds", "3").unwrap();
        assert!(
            state
                .set_queue_attributes("alpha", &attributes, T0 + 5)
                .unwrap()
        );
        let read = state.get_queue("alpha").unwrap().unwrap();
        assert_eq!(read.attributes.delay_seconds, 3);
        assert_eq!(read.last_modified_ms, T0 + 5);
        assert!(!state.set_queue_attributes("nope", &attributes, T0).unwrap());
        let tags = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert!(state.set_queue_tags("alpha", &tags).unwrap());
        assert_eq!(state.get_queue("alpha").unwrap().unwrap().tags, tags);
        assert!(!state.set_queue_tags("nope", &tags).unwrap());
        assert!(state.delete_queue("alpha").unwrap());
        assert!(!state.delete_queue("alpha").unwrap());
        assert_eq!(state.get_queue("alpha").unwrap(), None);
    }

    #[test]
    fn messages_are_received_hidden_and_come_back() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_queue(&queue("q", &[("VisibilityTimeout", "10")]))
            .unwrap();
        let mut with_attributes = message("a");
        with_attributes.attributes.insert(
            "bin".to_string(),
            MessageAttribute {
                data_type: "Binary".to_string(),
                value: AttributeValue::Binary(vec![0, 255]),
            },
        );
        let mut delayed = message("c");
        delayed.delay_seconds = 5;
        let sent = state
            .send_messages("q", &[with_attributes.clone(), message("b"), delayed], T0)
            .unwrap()
            .unwrap();
        assert_eq!(sent.len(), 3);
        assert!(sent[0].seq < sent[1].seq);
        assert_eq!(counts(&state, "q", T0), (2, 0, 1));

        let first = receive(&state, "q", 10, T0);
        assert_eq!(ids(&first), ["a", "b"]);
        assert_eq!(first[0].message.attributes, with_attributes.attributes);
        assert_eq!(first[0].message.receive_count, 1);
        assert_eq!(first[0].message.first_receive_ms, Some(T0));
        assert_eq!(counts(&state, "q", T0), (0, 2, 1));
        assert!(receive(&state, "q", 10, T0 + 1).is_empty());

        // The delayed one shows up after its delay, the others after the timeout.
        assert_eq!(ids(&receive(&state, "q", 10, T0 + 5_000)), ["c"]);
        let again = receive(&state, "q", 10, T0 + 10_000);
        assert_eq!(ids(&again), ["a", "b"]);
        assert_eq!(again[0].message.receive_count, 2);
        assert_eq!(again[0].message.first_receive_ms, Some(T0));

        // Only the latest receive's handle deletes.
        let stale = &first[0].receipt_handle;
        assert_eq!(
            state.delete_message(stale).unwrap(),
            HandleOutcome::NotCurrent
        );
        let current = &again[0].receipt_handle;
        assert_eq!(state.delete_message(current).unwrap(), HandleOutcome::Done);
        assert_eq!(
            state.delete_message(current).unwrap(),
            HandleOutcome::NotFound
        );
    }

    #[test]
    fn visibility_changes() {
        let state = SqliteState::open_in_memory().unwrap();
        state.create_queue(&queue("q", &[])).unwrap();
        state.send_messages("q", &[message("a")], T0).unwrap();
        let got = receive(&state, "q", 1, T0);
        let handle = &got[0].receipt_handle;
        assert_eq!(
            state.change_message_visibility(handle, 0, T0 + 1).unwrap(),
            HandleOutcome::Done
        );
        assert_eq!(
            state.change_message_visibility(handle, 60, T0 + 2).unwrap(),
            HandleOutcome::NotInFlight
        );
        let again = receive(&state, "q", 1, T0 + 2);
        assert_eq!(
            state.change_message_visibility(handle, 60, T0 + 3).unwrap(),
            HandleOutcome::NotCurrent
        );
        assert_eq!(
            state
                .change_message_visibility(&again[0].receipt_handle, 100, T0 + 3)
                .unwrap(),
            HandleOutcome::Done
        );
        assert!(receive(&state, "q", 1, T0 + 99_000).is_empty());
        assert_eq!(receive(&state, "q", 1, T0 + 100_003).len(), 1);
    }

    #[test]
    fn fifo_keeps_group_order_and_deduplicates() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_queue(&queue("q.fifo", &[("FifoQueue", "true")]))
            .unwrap();
        let batch = [
            fifo_message("a1", "a"),
            fifo_message("b1", "b"),
            fifo_message("a2", "a"),
            fifo_message("a1", "a"),
        ];
        let sent = state.send_messages("q.fifo", &batch, T0).unwrap().unwrap();
        assert_eq!(
            sent.iter().map(|s| s.duplicate).collect::<Vec<_>>(),
            [false, false, false, true]
        );
        assert_eq!(sent[3].message_id, "a1");
        assert_eq!(sent[3].seq, sent[0].seq);

        // Group a is locked while a1 is in flight; b is not.
        let first = receive(&state, "q.fifo", 1, T0);
        assert_eq!(ids(&first), ["a1"]);
        assert_eq!(ids(&receive(&state, "q.fifo", 10, T0)), ["b1"]);
        assert!(receive(&state, "q.fifo", 10, T0).is_empty());
        state.delete_message(&first[0].receipt_handle).unwrap();
        assert_eq!(ids(&receive(&state, "q.fifo", 10, T0)), ["a2"]);

        // The id is remembered after the message is gone, for five minutes.
        let again = state
            .send_messages("q.fifo", &[fifo_message("a1", "a")], T0 + 1000)
            .unwrap()
            .unwrap();
        assert!(again[0].duplicate);
        let later = state
            .send_messages(
                "q.fifo",
                &[fifo_message("a1", "a")],
                T0 + DEDUPLICATION_INTERVAL_MS,
            )
            .unwrap()
            .unwrap();
        assert!(!later[0].duplicate);
    }

    #[test]
    fn fifo_receives_a_group_in_order_in_one_batch() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_queue(&queue("q.fifo", &[("FifoQueue", "true")]))
            .unwrap();
        let batch: Vec<NewMessage> = (0..5)
            .map(|i| fifo_message(&format!("m{i}"), "g"))
            .collect();
        state.send_messages("q.fifo", &batch, T0).unwrap();
        assert_eq!(ids(&receive(&state, "q.fifo", 3, T0)), ["m0", "m1", "m2"]);
        assert!(receive(&state, "q.fifo", 3, T0).is_empty());
    }

    #[test]
    fn redrive_moves_messages_to_the_dead_letter_queue() {
        let state = SqliteState::open_in_memory().unwrap();
        state.create_queue(&queue("dlq", &[])).unwrap();
        state
            .create_queue(&queue(
                "src",
                &[
                    ("VisibilityTimeout", "1"),
                    (
                        "RedrivePolicy",
                        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#,
                    ),
                ],
            ))
            .unwrap();
        state.send_messages("src", &[message("a")], T0).unwrap();
        assert_eq!(receive(&state, "src", 1, T0).len(), 1);
        assert_eq!(receive(&state, "src", 1, T0 + 1000).len(), 1);
        let third = state
            .receive_messages(
                "src",
                &ReceiveRequest {
                    max_messages: 1,
                    visibility_timeout_seconds: None,
                    receive_id: "r".to_string(),
                    now_ms: T0 + 2000,
                },
            )
            .unwrap()
            .unwrap();
        assert!(third.messages.is_empty());
        assert_eq!(third.moved_to, ["dlq"]);
        let dead = receive(&state, "dlq", 1, T0 + 2000);
        assert_eq!(ids(&dead), ["a"]);
        assert_eq!(
            dead[0].message.dead_letter_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:src")
        );
        assert_eq!(dead[0].message.sent_ms, T0);
    }

    #[test]
    fn a_queue_that_is_its_own_dead_letter_queue_keeps_its_messages() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_queue(&queue("loop", &[("VisibilityTimeout", "0")]))
            .unwrap();
        let mut attributes = state.get_queue("loop").unwrap().unwrap().attributes;
        attributes
            .set(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:loop","maxReceiveCount":1}"#,
            )
            .unwrap();
        state.set_queue_attributes("loop", &attributes, T0).unwrap();
        state.send_messages("loop", &[message("a")], T0).unwrap();
        for n in 1..=3 {
            let got = receive(&state, "loop", 1, T0 + n);
            assert_eq!(got[0].message.receive_count, n as u32);
        }
    }

    #[test]
    fn purge_and_retention() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_queue(&queue("q", &[("MessageRetentionPeriod", "60")]))
            .unwrap();
        state.send_messages("q", &[message("a")], T0).unwrap();
        state
            .send_messages("q", &[message("b")], T0 + 30_000)
            .unwrap();
        assert_eq!(ids(&receive(&state, "q", 10, T0 + 60_000)), ["b"]);
        assert_eq!(counts(&state, "q", T0 + 60_000), (0, 1, 0));
        assert_eq!(
            state.purge_queue("q", T0 + 60_000).unwrap(),
            PurgeOutcome::Purged
        );
        assert_eq!(counts(&state, "q", T0 + 60_000), (0, 0, 0));
        assert_eq!(
            state.purge_queue("q", T0 + 61_000).unwrap(),
            PurgeOutcome::InProgress
        );
        assert_eq!(
            state.purge_queue("q", T0 + 120_000).unwrap(),
            PurgeOutcome::Purged
        );
        assert_eq!(state.purge_queue("x", T0).unwrap(), PurgeOutcome::NotFound);
    }

    #[test]
    fn missing_queues() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(state.send_messages("x", &[message("a")], T0).unwrap(), None);
        assert_eq!(state.queue_counts("x", T0).unwrap(), None);
        let request = ReceiveRequest {
            max_messages: 1,
            visibility_timeout_seconds: None,
            receive_id: "r".to_string(),
            now_ms: T0,
        };
        assert_eq!(state.receive_messages("x", &request).unwrap(), None);
    }

    #[test]
    fn messages_survive_reopening_with_their_visibility() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let handle = {
            let state = SqliteState::open(&path).unwrap();
            state.create_queue(&queue("q", &[])).unwrap();
            state
                .send_messages("q", &[message("a"), message("b")], T0)
                .unwrap();
            receive(&state, "q", 1, T0)[0].receipt_handle.clone()
        };
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(counts(&state, "q", T0 + 1), (1, 1, 0));
        assert_eq!(ids(&receive(&state, "q", 10, T0 + 1)), ["b"]);
        assert_eq!(state.delete_message(&handle).unwrap(), HandleOutcome::Done);
    }

    #[test]
    fn receives_are_not_compiled_again_on_every_run() {
        // A receive runs for every ReceiveMessage; SQLite compiles a
        // statement again when a bound value it planned with changes.
        let state = SqliteState::open_in_memory().unwrap();
        state.create_queue(&queue("q", &[])).unwrap();
        state
            .send_messages("q", &[message("a"), message("b")], 1)
            .unwrap();
        let connection = state.connection();
        for sql in [SELECT_STANDARD_CANDIDATES, SELECT_FIFO_CANDIDATES] {
            let mut statement = connection.prepare_cached(sql).unwrap();
            for n in 1..6_i64 {
                let mut rows = statement.query(params!["q", 10 + n, n]).unwrap();
                while rows.next().unwrap().is_some() {}
            }
            let n = statement.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(n, 0, "{sql}");
        }
    }

    #[test]
    fn receives_use_indexes() {
        let state = SqliteState::open_in_memory().unwrap();
        let plan = |sql: &str| {
            let connection = state.connection();
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let plan: Vec<String> = statement
                .query_map(params!["q", T0, 10], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            plan.join("; ")
        };
        let standard = plan(SELECT_STANDARD_CANDIDATES);
        assert!(
            standard.contains("USING INDEX queue_messages_visible"),
            "{standard}"
        );
        assert!(!standard.contains("TEMP B-TREE"), "{standard}");
        let fifo = plan(SELECT_FIFO_CANDIDATES);
        assert!(fifo.contains("USING INDEX queue_messages_group"), "{fifo}");
    }
}
