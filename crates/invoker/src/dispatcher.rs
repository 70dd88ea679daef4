//! Runs asynchronous invocations from the durable queue, with Lambda's retry
//! rules: function errors are retried up to twice (after one, then two
//! minutes), throttles and start failures back off exponentially, and an
//! event older than its maximum age is dropped. An invocation leaves the
//! queue only once it is done, so a crash re-runs it (at least once).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rayo_core::invocation::{AsyncInvocation, AsyncNext, AsyncRetryPolicy};
use rayo_core::{EventInvokeConfig, FunctionRef, LATEST};
use rayo_executor::{ExecutorError, InvocationOutcome};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

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
    let slots = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    let mut running = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        let free = slots.available_permits();
        let claimed = if free == 0 {
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
        if n_claimed > 0 && slots.available_permits() > 0 {
            continue;
        }
        let wait = match invoker.queue.next_due_ms() {
            Ok(Some(due)) => {
                Duration::from_millis((due - now_ms()).clamp(0, POLL.as_millis() as i64) as u64)
            }
            _ => POLL,
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
    let settings = match invoker.resolve(&function) {
        Ok((record, _)) => record.event_invoke_config,
        Err(_) => {
            tracing::warn!(request_id = %invocation.request_id, function = %invocation.function_name,
                "dropping an asynchronous invocation: its function is gone");
            record(invoker, &invocation, invocation.attempts, AsyncNext::Finish);
            return;
        }
    };
    let policy = policy_for(base_policy, settings.as_ref());
    let destinations = Destinations::from(settings.as_ref());
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

/// Where invocation records go.
#[derive(Debug, Default)]
struct Destinations {
    on_success: Option<String>,
    on_failure: Option<String>,
}

impl Destinations {
    fn from(settings: Option<&EventInvokeConfig>) -> Destinations {
        settings
            .map(|s| Destinations {
                on_success: s.on_success.clone(),
                on_failure: s.on_failure.clone(),
            })
            .unwrap_or_default()
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
            deliver(invoker, destination, document, &invocation.request_id);
        }
    }

    async fn failure(
        &self,
        invoker: &Invoker,
        invocation: &AsyncInvocation,
        condition: &str,
        outcome: Option<&InvocationOutcome>,
    ) {
        if let Some(destination) = &self.on_failure {
            let document =
                invocation_record(invoker, invocation, condition, invocation.attempts, outcome);
            deliver(invoker, destination, document, &invocation.request_id);
        } else {
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

fn deliver(invoker: &Invoker, destination: &str, document: Value, request_id: &str) {
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
    if let Err(error) = invoker.invoke_async(request) {
        tracing::warn!(%request_id, %destination, %error, "could not deliver an invocation record");
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
