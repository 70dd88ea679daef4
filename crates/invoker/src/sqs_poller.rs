//! Runs event source mappings on rayo's SQS queues, as Lambda's pollers do.
//!
//! A supervisor keeps one poller per enabled mapping, started and stopped
//! as mappings are created, changed, disabled and deleted (the API wakes it;
//! it also reads the mappings again every minute). A poller claims a batch
//! from the queue for the queue's visibility timeout (up to `BatchSize`
//! messages, gathered for up to `MaximumBatchingWindowInSeconds`), invokes
//! the function synchronously with the SQS event, and deletes the batch when
//! the function succeeds. When it fails, the messages stay in the queue and
//! come back after their visibility timeout, so the queue's redrive policy
//! moves them to its dead-letter queue after `maxReceiveCount` receives. With
//! `ReportBatchItemFailures`, only the messages the function names as failed
//! stay. A throttled invocation is retried with backoff for as long as the
//! batch stays invisible, then left to come back; a message leaves the queue
//! only when a function has processed it, so none is lost across crashes and
//! restarts (it is delivered at least once).
//!
//! A poller runs more batches at once while it keeps finding full batches,
//! up to the function's concurrency (its reservation, the account limit and
//! the mapping's `MaximumConcurrency`), and fewer after throttles and
//! function errors. It waits for messages without polling: sends to the
//! queue wake it through the [`crate::QueueNotifier`], and messages coming
//! back from invisibility or a delay when they are due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use rayo_core::event_source::{EventSourceMapping, EventSourceMappingStore, MappingFilter};
use rayo_core::queue::{
    AttributeValue, MessageAttributes, ReceiveRequest, ReceivedMessage, md5_hex,
    md5_of_message_attributes,
};
use rayo_core::{FunctionRef, Region, limits};
use rayo_executor::ExecutorError;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dispatcher::now_ms;
use crate::{InvokeError, InvokeRequest, Invoker};

/// How the pollers run.
#[derive(Debug, Clone)]
pub struct SqsPollerOptions {
    /// The account's concurrency limit: no mapping runs more invocations
    /// at once.
    pub account_concurrency: u32,
}

/// The running pollers of every enabled event source mapping.
#[derive(Debug)]
pub struct SqsPoller {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The mappings are read again at least this often, whatever the API says.
const REREAD: Duration = Duration::from_secs(60);
/// A poller whose function or queue is missing looks again this often.
const MISSING_RETRY: Duration = Duration::from_secs(1);
/// An idle poller looks at its queue at least this often, as a long poll
/// would; sends and due messages wake it sooner.
const IDLE_POLL: Duration = Duration::from_secs(20);
/// After a throttle, a poller takes no new batch for this long.
const THROTTLE_PAUSE: Duration = Duration::from_millis(500);
/// The first wait before retrying a throttled invocation; it doubles.
const THROTTLE_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest wait between retries of a throttled invocation.
const THROTTLE_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl SqsPoller {
    /// Starts polling for the enabled mappings of `mappings`;
    /// `mappings_changed` wakes the supervisor after a mapping changes.
    pub fn start(
        invoker: Invoker,
        mappings: Arc<dyn EventSourceMappingStore>,
        mappings_changed: Arc<Notify>,
        options: SqsPollerOptions,
    ) -> SqsPoller {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(
            invoker,
            mappings,
            mappings_changed,
            options,
            stopped,
        ));
        SqsPoller { stop, task }
    }

