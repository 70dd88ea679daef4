//! Runs asynchronous invocations from the durable queue, with Lambda's retry
//! rules: function errors are retried up to twice (after one, then two
//! minutes), throttles and start failures back off exponentially, and an
//! event older than its maximum age is dropped. An invocation leaves the
//! queue only once it is done, so a crash re-runs it (at least once).
//! Records go to the function's destinations (functions or queues), and a
//! discarded event to its dead-letter queue, before it leaves the queue.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rayo_core::invocation::{AsyncInvocation, AsyncNext, AsyncRetryPolicy};
use rayo_core::queue::queue_name_from_arn;
use rayo_core::{EventInvokeConfig, FunctionRef, LATEST};
use rayo_executor::{ExecutorError, InvocationOutcome};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::queue_targets::string_attribute;
use crate::{InvokeError, InvokeRequest, Invoker};

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

async fn run(invoker: Invoker, options: AsyncOptions, mut stopped: watch::Receiver<bool>) {
    let max_in_flight = options.max_in_flight.max(1);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    // While invocations run, the queue is read again once a quarter of the
    // slots are free rather than after every one that ends: one claim
    // takes several, and a busy queue is not read for each invocation.
    let claim_at = (max_in_flight / 4).max(1);
    let mut running = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        let free = slots.available_permits();
        let claimed = if free == 0 || (free < claim_at && !running.is_empty()) {
            Vec::new()
        } else {
            let now = now_ms();
            match invoker
                .queue
                .claim_due(now, now + LEASE.as_millis() as i64, free)
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "could not read the asynchronous queue");
                    Vec::new()
                }
            }
        };
        let n_claimed = claimed.len();
        for invocation in claimed {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let invoker = invoker.clone();
            let policy = options.policy;
            running.spawn(async move {
                attempt(&invoker, &policy, invocation).await;
                drop(permit);
            });
        }
        while running.try_join_next().is_some() {}
        let free = slots.available_permits();
        if n_claimed > 0 && free > 0 {
            continue;
        }
        let wait = if free < claim_at && !running.is_empty() {
            // Woken when one ends.
            POLL
        } else {
            match invoker.queue.next_due_ms() {
                Ok(Some(due)) => {
                    Duration::from_millis((due - now_ms()).clamp(0, POLL.as_millis() as i64) as u64)
                }
                _ => POLL,
            }
        };
        tokio::select! {
            _ = invoker.queue_changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

/// Runs one attempt and records what happens next.
async fn attempt(invoker: &Invoker, base_policy: &AsyncRetryPolicy, invocation: AsyncInvocation) {
    let function = FunctionRef {
        name: invocation.function_name.clone(),
        qualifier: invocation.qualifier.clone(),
    };
    let (settings, dead_letter) = match invoker.resolve(&function) {
        Ok((record, config)) => (record.event_invoke_config, config.dead_letter_target_arn),
        Err(_) => {
            tracing::warn!(request_id = %invocation.request_id, function = %invocation.function_name,
                "dropping an asynchronous invocation: its function is gone");
            record(invoker, &invocation, invocation.attempts, AsyncNext::Finish);
            return;
        }
    };
    let policy = policy_for(base_policy, settings.as_ref());
    let destinations = Destinations::from(settings.as_ref(), dead_letter);
    let now = now_ms;
    if now() > invocation.enqueued_ms + policy.maximum_event_age.as_millis() as i64 {
        destinations
            .failure(invoker, &invocation, "EventAgeExceeded", None)
            .await;
        record(invoker, &invocation, invocation.attempts, AsyncNext::Finish);
        return;
    }
    let request = InvokeRequest {
        function,
        payload: Bytes::from(invocation.payload.clone()),
        client_context: None,
        request_id: Some(invocation.request_id.clone()),
    };
    let (attempts, next) = match invoker.invoke(request).await {
        Ok(outcome) if outcome.function_error.is_none() => {
            destinations.success(invoker, &invocation, &outcome).await;
            (invocation.attempts + 1, AsyncNext::Finish)
        }
        Ok(outcome) => {
            let attempts = invocation.attempts + 1;
            let next = policy.after_function_error(&invocation, attempts, now());
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
                    .failure(invoker, &failed, condition, Some(&outcome))
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
            let next = policy.after_throttle(&invocation, throttles, now());
            if next == AsyncNext::Finish {
                destinations
                    .failure(invoker, &invocation, "EventAgeExceeded", None)
                    .await;
            }
            (invocation.attempts, next)
        }
    };
    record(invoker, &invocation, attempts, next);
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
    ) {
        if let Some(destination) = &self.on_success {
            let attempts = invocation.attempts + 1;
            let document =
                invocation_record(invoker, invocation, "Success", attempts, Some(outcome));
            deliver(invoker, destination, document, &invocation.request_id).await;
        }
    }

    async fn failure(
        &self,
        invoker: &Invoker,
        invocation: &AsyncInvocation,
        condition: &str,
        outcome: Option<&InvocationOutcome>,
    ) {
        if let Some(dead_letter) = &self.dead_letter {
            send_to_dead_letter_queue(invoker, dead_letter, invocation, outcome);
        }
        if let Some(destination) = &self.on_failure {
            let document =
                invocation_record(invoker, invocation, condition, invocation.attempts, outcome);
            deliver(invoker, destination, document, &invocation.request_id).await;
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

async fn deliver(invoker: &Invoker, destination: &str, document: Value, request_id: &str) {
    if queue_name_from_arn(destination).is_some() {
        if let Err(error) = invoker.send_to_queue(
            destination,
            document.to_string(),
            Default::default(),
            request_id,
        ) {
            tracing::warn!(%request_id, %destination, %error, "could not deliver an invocation record");
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
fn send_to_dead_letter_queue(
    invoker: &Invoker,
    queue_arn: &str,
    invocation: &AsyncInvocation,
    outcome: Option<&InvocationOutcome>,
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
    match invoker.send_to_queue(queue_arn, body, attributes, &invocation.request_id) {
        Ok(message_id) => {
            tracing::info!(request_id = %invocation.request_id, %queue_arn, %message_id, "event sent to the dead-letter queue");
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

fn record(invoker: &Invoker, invocation: &AsyncInvocation, attempts: u32, next: AsyncNext) {
    let result = match next {
        AsyncNext::Finish => invoker.queue.finish(&invocation.request_id),
        AsyncNext::RetryAt(at) => invoker
            .queue
            .reschedule(&invocation.request_id, attempts, at),
    };
    if let Err(error) = result {
        tracing::error!(request_id = %invocation.request_id, %error, "could not update the asynchronous queue");
    }
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
