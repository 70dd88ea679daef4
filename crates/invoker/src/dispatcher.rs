//! Runs asynchronous invocations from the durable queue, with Lambda's retry
//! rules: function errors are retried up to twice (after one, then two
//! minutes), throttles and start failures back off exponentially, and an
//! event older than its maximum age is dropped. An invocation leaves the
//! queue only once it is done, so a crash re-runs it (at least once).
//! Records go to the function's destinations (functions or queues), and a
//! discarded event to its dead-letter queue: queue messages in the same
//! transaction in which the invocation leaves the queue, invocations of
//! destination functions before it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rayo_core::invocation::{AsyncCompletion, AsyncInvocation, AsyncNext, AsyncRetryPolicy};
use rayo_core::queue::queue_name_from_arn;
use rayo_core::store::{InvocationQueue, StoreError};
use rayo_core::{EventInvokeConfig, FunctionRef, LATEST};
use rayo_executor::{ExecutorError, InvocationOutcome, ScaleOut};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::group_commit::WriteBatch;
use crate::handoff::Handoff;
use crate::queue_targets::{QueueMessage, string_attribute};
use crate::{Completed, InvokeError, InvokeRequest, Invoker, QueueNotifier, writer_stopped};

/// How the dispatcher runs.
#[derive(Debug, Clone)]
pub struct AsyncOptions {
    /// Retry rules.
    pub policy: AsyncRetryPolicy,
    /// Invocations run at once, at most.
    pub max_in_flight: usize,
}

/// The running dispatcher.
#[derive(Debug)]
pub struct AsyncDispatcher {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A lease outlives the longest invocation (900 s) with room to spare; it
/// only matters if an attempt's outcome is never written.
const LEASE: Duration = Duration::from_secs(960);
/// The queue is looked at at least this often.
const POLL: Duration = Duration::from_secs(1);
/// How long what attempts leave behind is gathered before it is written:
/// each commit rewrites the pages of the queue tables it touches, so under
/// a stream of invocations fewer, larger commits cost far less. An
/// invocation's slot is free meanwhile; only its records wait.
pub(crate) const COMPLETION_LINGER: Duration = Duration::from_millis(5);

impl AsyncDispatcher {
    /// Starts dispatching. Leases left by a previous run are released first:
    /// whatever was running then is not running now.
    pub fn start(invoker: Invoker, options: AsyncOptions) -> Result<AsyncDispatcher, InvokeError> {
        let released = invoker.queue.release_all_leases()?;
        if released > 0 {
            tracing::info!(
                released,
                "re-running asynchronous invocations interrupted by a restart"
            );
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(invoker, options, stopped));
        Ok(AsyncDispatcher { stop, task })
    }