    /// Stops taking batches, waits for the invocations running to finish
    /// (and their messages to be deleted), and makes the messages gathered
    /// but not yet handed to a function visible again.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A running poller, and the settings it runs with.
#[derive(Debug)]
struct Running {
    mapping: EventSourceMapping,
    stop: watch::Sender<bool>,
}

async fn supervise(
    invoker: Invoker,
    mappings: Arc<dyn EventSourceMappingStore>,
    mappings_changed: Arc<Notify>,
    options: SqsPollerOptions,
    mut stopped: watch::Receiver<bool>,
) {
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut pollers = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        match mappings.list_mappings(&MappingFilter::default(), None, usize::MAX) {
            Ok(all) => {
                let wanted: HashMap<String, EventSourceMapping> = all
                    .into_iter()
                    .filter(|m| m.enabled)
                    .map(|m| (m.uuid.clone(), m))
                    .collect();
                // Stop pollers of mappings deleted, disabled or changed;
                // their running invocations finish on their own.
                running.retain(|uuid, poller| {
                    let keep = wanted.get(uuid) == Some(&poller.mapping);
                    if !keep {
                        tracing::info!(uuid, "stopping an event source mapping's poller");
                        let _ = poller.stop.send(true);
                    }
                    keep
                });
                for (uuid, mapping) in wanted {
                    if running.contains_key(&uuid) {
                        continue;
                    }
                    let Some(queue_name) = mapping.queue_name().map(str::to_string) else {
                        tracing::warn!(%uuid, arn = %mapping.event_source_arn, "an event source mapping names no queue");
                        continue;
                    };
                    tracing::info!(%uuid, queue = %queue_name, function = %mapping.function_name,
                        "starting an event source mapping's poller");
                    let (stop, poller_stopped) = watch::channel(false);
                    let poller = MappingPoller {
                        invoker: invoker.clone(),
                        mapping: mapping.clone(),
                        queue_name,
                        account_concurrency: options.account_concurrency,
                    };
                    pollers.spawn(poller.run(poller_stopped));
                    running.insert(uuid, Running { mapping, stop });
                }
            }
            Err(error) => tracing::error!(%error, "could not read the event source mappings"),
        }
        while pollers.try_join_next().is_some() {}
        tokio::select! {
            _ = mappings_changed.notified() => {}
            _ = tokio::time::sleep(REREAD) => {}
            _ = stopped.changed() => {}
        }
    }
    for poller in running.values() {
        let _ = poller.stop.send(true);
    }
    while pollers.join_next().await.is_some() {}
}

/// One mapping's poller.
#[derive(Debug, Clone)]
struct MappingPoller {
    invoker: Invoker,
    mapping: EventSourceMapping,
    queue_name: String,
    account_concurrency: u32,
}

/// How one batch went, for the poller's scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchOutcome {
    /// Every message was processed (or reported as failed by the function).
    Processed,
    /// The function failed: the batch comes back after its visibility timeout.
    FunctionError,
    /// Throttled until the batch's visibility timeout ran out.
    Throttled,
    /// The invocation could not run (the function is gone, the server stops).
    NotRun,
}

/// What gathering a batch ended with.
#[derive(Debug)]
enum Gathered {
    /// Messages to hand to the function.
    Batch(Batch),
    /// Nothing yet; look again.
    Nothing,
    /// The queue does not exist.
    NoQueue,
    /// The poller was stopped.
    Stopped,
}

/// Messages claimed together, and when their invisibility ends.
#[derive(Debug)]
struct Batch {
    messages: Vec<ReceivedMessage>,
    /// When the first of them becomes visible again, in milliseconds since
    /// the epoch: retrying a throttled invocation past it is pointless.
    visible_again_ms: i64,
}

