//! Log records: groups, streams and events, as CloudWatch Logs models them.

use time::OffsetDateTime;

/// One line of a function's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// When it was written, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The line, without its trailing newline.
    pub message: String,
}

/// A log event as read back, with where it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLogEvent {
    /// Position in the store; increases with every event written.
    pub event_id: i64,
    /// The stream it belongs to.
    pub log_stream_name: String,
    /// When it was written, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// When the store received it, in milliseconds since the epoch.
    pub ingestion_time_ms: i64,
    /// The line.
    pub message: String,
}

/// A log stream's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStreamInfo {
    /// The stream's name.
    pub name: String,
    /// When the stream was created, in milliseconds since the epoch.
    pub creation_time_ms: i64,
    /// The first event's timestamp.
    pub first_event_ms: Option<i64>,
    /// The last event's timestamp.
    pub last_event_ms: Option<i64>,
    /// When an event was last written.
    pub last_ingestion_ms: Option<i64>,
    /// Bytes stored in the stream.
    pub stored_bytes: i64,
}

/// A log group's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupInfo {
    /// The group's name, such as `/aws/lambda/hello`.
    pub name: String,
    /// When the group was created, in milliseconds since the epoch.
    pub creation_time_ms: i64,
    /// Retention in days, if set.
    pub retention_days: Option<u32>,
    /// Bytes stored in the group.
    pub stored_bytes: i64,
}

/// A filter over stored events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only these streams, when non-empty.
    pub stream_names: Vec<String>,
    /// Only streams whose name starts with this.
    pub stream_prefix: Option<String>,
    /// Events at or after this time.
    pub start_time_ms: Option<i64>,
    /// Events before this time.
    pub end_time_ms: Option<i64>,
    /// Only events after this position (a pagination token).
    pub after_event_id: Option<i64>,
    /// Only events before this position (backwards pagination).
    pub before_event_id: Option<i64>,
    /// Plain terms that must all occur in the message.
    pub terms: Vec<String>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    /// At most this many events.
    pub limit: usize,
}

/// The log group Lambda uses for a function.
pub fn function_log_group(function_name: &str) -> String {
    format!("/aws/lambda/{function_name}")
}

/// The log stream name Lambda uses for an instance: `YYYY/MM/DD/[version]id`.
pub fn instance_log_stream(started: OffsetDateTime, version: &str, instance_id: &str) -> String {
    format!(
        "{:04}/{:02}/{:02}/[{}]{}",
        started.year(),
        u8::from(started.month()),
        started.day(),
        version,
        instance_id
    )
}

/// Parses a CloudWatch filter pattern's plain-term form: space-separated terms,
/// double-quoted phrases kept whole. Returns the terms that must all match.
pub fn parse_filter_terms(pattern: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut chars = pattern.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut term = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                term.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                term.push(c);
                chars.next();
            }
        }
        if !term.is_empty() {
            terms.push(term);
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        let started = time::macros::datetime!(2026-03-04 05:06:07 UTC);
        assert_eq!(
            instance_log_stream(started, "$LATEST", "abc"),
            "2026/03/04/[$LATEST]abc"
        );
    }

    #[test]
    fn filter_terms() {
        assert_eq!(
            parse_filter_terms("ERROR  timeout"),
            vec!["ERROR", "timeout"]
        );
        assert_eq!(
            parse_filter_terms("\"Task timed out\" x"),
            vec!["Task timed out", "x"]
        );
        assert!(parse_filter_terms("  ").is_empty());
    }
}
