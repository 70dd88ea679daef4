//! Asynchronous invocations: the durable queue's records and Lambda's retry
//! rules for them.

use std::time::Duration;

use crate::queue::NewMessage;

/// An accepted `InvocationType=Event` invocation, waiting to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvocation {
    /// The request id given to the caller, kept across retries.
    pub request_id: String,
    /// The function.
    pub function_name: String,
    /// The qualifier the caller used.
    pub qualifier: Option<String>,
    /// The event.
    pub payload: Vec<u8>,
    /// When it was accepted, in milliseconds since the epoch.
    pub enqueued_ms: i64,
    /// Attempts that ran the function and failed.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_attempt_ms: i64,
}

/// Lambda's defaults for asynchronous invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncRetryPolicy {
    /// Retries after a function error (0–2; Lambda's default is 2).
    pub maximum_retry_attempts: u32,
    /// How long an event may wait in all, retries included (60–21600 s).
    pub maximum_event_age: Duration,
    /// Delay before the first retry after a function error; the second waits
    /// twice as long. Lambda waits one minute.
    pub function_error_base_delay: Duration,
}

impl Default for AsyncRetryPolicy {
    fn default() -> AsyncRetryPolicy {
        AsyncRetryPolicy {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(6 * 3600),
            function_error_base_delay: Duration::from_secs(60),
        }
    }
}

/// What to do with an invocation after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncNext {
    /// Done: it succeeded, or it may not be retried.
    Finish,
    /// Try again at this time.
    RetryAt(i64),
}

/// What an attempt leaves behind in the durable queue: the messages Lambda
/// sends for it (invocation records to queue destinations, the event to a
/// dead-letter queue), then its row finished or put back for a retry. The
/// store writes both at once, so a crash never loses the messages of an
/// invocation that left the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncCompletion {
    /// The invocation.
    pub request_id: String,
    /// Attempts that ran the function and failed, counting this one.
    pub attempts: u32,
    /// Finished, or when to try again.
    pub next: AsyncNext,
    /// Messages to send first, each with the name of its queue.
    pub messages: Vec<(String, NewMessage)>,
}

impl AsyncRetryPolicy {
    /// After the function itself failed on attempt number `attempts` (1-based).
    pub fn after_function_error(
        &self,
        invocation: &AsyncInvocation,
        attempts: u32,
        now_ms: i64,
    ) -> AsyncNext {
        if attempts > self.maximum_retry_attempts {
            return AsyncNext::Finish;
        }
        let delay = self.function_error_base_delay * attempts;
        self.within_age(invocation, now_ms + delay.as_millis() as i64)
    }

    /// After the invocation could not run (throttled, or no instance could
    /// start): back off exponentially from one second up to five minutes,
    /// for as long as the event's age allows.
    pub fn after_throttle(
        &self,
        invocation: &AsyncInvocation,
        throttles: u32,
        now_ms: i64,
    ) -> AsyncNext {
        let delay_ms = (1000i64 << throttles.min(9)).min(300_000);
        self.within_age(invocation, now_ms + delay_ms)
    }

    fn within_age(&self, invocation: &AsyncInvocation, at_ms: i64) -> AsyncNext {
        let expires = invocation.enqueued_ms + self.maximum_event_age.as_millis() as i64;
        if at_ms > expires {
            AsyncNext::Finish
        } else {
            AsyncNext::RetryAt(at_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> AsyncInvocation {
        AsyncInvocation {
            request_id: "r".to_string(),
            function_name: "f".to_string(),
            qualifier: None,
            payload: b"{}".to_vec(),
            enqueued_ms: 0,
            attempts: 0,
            next_attempt_ms: 0,
        }
    }

    #[test]
    fn function_errors_retry_twice_after_one_then_two_minutes() {
        let policy = AsyncRetryPolicy::default();
        let inv = invocation();
        assert_eq!(
            policy.after_function_error(&inv, 1, 0),
            AsyncNext::RetryAt(60_000)
        );
        assert_eq!(
            policy.after_function_error(&inv, 2, 60_000),
            AsyncNext::RetryAt(180_000)
        );
        assert_eq!(
            policy.after_function_error(&inv, 3, 180_000),
            AsyncNext::Finish
        );
    }

    #[test]
    fn throttles_back_off_within_the_event_age() {
        let policy = AsyncRetryPolicy {
            maximum_event_age: Duration::from_secs(60),
            ..AsyncRetryPolicy::default()
        };
        let inv = invocation();
        assert_eq!(policy.after_throttle(&inv, 0, 0), AsyncNext::RetryAt(1000));
        assert_eq!(policy.after_throttle(&inv, 3, 0), AsyncNext::RetryAt(8000));
        assert_eq!(policy.after_throttle(&inv, 30, 0), AsyncNext::Finish);
        assert_eq!(policy.after_throttle(&inv, 0, 59_500), AsyncNext::Finish);
    }
}