impl MappingPoller {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut batches: JoinSet<BatchOutcome> = JoinSet::new();
        let mut target = 1usize;
        let mut paused_until: Option<Instant> = None;
        loop {
            if *stopped.borrow() {
                break;
            }
            while let Some(outcome) = batches.try_join_next() {
                self.adjust(&mut target, &mut paused_until, outcome);
            }
            if let Some(until) = paused_until.take()
                && Instant::now() < until
            {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let Some(cap) = self.concurrency_cap() else {
                // The function is missing or may not run at all: leave the
                // messages where they are.
                tokio::select! {
                    _ = tokio::time::sleep(MISSING_RETRY) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            };
            target = target.clamp(1, cap);
            if batches.len() >= target {
                tokio::select! {
                    Some(outcome) = batches.join_next() => {
                        self.adjust(&mut target, &mut paused_until, outcome);
                    }
                    _ = stopped.changed() => {}
                }
                continue;
            }
            match self.gather(&mut stopped).await {
                Gathered::Batch(batch) => {
                    let full = batch.messages.len() >= self.mapping.batch_size as usize;
                    let poller = self.clone();
                    let batch_stopped = stopped.clone();
                    batches.spawn(async move { poller.process(batch, batch_stopped).await });
                    // A full batch means a backlog: take one more at once.
                    if full {
                        target = (target + 1).min(cap);
                    } else {
                        target = target.saturating_sub(1).max(1);
                    }
                }
                Gathered::Nothing => {}
                Gathered::NoQueue => {
                    tokio::select! {
                        _ = tokio::time::sleep(MISSING_RETRY) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Gathered::Stopped => break,
            }
        }
        while let Some(outcome) = batches.join_next().await {
            tracing::debug!(uuid = %self.mapping.uuid, ?outcome, "batch finished after the poller stopped");
        }
    }

    fn adjust(
        &self,
        target: &mut usize,
        paused_until: &mut Option<Instant>,
        outcome: Result<BatchOutcome, tokio::task::JoinError>,
    ) {
        match outcome {
            Ok(BatchOutcome::Processed) => {}
            Ok(BatchOutcome::FunctionError) => {
                // Lambda scales down on function errors, unless the function
                // reports its failures item by item.
                if !self.mapping.report_batch_item_failures {
                    *target = target.saturating_sub(1).max(1);
                }
            }
            Ok(BatchOutcome::Throttled) => {
                *target = (*target / 2).max(1);
                *paused_until = Some(Instant::now() + THROTTLE_PAUSE);
            }
            Ok(BatchOutcome::NotRun) => {}
            Err(error) => {
                tracing::error!(uuid = %self.mapping.uuid, %error, "a batch's task failed");
            }
        }
    }

    /// How many batches may run at once: the function's reserved
    /// concurrency, the account's limit and the mapping's
    /// `MaximumConcurrency`; `None` when the function is missing or may not
    /// run at all (a reservation of 0).
    fn concurrency_cap(&self) -> Option<usize> {
        let (record, _) = self.invoker.resolve(&self.function()).ok()?;
        let cap = [
            Some(self.account_concurrency),
            record.reserved_concurrency,
            self.mapping.maximum_concurrency,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(1);
        (cap > 0).then_some(cap as usize)
    }

    fn function(&self) -> FunctionRef {
        FunctionRef {
            name: self.mapping.function_name.clone(),
            qualifier: self.mapping.qualifier.clone(),
        }
    }

    /// Claims up to `BatchSize` messages: at once when there is no batching
    /// window, otherwise until the batch is full or the window, opened by
    /// the first message, has passed. Waits for a first message.
    async fn gather(&self, stopped: &mut watch::Receiver<bool>) -> Gathered {
        let batch_size = self.mapping.batch_size as usize;
        let window = Duration::from_secs(u64::from(self.mapping.maximum_batching_window_seconds));
        let notifier = &self.invoker.queue_notifier;
        let mut messages: Vec<ReceivedMessage> = Vec::new();
        let mut visible_again_ms = i64::MAX;
        let mut window_ends: Option<Instant> = None;
        loop {
            // Registered before looking, so a send in between wakes the poller.
            let notified = notifier.notified(&self.queue_name);
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.concurrency_cap().is_none() {
                // The function is gone: receiving would only count receives.
                return self.release_or(messages, Gathered::Nothing);
            }
            let now = now_ms();
            let visibility_timeout = match self.invoker.queues.get_queue(&self.queue_name) {
                Ok(Some(queue)) => queue.attributes.visibility_timeout,
                Ok(None) => return self.release_or(messages, Gathered::NoQueue),
                Err(error) => {
                    tracing::error!(queue = %self.queue_name, %error, "could not read a queue");
                    return self.release_or(messages, Gathered::NoQueue);
                }
            };
            let request = ReceiveRequest {
                max_messages: batch_size - messages.len(),
                visibility_timeout_seconds: Some(visibility_timeout),
                receive_id: uuid::Uuid::new_v4().simple().to_string(),
                now_ms: now,
            };
            let received = match self
                .invoker
                .queues
                .receive_messages(&self.queue_name, &request)
            {
                Ok(Some(received)) => received,
                Ok(None) => return self.release_or(messages, Gathered::NoQueue),
                Err(error) => {
                    tracing::error!(queue = %self.queue_name, %error, "could not receive from a queue");
                    return self.release_or(messages, Gathered::NoQueue);
                }
            };
            for dead_letter_queue in &received.moved_to {
                notifier.notify(dead_letter_queue);
            }
            if !received.messages.is_empty() {
                visible_again_ms = visible_again_ms.min(now + i64::from(visibility_timeout) * 1000);
            }
            messages.extend(received.messages);
            let now_instant = Instant::now();
            let wake_at = if messages.len() >= batch_size {
                return Gathered::Batch(Batch {
                    messages,
                    visible_again_ms,
                });
            } else if !messages.is_empty() {
                let ends = *window_ends.get_or_insert(now_instant + window);
                if now_instant >= ends {
                    return Gathered::Batch(Batch {
                        messages,
                        visible_again_ms,
                    });
                }
                ends
            } else {
                now_instant + IDLE_POLL
            };
            let wake_at = match received.next_visible_ms {
                Some(visible_ms) => wake_at.min(
                    now_instant
                        + Duration::from_millis(u64::try_from(visible_ms - now).unwrap_or(0)),
                ),
                None => wake_at,
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = stopped.changed() => {}
            }
            if *stopped.borrow() {
                return self.release_or(messages, Gathered::Stopped);
            }
            if messages.is_empty()
                && Instant::now() >= wake_at
                && received.next_visible_ms.is_none()
            {
                return Gathered::Nothing;
            }
        }
    }

    /// Makes messages gathered but not handed to the function visible again
    /// at once, and returns `otherwise`.
    fn release_or(&self, messages: Vec<ReceivedMessage>, otherwise: Gathered) -> Gathered {
        self.release(&messages);
        otherwise
    }

    fn release(&self, messages: &[ReceivedMessage]) {
        for message in messages {
            if let Err(error) =
                self.invoker
                    .queues
                    .change_message_visibility(&message.receipt_handle, 0, now_ms())
            {
                tracing::warn!(queue = %self.queue_name, %error, "could not make a message visible again");
            }
        }
        if !messages.is_empty() {
            self.invoker.queue_notifier.notify(&self.queue_name);
        }
    }

    /// Hands a batch to the function, in as many invocations as the
    /// payload limit needs, and deletes what it processed.
    async fn process(self, batch: Batch, stopped: watch::Receiver<bool>) -> BatchOutcome {
        let records: Vec<Value> = batch
            .messages
            .iter()
            .map(|m| sqs_record(&self.invoker.region, &self.mapping.event_source_arn, m))
            .collect();
        let mut outcome = BatchOutcome::Processed;
        for range in payload_chunks(&records, limits::SYNC_PAYLOAD_MAX_BYTES) {
            let chunk_outcome = self
                .invoke_chunk(
                    &batch.messages[range.clone()],
                    &records[range],
                    batch.visible_again_ms,
                    stopped.clone(),
                )
                .await;
            if chunk_outcome != BatchOutcome::Processed {
                outcome = chunk_outcome;
            }
        }
        outcome
    }

    async fn invoke_chunk(
        &self,
        messages: &[ReceivedMessage],
        records: &[Value],
        visible_again_ms: i64,
        mut stopped: watch::Receiver<bool>,
    ) -> BatchOutcome {
        let payload = Bytes::from(json!({ "Records": records }).to_string());
        let mut throttles = 0u32;
        loop {
            let request = InvokeRequest {
                function: self.function(),
                payload: payload.clone(),
                client_context: None,
                request_id: None,
            };
            let error = match self.invoker.invoke_queued(request).await {
                Ok(outcome) if outcome.function_error.is_none() => {
                    let failed = if self.mapping.report_batch_item_failures {
                        let ids: HashSet<&str> = messages
                            .iter()
                            .map(|m| m.message.message_id.as_str())
                            .collect();
                        match parse_batch_response(&outcome.payload, &ids) {
                            BatchResponse::AllSucceeded => HashSet::new(),
                            BatchResponse::Failed(failed) => failed,
                            BatchResponse::Invalid(reason) => {
                                tracing::info!(uuid = %self.mapping.uuid, %reason,
                                    "the function's batch response is invalid: the whole batch failed");
                                return BatchOutcome::FunctionError;
                            }
                        }
                    } else {
                        HashSet::new()
                    };
                    self.delete_processed(messages, &failed);
                    return BatchOutcome::Processed;
                }
                Ok(outcome) => {
                    tracing::debug!(uuid = %self.mapping.uuid, error = ?outcome.function_error,
                        "the function failed: the batch comes back after its visibility timeout");
                    return BatchOutcome::FunctionError;
                }
                Err(error) => error,
            };
            match error {
                InvokeError::Executor(ExecutorError::Throttled(reason)) => {
                    if throttles == 0 {
                        tracing::info!(uuid = %self.mapping.uuid, reason = reason.as_str(),
                            "a batch is throttled; retrying while it stays invisible");
                    }
                    let delay = (THROTTLE_BACKOFF_BASE * 2u32.pow(throttles.min(10)))
                        .min(THROTTLE_BACKOFF_MAX);
                    throttles += 1;
                    if now_ms() + delay.as_millis() as i64 >= visible_again_ms {
                        return BatchOutcome::Throttled;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stopped.changed() => {}
                    }
                    if *stopped.borrow() {
                        self.release(messages);
                        return BatchOutcome::NotRun;
                    }
                }
                InvokeError::Executor(ExecutorError::ShuttingDown) => {
                    self.release(messages);
                    return BatchOutcome::NotRun;
                }
                InvokeError::FunctionNotFound(_) => {
                    self.release(messages);
                    return BatchOutcome::NotRun;
                }
                error => {
                    // An instance that cannot start fails the batch, as an
                    // init error does on Lambda.
                    tracing::warn!(uuid = %self.mapping.uuid, %error,
                        "could not invoke the function: the batch comes back after its visibility timeout");
                    return BatchOutcome::FunctionError;
                }
            }
        }
    }

    fn delete_processed(&self, messages: &[ReceivedMessage], failed: &HashSet<String>) {
        for message in messages {
            if failed.contains(&message.message.message_id) {
                continue;
            }
            match self.invoker.queues.delete_message(&message.receipt_handle) {
                Ok(rayo_core::queue::HandleOutcome::Done) => {}
                Ok(outcome) => {
                    // It came back (its visibility timeout ran out during the
                    // invocation) and was received again: that receive owns it.
                    tracing::debug!(queue = %self.queue_name, message_id = %message.message.message_id,
                        ?outcome, "a processed message was not deleted");
                }
                Err(error) => {
                    tracing::error!(queue = %self.queue_name, %error, "could not delete a processed message");
                }
            }
        }
    }
}

/// What a function answered about a batch, with `ReportBatchItemFailures`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BatchResponse {
    /// Every message succeeded.
    AllSucceeded,
    /// These messages (by id) failed; the others succeeded.
    Failed(HashSet<String>),
    /// The response is not one Lambda understands: the whole batch failed.
    Invalid(String),
}

/// Reads a partial batch response as Lambda does: an empty or null
/// response, or a null or empty `batchItemFailures`, is a success; a
/// response that is not JSON, or an item whose `itemIdentifier` is missing,
/// empty, null or not a message of the batch, fails the whole batch.
fn parse_batch_response(payload: &[u8], message_ids: &HashSet<&str>) -> BatchResponse {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return BatchResponse::AllSucceeded;
    }
    let response: Value = match serde_json::from_slice(payload) {
        Ok(response) => response,
        Err(error) => return BatchResponse::Invalid(format!("not JSON: {error}")),
    };
    let failures = match &response {
        Value::Null => return BatchResponse::AllSucceeded,
        Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(Value::Null) => return BatchResponse::AllSucceeded,
            Some(Value::Array(failures)) => failures,
            Some(other) => {
                return BatchResponse::Invalid(format!("batchItemFailures is {other}"));
            }
        },
        other => return BatchResponse::Invalid(format!("the response is {other}")),
    };
    let mut failed = HashSet::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if message_ids.contains(id) => {
                failed.insert(id.to_string());
            }
            _ => return BatchResponse::Invalid(format!("invalid item {failure}")),
        }
    }
    if failed.is_empty() {
        BatchResponse::AllSucceeded
    } else {
        BatchResponse::Failed(failed)
    }
}