    /// Stops taking invocations and waits for those running to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What the accept group commit writes: the first invocations of a batch,
/// as many as the dispatcher has free slots for while the handoff's gate
/// is open, are added claimed and handed to the dispatcher once committed;
/// the rest wait in the queue, and the dispatcher is woken to claim them.
pub(crate) fn accept_writer(
    queue: Arc<dyn InvocationQueue>,
    handoff: Arc<Handoff>,
    queue_changed: Arc<Notify>,
) -> WriteBatch<AsyncInvocation, Result<(), StoreError>> {
    Arc::new(move |invocations: Vec<AsyncInvocation>| {
        let now = now_ms();
        let mut slots = handoff.take_slots(invocations.len(), now);
        let n_claimed = slots.len();
        let results = queue.enqueue_all(&invocations, n_claimed, now + LEASE.as_millis() as i64);
        let mut handed = Vec::with_capacity(n_claimed);
        let mut n_waiting = 0;
        for (idx, (invocation, result)) in invocations.into_iter().zip(&results).enumerate() {
            match (result, slots.pop()) {
                (Err(_), _) => {}
                (Ok(()), Some(slot)) => handed.push((invocation, slot)),
                (Ok(()), None) => {
                    debug_assert!(idx >= n_claimed);
                    n_waiting += 1;
                }
            }
        }
        if n_waiting > 0 {
            handoff.close();
            queue_changed.notify_one();
        }
        // A dispatcher that has stopped takes nothing: what it would have
        // run waits in the queue, for the next start.
        for invocation in handoff.hand(handed) {
            if let Err(error) = queue.reschedule(
                &invocation.request_id,
                invocation.attempts,
                invocation.next_attempt_ms,
            ) {
                tracing::error!(request_id = %invocation.request_id, %error, "could not put an asynchronous invocation back");
            }
        }
        results
    })
}

/// What the completion group commit writes: completions in one
/// transaction, then a wake-up for every queue that got messages.
pub(crate) fn completion_writer(
    queue: Arc<dyn InvocationQueue>,
    queue_notifier: QueueNotifier,
) -> WriteBatch<AsyncCompletion, Completed> {
    Arc::new(move |completions: Vec<AsyncCompletion>| {
        let results = queue.complete_all(&completions, now_ms());
        let mut notified: Vec<&str> = Vec::new();
        for (completion, result) in completions.iter().zip(&results) {
            let Ok(sent) = result else { continue };
            for ((queue_name, _), sent) in completion.messages.iter().zip(sent) {
                if sent.is_some() && !notified.contains(&queue_name.as_str()) {
                    queue_notifier.notify(queue_name);
                    notified.push(queue_name);
                }
            }
        }
        results
    })
}

async fn run(invoker: Invoker, options: AsyncOptions, mut stopped: watch::Receiver<bool>) {
    let max_in_flight = options.max_in_flight.max(1);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut handed = invoker.handoff.connect(Arc::clone(&slots));
    // While invocations run, the queue is read again once a quarter of the
    // slots are free rather than after every one that ends: one claim
    // takes several, and a busy queue is not read for each invocation.
    let claim_at = (max_in_flight / 4).max(1);
    // When the queue may next hold something due: now at first; after a
    // claim that took less than it asked for, the queue's next due time
    // (`None`: nothing waits); moved earlier by retries and wake-ups. The
    // queue is read at least every POLL whatever this says, for leases
    // that lapsed.
    let mut due_ms = Some(i64::MIN);
    let mut last_claim_ms = i64::MIN;
    let mut running = JoinSet::new();
    let spawn = |running: &mut JoinSet<Option<i64>>, invocation, slot| {
        let invoker = invoker.clone();
        let policy = options.policy;
        running.spawn(async move { attempt(&invoker, &policy, invocation, slot).await });
    };
    let poll_ms = POLL.as_millis() as i64;
    loop {
        if *stopped.borrow() {
            break;
        }
        while let Ok(batch) = handed.try_recv() {
            for (invocation, slot) in batch {
                spawn(&mut running, invocation, slot);
            }
        }
        let now = now_ms();
        let due = next_look(due_ms, last_claim_ms);
        let free = slots.available_permits();
        if due <= now && free > 0 && (free >= claim_at || running.is_empty()) {
            // The slots are taken first: the accept writer may take free
            // ones at any moment.
            let taken: Vec<_> = (0..free)
                .map_while(|_| Arc::clone(&slots).try_acquire_owned().ok())
                .collect();
            let n_wanted = taken.len();
            let generation = invoker.handoff.generation();
            let lease_until = now + LEASE.as_millis() as i64;
            last_claim_ms = now;
            match invoker.queue.claim_due(now, lease_until, n_wanted) {
                Ok(claimed) => {
                    let n_claimed = claimed.len();
                    for (invocation, slot) in claimed.into_iter().zip(taken) {
                        spawn(&mut running, invocation, slot);
                    }
                    if n_claimed < n_wanted {
                        // Nothing more is due: learn when something will be,
                        // and until then take fresh invocations directly.
                        due_ms = match invoker.queue.next_due_ms() {
                            Ok(due) => due,
                            Err(error) => {
                                tracing::error!(%error, "could not read the asynchronous queue");
                                Some(now + poll_ms)
                            }
                        };
                        invoker.handoff.open(generation, due_ms.unwrap_or(i64::MAX));
                    } else {
                        due_ms = Some(now);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "could not read the asynchronous queue");
                    due_ms = Some(now + poll_ms);
                }
            }
            continue;
        }
        while let Some(finished) = running.try_join_next() {
            note_retry(&invoker, &mut due_ms, finished);
        }
        let wait = if free >= claim_at || running.is_empty() {
            let due = next_look(due_ms, last_claim_ms);
            Duration::from_millis((due - now).clamp(0, poll_ms) as u64)
        } else {
            // Woken when one ends.
            POLL
        };
        tokio::select! {
            _ = invoker.queue_changed.notified() => due_ms = Some(i64::MIN),
            Some(batch) = handed.recv() => {
                for (invocation, slot) in batch {
                    spawn(&mut running, invocation, slot);
                }
            }
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
            Some(finished) = running.join_next(), if !running.is_empty() => {
                note_retry(&invoker, &mut due_ms, finished);
            }
        }
    }
    // Nothing more is handed over; what was handed and not yet started
    // goes back to the queue, for the next start.
    slots.close();
    handed.close();
    while let Some(batch) = handed.recv().await {
        for (invocation, _) in batch {
            if let Err(error) = invoker.queue.reschedule(
                &invocation.request_id,
                invocation.attempts,
                invocation.next_attempt_ms,
            ) {
                tracing::error!(request_id = %invocation.request_id, %error, "could not put an asynchronous invocation back");
            }
        }
    }
    while running.join_next().await.is_some() {}
}

/// When the queue is next to be read: when something in it is due, and at
/// the latest a POLL after the last claim.
fn next_look(due_ms: Option<i64>, last_claim_ms: i64) -> i64 {
    let poll_due = last_claim_ms.saturating_add(POLL.as_millis() as i64);
    due_ms.map_or(poll_due, |due| due.min(poll_due))
}

/// Moves the next due time earlier for an attempt that will be retried.
fn note_retry(
    invoker: &Invoker,
    due_ms: &mut Option<i64>,
    finished: Result<Option<i64>, tokio::task::JoinError>,
) {
    if let Ok(Some(retry_at)) = finished {
        *due_ms = Some(due_ms.map_or(retry_at, |due| due.min(retry_at)));
        invoker.handoff.close_at(retry_at);
    }
}

/// Messages an attempt sends, and what each is for.
#[derive(Debug, Default)]
struct Outbox {
    messages: Vec<QueueMessage>,
    purposes: Vec<Purpose>,
}

#[derive(Debug)]
enum Purpose {
    Record { destination: String },
    DeadLetter { queue_arn: String },
}

impl Outbox {
    fn push(&mut self, message: QueueMessage, purpose: Purpose) {
        self.messages.push(message);
        self.purposes.push(purpose);
    }
}

/// Runs one attempt in `slot` and records what happens next; returns when
/// it is to be retried, if it is.
async fn attempt(
    invoker: &Invoker,
    base_policy: &AsyncRetryPolicy,
    invocation: AsyncInvocation,
    slot: OwnedSemaphorePermit,
) -> Option<i64> {
    let mut outbox = Outbox::default();
    let (attempts, next) = run_attempt(invoker, base_policy, &invocation, &mut outbox).await;
    // The invocation stays leased until its completion is written; the
    // slot may run another meanwhile.
    drop(slot);
    let request_id = &invocation.request_id;
    let Outbox { messages, purposes } = outbox;
    let completion = AsyncCompletion {
        request_id: request_id.clone(),
        attempts,
        next,
        messages,
    };
    match invoker.completions.submit(completion).await {
        Some(Ok(sent)) => {
            for (purpose, sent) in purposes.iter().zip(sent) {
                match (purpose, sent) {
                    (Purpose::DeadLetter { queue_arn }, Some(sent)) => {
                        tracing::info!(%request_id, %queue_arn, message_id = %sent.message_id, "event sent to the dead-letter queue");
                    }
                    (Purpose::DeadLetter { queue_arn }, None) => {
                        tracing::warn!(%request_id, %queue_arn, "could not send an event to the dead-letter queue: the queue does not exist");
                    }
                    (Purpose::Record { destination }, None) => {
                        tracing::warn!(%request_id, %destination, "could not deliver an invocation record: the queue does not exist");
                    }
                    (Purpose::Record { .. }, Some(_)) => {}
                }
            }
        }
        Some(Err(error)) => {
            tracing::error!(%request_id, %error, "could not update the asynchronous queue");
        }
        None => {
            tracing::error!(%request_id, error = %writer_stopped(), "could not update the asynchronous queue");
        }
    }
    match next {
        AsyncNext::Finish => None,
        AsyncNext::RetryAt(at) => Some(at),
    }
}

/// Runs one attempt; gives the attempts counted and what happens next,
/// and leaves the messages to send in `outbox`.
async fn run_attempt(
    invoker: &Invoker,
    base_policy: &AsyncRetryPolicy,
    invocation: &AsyncInvocation,
    outbox: &mut Outbox,
) -> (u32, AsyncNext) {
    let function = FunctionRef {
        name: invocation.function_name.clone(),
        qualifier: invocation.qualifier.clone(),
    };
    let (record, config) = match invoker.resolve(&function) {
        Ok(resolved) => resolved,
        Err(_) => {
            tracing::warn!(request_id = %invocation.request_id, function = %invocation.function_name,
                "dropping an asynchronous invocation: its function is gone");
            return (invocation.attempts, AsyncNext::Finish);
        }
    };
    let settings = record.event_invoke_config.as_ref();
    let policy = policy_for(base_policy, settings);
    let destinations = Destinations::from(settings, config.dead_letter_target_arn.clone());
    let now = now_ms;
    if now() > invocation.enqueued_ms + policy.maximum_event_age.as_millis() as i64 {
        destinations
            .failure(invoker, invocation, "EventAgeExceeded", None, outbox)
            .await;
        return (invocation.attempts, AsyncNext::Finish);
    }
    let request = InvokeRequest {
        function,
        payload: Bytes::from(invocation.payload.clone()),
        client_context: None,
        request_id: Some(invocation.request_id.clone()),
    };
    match invoker
        .invoke_resolved(&record, config, request, ScaleOut::Paced)
        .await
    {
        Ok(outcome) if outcome.function_error.is_none() => {
            destinations
                .success(invoker, invocation, &outcome, outbox)
                .await;
            (invocation.attempts + 1, AsyncNext::Finish)
        }
        Ok(outcome) => {
            let attempts = invocation.attempts + 1;
            let next = policy.after_function_error(invocation, attempts, now());
            if next == AsyncNext::Finish {
                let condition = if attempts > policy.maximum_retry_attempts {
                    "RetriesExhausted"
                } else {
                    "EventAgeExceeded"
                };
                let failed = AsyncInvocation {
                    attempts,
                    ..invocation.clone()
                };
                destinations
                    .failure(invoker, &failed, condition, Some(&outcome), outbox)
                    .await;
            }
            (attempts, next)
        }
        Err(InvokeError::FunctionNotFound(arn)) => {
            tracing::warn!(request_id = %invocation.request_id, %arn, "dropping an asynchronous invocation: its function is gone");
            (invocation.attempts, AsyncNext::Finish)
        }
        Err(InvokeError::Executor(ExecutorError::ShuttingDown)) => {
            // Runs again after the restart.
            (invocation.attempts, AsyncNext::RetryAt(now()))
        }
        Err(error) => {
            if !matches!(error, InvokeError::Executor(ExecutorError::Throttled(_))) {
                tracing::warn!(request_id = %invocation.request_id, %error, "asynchronous invocation could not run; backing off");
            }
            // Throttles do not count as attempts; the backoff grows with
            // the time the event has waited.
            let waited = (now() - invocation.enqueued_ms).max(0) / 1000;
            let throttles = (waited.max(1) as f64).log2() as u32;
            let next = policy.after_throttle(invocation, throttles, now());
            if next == AsyncNext::Finish {
                destinations
                    .failure(invoker, invocation, "EventAgeExceeded", None, outbox)
                    .await;
            }
            (invocation.attempts, next)
        }
    }
}

/// The function's own retry settings over the defaults.
fn policy_for(base: &AsyncRetryPolicy, settings: Option<&EventInvokeConfig>) -> AsyncRetryPolicy {
    let mut policy = *base;
    if let Some(settings) = settings {
        if let Some(retries) = settings.maximum_retry_attempts {
            policy.maximum_retry_attempts = retries;
        }
        if let Some(age) = settings.maximum_event_age_seconds {
            policy.maximum_event_age = Duration::from_secs(u64::from(age));
        }
    }
    policy
}

/// Where invocation records go, and where a discarded event goes.
#[derive(Debug, Default)]
struct Destinations {
    on_success: Option<String>,
    on_failure: Option<String>,
    dead_letter: Option<String>,
}

impl Destinations {
    fn from(settings: Option<&EventInvokeConfig>, dead_letter: Option<String>) -> Destinations {
        Destinations {
            on_success: settings.and_then(|s| s.on_success.clone()),
            on_failure: settings.and_then(|s| s.on_failure.clone()),
            dead_letter,
        }
    }

