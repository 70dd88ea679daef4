//! Saved test events: named JSON payloads kept per function for the
//! console's Test tab, as Lambda's console keeps them, with its limits.

use crate::store::StoreError;

/// How many test events one function may keep.
pub const MAX_TEST_EVENTS_PER_FUNCTION: usize = 10;
/// The largest event document, in bytes (Lambda's asynchronous payload limit).
pub const MAX_TEST_EVENT_BYTES: usize = 256 * 1024;
/// The longest event name.
pub const MAX_TEST_EVENT_NAME_LEN: usize = 25;

/// One saved test event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEvent {
    /// The function it belongs to.
    pub function_name: String,
    /// Its name, unique per function.
    pub name: String,
    /// The event, a JSON document as text.
    pub event_json: String,
    /// When it was last saved, in epoch milliseconds.
    pub last_modified_ms: i64,
}

/// Why a test event cannot be saved.
#[derive(Debug, thiserror::Error)]
pub enum TestEventError {
    /// The name is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("test event name must be 1 to 25 letters, digits, '.', '-' or '_', got '{0}'")]
    InvalidName(String),
    /// The event is larger than [`MAX_TEST_EVENT_BYTES`].
    #[error("test event is {0} bytes, more than the 262144 allowed")]
    TooLarge(usize),
    /// The function already has [`MAX_TEST_EVENTS_PER_FUNCTION`] other events.
    #[error("a function keeps at most 10 test events; delete one first")]
    TooMany,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a test event's name.
pub fn validate_test_event_name(name: &str) -> Result<(), TestEventError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_TEST_EVENT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(())
    } else {
        Err(TestEventError::InvalidName(name.to_string()))
    }
}

/// Where saved test events are kept.
pub trait TestEventStore: Send + Sync + std::fmt::Debug {
    /// A function's events, by name.
    fn list_test_events(&self, function_name: &str) -> Result<Vec<TestEvent>, StoreError>;
    /// Adds or replaces an event; refuses a new one with
    /// [`TestEventError::TooMany`] when the function has the maximum already,
    /// checked and written atomically.
    fn put_test_event(&self, event: &TestEvent) -> Result<(), TestEventError>;
    /// Deletes an event; returns whether it existed.
    fn delete_test_event(&self, function_name: &str, name: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, valid: bool) {
        assert_eq!(validate_test_event_name(name).is_ok(), valid, "{name}");
    }

    #[test]
    fn names() {
        check("hello-world", true);
        check("API_GW.v2", true);
        check("a", true);
        check("abcdefghijklmnopqrstuvwxy", true);
        check("abcdefghijklmnopqrstuvwxyz", false);
        check("", false);
        check("with space", false);
        check("slash/", false);
        check("é", false);
    }
}