/// One message as Lambda puts it in an SQS event's `Records`.
fn sqs_record(region: &Region, queue_arn: &str, received: &ReceivedMessage) -> Value {
    let message = &received.message;
    let mut attributes = Map::new();
    let mut put = |name: &str, value: String| {
        attributes.insert(name.to_string(), Value::String(value));
    };
    put("ApproximateReceiveCount", message.receive_count.to_string());
    put("SentTimestamp", message.sent_ms.to_string());
    put("SenderId", region.account_id.clone());
    put(
        "ApproximateFirstReceiveTimestamp",
        message
            .first_receive_ms
            .unwrap_or(message.sent_ms)
            .to_string(),
    );
    if let Some(deduplication_id) = &message.deduplication_id {
        put("SequenceNumber", message.sequence_number());
        put("MessageDeduplicationId", deduplication_id.clone());
    }
    if let Some(group_id) = &message.group_id {
        put("MessageGroupId", group_id.clone());
    }
    if let Some(AttributeValue::String(trace)) = message
        .system_attributes
        .get("AWSTraceHeader")
        .map(|a| &a.value)
    {
        put("AWSTraceHeader", trace.clone());
    }
    if let Some(source) = &message.dead_letter_source_arn {
        put("DeadLetterQueueSourceArn", source.clone());
    }
    let mut record = json!({
        "messageId": message.message_id,
        "receiptHandle": received.receipt_handle.encode(),
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": message_attributes(&message.attributes),
        "md5OfBody": md5_hex(message.body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region.name,
    });
    if let Some(md5) = md5_of_message_attributes(&message.attributes) {
        record["md5OfMessageAttributes"] = json!(md5);
    }
    record
}

/// Message attributes in the event's camel-case shape.
fn message_attributes(attributes: &MessageAttributes) -> Value {
    let base64 = base64::engine::general_purpose::STANDARD;
    let out: Map<String, Value> = attributes
        .iter()
        .map(|(name, attribute)| {
            let mut value = json!({
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attribute.data_type,
            });
            match &attribute.value {
                AttributeValue::String(text) => value["stringValue"] = json!(text),
                AttributeValue::Binary(bytes) => value["binaryValue"] = json!(base64.encode(bytes)),
            }
            (name.clone(), value)
        })
        .collect();
    Value::Object(out)
}

/// Splits records into consecutive runs whose event fits in `limit` bytes;
/// a record too large on its own runs alone (and the invocation refuses it).
fn payload_chunks(records: &[Value], limit: usize) -> Vec<std::ops::Range<usize>> {
    // `{"Records":[` and `]}`, and a comma between records.
    const ENVELOPE: usize = 14;
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = ENVELOPE;
    for (i, record) in records.iter().enumerate() {
        let record_size = record.to_string().len() + 1;
        if i > start && size + record_size > limit {
            chunks.push(start..i);
            start = i;
            size = ENVELOPE;
        }
        size += record_size;
    }
    if start < records.len() {
        chunks.push(start..records.len());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use rayo_core::queue::{MessageAttribute, ReceiptHandle, StoredMessage};

    use super::*;

    fn ids<'a>(list: &[&'a str]) -> HashSet<&'a str> {
        list.iter().copied().collect()
    }

    #[track_caller]
    fn check(payload: &str, expected: Result<&[&str], ()>) {
        let got = parse_batch_response(payload.as_bytes(), &ids(&["m1", "m2"]));
        match expected {
            Ok([]) => assert_eq!(got, BatchResponse::AllSucceeded, "{payload}"),
            Ok(failed) => assert_eq!(
                got,
                BatchResponse::Failed(failed.iter().map(|s| s.to_string()).collect()),
                "{payload}"
            ),
            Err(()) => assert!(
                matches!(got, BatchResponse::Invalid(_)),
                "{payload}: {got:?}"
            ),
        }
    }

    #[test]
    fn batch_responses_as_lambda_reads_them() {
        check("", Ok(&[]));
        check("null", Ok(&[]));
        check("{}", Ok(&[]));
        check(r#"{"statusCode": 200}"#, Ok(&[]));
        check(r#"{"batchItemFailures": null}"#, Ok(&[]));
        check(r#"{"batchItemFailures": []}"#, Ok(&[]));
        check(
            r#"{"batchItemFailures": [{"itemIdentifier": "m2"}]}"#,
            Ok(&["m2"]),
        );
        check(
            r#"{"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}"#,
            Ok(&["m1", "m2"]),
        );
        check("not json", Err(()));
        check(r#""ok""#, Err(()));
        check(r#"{"batchItemFailures": {}}"#, Err(()));
        check(
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            Err(()),
        );
        check(
            r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            Err(()),
        );
        check(r#"{"batchItemFailures": [{"id": "m1"}]}"#, Err(()));
        check(
            r#"{"batchItemFailures": [{"itemIdentifier": "m9"}]}"#,
            Err(()),
        );
        check(r#"{"batchItemFailures": ["m1"]}"#, Err(()));
    }

    fn received(fifo: bool) -> ReceivedMessage {
        let mut attributes = MessageAttributes::new();
        attributes.insert(
            "color".to_string(),
            MessageAttribute {
                data_type: "String".to_string(),
                value: AttributeValue::String("blue".to_string()),
            },
        );
        attributes.insert(
            "blob".to_string(),
            MessageAttribute {
                data_type: "Binary".to_string(),
                value: AttributeValue::Binary(vec![0, 1, 255]),
            },
        );
        ReceivedMessage {
            message: StoredMessage {
                seq: 7,
                message_id: "059f36b4-87a3-44ab-83d2-661975830a7d".to_string(),
                body: "hello".to_string(),
                attributes,
                system_attributes: MessageAttributes::new(),
                group_id: fifo.then(|| "g".to_string()),
                deduplication_id: fifo.then(|| "d".to_string()),
                sent_ms: 1_545_082_649_183,
                receive_count: 1,
                first_receive_ms: Some(1_545_082_649_185),
                dead_letter_source_arn: None,
            },
            receipt_handle: ReceiptHandle {
                queue_name: "q".to_string(),
                seq: 7,
                receive_id: "r".to_string(),
            },
        }
    }

    #[test]
    fn records_have_lambda_s_shape() {
        let region = Region {
            name: "us-east-2".to_string(),
            account_id: "123456789012".to_string(),
        };
        let message = received(false);
        let record = sqs_record(&region, "arn:aws:sqs:us-east-2:123456789012:q", &message);
        assert_eq!(
            record,
            json!({
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": message.receipt_handle.encode(),
                "body": "hello",
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1545082649183",
                    "SenderId": "123456789012",
                    "ApproximateFirstReceiveTimestamp": "1545082649185",
                },
                "messageAttributes": {
                    "blob": {
                        "binaryValue": "AAH/",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary",
                    },
                    "color": {
                        "stringValue": "blue",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    },
                },
                "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
                "md5OfMessageAttributes": md5_of_message_attributes(&message.message.attributes).unwrap(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:q",
                "awsRegion": "us-east-2",
            })
        );
        let fifo = sqs_record(
            &region,
            "arn:aws:sqs:us-east-2:123456789012:q.fifo",
            &received(true),
        );
        assert_eq!(fifo["attributes"]["MessageGroupId"], "g");
        assert_eq!(fifo["attributes"]["MessageDeduplicationId"], "d");
        assert_eq!(fifo["attributes"]["SequenceNumber"], "00000000000000000007");
    }

    #[test]
    fn batches_split_at_the_payload_limit() {
        let record = |n: usize| json!("x".repeat(n));
        // Each record is its length plus two quotes, plus a comma.
        let records = vec![record(7), record(7), record(7)];
        assert_eq!(payload_chunks(&records, 100), vec![0..3]);
        assert_eq!(payload_chunks(&records, 14 + 20), vec![0..2, 2..3]);
        assert_eq!(payload_chunks(&records, 1), vec![0..1, 1..2, 2..3]);
        assert!(payload_chunks(&[], 100).is_empty());
    }
}
