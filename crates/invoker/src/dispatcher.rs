//! Runs asynchronous invocations from the durable queue, with Lambda's retry
//! rules: function errors are retried up to twice (after one, then two
//! minutes), throttles and start failures back off exponentially, and an
//! event older than its maximum age is dropped. An invocation leaves the
//! queue only once it is done, so a crash re-runs it (at least once).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rayo_core::FunctionRef;
use rayo_core::invocation::{AsyncInvocation, AsyncNext, AsyncRetryPolicy};
use rayo_executor::ExecutorError;
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
async fn attempt(invoker: &Invoker, policy: &AsyncRetryPolicy, invocation: AsyncInvocation) {
    let request = InvokeRequest {
        function: FunctionRef {
            name: invocation.function_name.clone(),
            qualifier: invocation.qualifier.clone(),
        },
        payload: Bytes::from(invocation.payload.clone()),
        client_context: None,
        request_id: Some(invocation.request_id.clone()),
    };
    let now = || now_ms();
    let next = match invoker.invoke(request).await {
        Ok(outcome) if outcome.function_error.is_none() => AsyncNext::Finish,
        Ok(_) => {
            let attempts = invocation.attempts + 1;
            let next = policy.after_function_error(&invocation, attempts, now());
            record(invoker, &invocation, attempts, next);
            return;
        }
        Err(InvokeError::FunctionNotFound(arn)) => {
            tracing::warn!(request_id = %invocation.request_id, %arn, "dropping an asynchronous invocation: its function is gone");
            AsyncNext::Finish
        }
        Err(InvokeError::Executor(ExecutorError::Throttled(_) | ExecutorError::Start(_))) => {
            // Throttles do not count as attempts; the backoff grows with
            // the time the event has waited.
            let waited = (now() - invocation.enqueued_ms).max(0) / 1000;
            let throttles = (waited.max(1) as f64).log2() as u32;
            policy.after_throttle(&invocation, throttles, now())
        }
        Err(InvokeError::Executor(ExecutorError::ShuttingDown)) => {
            // Runs again after the restart.
            AsyncNext::RetryAt(now())
        }
        Err(error) => {
            tracing::error!(request_id = %invocation.request_id, %error, "asynchronous invocation failed");
            policy.after_throttle(&invocation, 4, now())
        }
    };
    record(invoker, &invocation, invocation.attempts, next);
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