    async fn success(
        &self,
        invoker: &Invoker,
        invocation: &AsyncInvocation,
        outcome: &InvocationOutcome,
        outbox: &mut Outbox,
    ) {
        if let Some(destination) = &self.on_success {
            let attempts = invocation.attempts + 1;
            let document =
                invocation_record(invoker, invocation, "Success", attempts, Some(outcome));
            deliver(
                invoker,
                destination,
                document,
                &invocation.request_id,
                outbox,
            )
            .await;
        }
    }

    async fn failure(
        &self,
        invoker: &Invoker,
        invocation: &AsyncInvocation,
        condition: &str,
        outcome: Option<&InvocationOutcome>,
        outbox: &mut Outbox,
    ) {
        if let Some(dead_letter) = &self.dead_letter {
            dead_letter_message(invoker, dead_letter, invocation, outcome, outbox);
        }
        if let Some(destination) = &self.on_failure {
            let document =
                invocation_record(invoker, invocation, condition, invocation.attempts, outcome);
            deliver(
                invoker,
                destination,
                document,
                &invocation.request_id,
                outbox,
            )
            .await;
        } else if self.dead_letter.is_none() {
            tracing::info!(request_id = %invocation.request_id, condition, "asynchronous invocation discarded");
        }
    }
}

/// The invocation record Lambda sends to destinations.
fn invocation_record(
    invoker: &Invoker,
    invocation: &AsyncInvocation,
    condition: &str,
    invoke_count: u32,
    outcome: Option<&InvocationOutcome>,
) -> Value {
    let as_json = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    let function_arn = invoker.region.qualified_function_arn(
        &invocation.function_name,
        invocation.qualifier.as_deref().unwrap_or(LATEST),
    );
    let mut document = json!({
        "version": "1.0",
        "timestamp": iso_timestamp(OffsetDateTime::now_utc()),
        "requestContext": {
            "requestId": invocation.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": as_json(&invocation.payload),
    });
    if let Some(outcome) = outcome {
        let mut response_context = json!({
            "statusCode": 200,
            "executedVersion": outcome.executed_version,
        });
        if let Some(function_error) = &outcome.function_error {
            response_context["functionError"] = json!(function_error);
        }
        document["responseContext"] = response_context;
        document["responsePayload"] = as_json(&outcome.payload);
    }
    document
}

/// Sends an invocation record to a destination: to a queue with the
/// attempt's completion, to a function as an asynchronous invocation.
async fn deliver(
    invoker: &Invoker,
    destination: &str,
    document: Value,
    request_id: &str,
    outbox: &mut Outbox,
) {
    if queue_name_from_arn(destination).is_some() {
        match invoker.queue_message(
            destination,
            document.to_string(),
            Default::default(),
            request_id,
        ) {
            Ok(message) => {
                let destination = destination.to_string();
                outbox.push(message, Purpose::Record { destination });
            }
            Err(error) => {
                tracing::warn!(%request_id, %destination, %error, "could not deliver an invocation record");
            }
        }
        return;
    }
    let function = match FunctionRef::parse(destination) {
        Ok(function) => function,
        Err(error) => {
            tracing::warn!(%destination, %error, "invalid destination");
            return;
        }
    };
    let request = InvokeRequest {
        function,
        payload: Bytes::from(document.to_string()),
        client_context: None,
        request_id: None,
    };
    if let Err(error) = invoker.invoke_async(request).await {
        tracing::warn!(%request_id, %destination, %error, "could not deliver an invocation record");
    }
}

/// Sends a discarded event to the function's dead-letter queue as Lambda
/// does: the event as it was, with the request id, an error code (the
/// status of the last attempt: 200 for a function error, 429 for an event
/// that aged out without one) and the first kilobyte of the error message.
fn dead_letter_message(
    invoker: &Invoker,
    queue_arn: &str,
    invocation: &AsyncInvocation,
    outcome: Option<&InvocationOutcome>,
    outbox: &mut Outbox,
) {
    let (error_code, error_message) = match outcome {
        Some(outcome) => ("200", function_error_message(outcome)),
        None => ("429", "Rate Exceeded.".to_string()),
    };
    let attributes = [
        (
            "RequestID",
            string_attribute("String", &invocation.request_id),
        ),
        ("ErrorCode", string_attribute("Number", error_code)),
        ("ErrorMessage", string_attribute("String", error_message)),
    ]
    .into_iter()
    .map(|(name, attribute)| (name.to_string(), attribute))
    .collect();
    let body = String::from_utf8_lossy(&invocation.payload).into_owned();
    match invoker.queue_message(queue_arn, body, attributes, &invocation.request_id) {
        Ok(message) => {
            let queue_arn = queue_arn.to_string();
            outbox.push(message, Purpose::DeadLetter { queue_arn });
        }
        Err(error) => {
            tracing::warn!(request_id = %invocation.request_id, %queue_arn, %error, "could not send an event to the dead-letter queue");
        }
    }
}

/// The `errorMessage` of a function's error document (the whole document
/// if it has none), cut to its first kilobyte; never empty.
fn function_error_message(outcome: &InvocationOutcome) -> String {
    let message = serde_json::from_slice::<Value>(&outcome.payload)
        .ok()
        .and_then(|error| {
            error
                .get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&outcome.payload).into_owned());
    let mut end = message.len().min(1024);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    match &message[..end] {
        "" => outcome
            .function_error
            .clone()
            .unwrap_or_else(|| "Unhandled".to_string()),
        text => text.to_string(),
    }
}

fn iso_timestamp(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use rayo_executor::Report;

    use super::*;

    fn failed_with(payload: &str) -> InvocationOutcome {
        InvocationOutcome {
            payload: Bytes::from(payload.to_string()),
            function_error: Some("Unhandled".to_string()),
            log_text: String::new(),
            executed_version: LATEST.to_string(),
            report: Report {
                duration_ms: 1.0,
                billed_duration_ms: 1,
                memory_size_mb: 128,
                max_memory_used_mb: 10,
                init_duration_ms: None,
                status: None,
                error_type: None,
            },
        }
    }

    #[test]
    fn dead_letter_error_messages() {
        let check = |payload: &str, expected: &str| {
            assert_eq!(
                function_error_message(&failed_with(payload)),
                expected,
                "{payload}"
            );
        };
        check(
            r#"{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}"#,
            "boom",
        );
        check("not json", "not json");
        check(r#"{"errorMessage": ""}"#, "Unhandled");
        let long = format!(r#"{{"errorMessage": "{}"}}"#, "é".repeat(600));
        assert_eq!(function_error_message(&failed_with(&long)), "é".repeat(512));
    }
}
