//! Bucket notifications: the event S3 sends a function, and the
//! asynchronous invocations that carry it.

use std::sync::atomic::{AtomicU64, Ordering};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rayo_core::FunctionRef;
use rayo_core::Region;
use rayo_core::invocation::AsyncInvocation;
use rayo_core::s3::NotificationConfiguration;
use rayo_invoker::Invoker;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who asked for a write, and the ids of that request.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// `x-amz-request-id`.
    pub(crate) request_id: String,
    /// `x-amz-id-2`.
    pub(crate) id2: String,
    /// The client's address.
    pub(crate) source_ip: String,
}

/// What happened to an object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectEvent<'a> {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, …
    pub(crate) name: &'static str,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    /// Size and ETag of a created object; removals carry neither.
    pub(crate) created: Option<(u64, &'a str)>,
    /// The caller's access key.
    pub(crate) access_key: Option<&'a str>,
    pub(crate) context: &'a RequestContext,
}

/// Gives each event a sequencer larger than any before it, also across
/// restarts (it starts from the clock).
#[derive(Debug, Default)]
pub(crate) struct Sequencer(AtomicU64);

impl Sequencer {
    fn next(&self) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        let mut previous = self.0.load(Ordering::Relaxed);
        loop {
            let next = now.max(previous + 1);
            match self
                .0
                .compare_exchange(previous, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return format!("{next:018X}"),
                Err(actual) => previous = actual,
            }
        }
    }
}

/// The invocations an event causes under a bucket's configuration: one per
/// matching configuration whose function exists.
pub(crate) fn invocations(
    configuration: &NotificationConfiguration,
    event: &ObjectEvent<'_>,
    region: &Region,
    invoker: &Invoker,
    sequencer: &Sequencer,
) -> Vec<AsyncInvocation> {
    let matching = configuration.matching(event.name, event.key);
    if matching.is_empty() {
        return Vec::new();
    }
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let sequencer = sequencer.next();
    let mut invocations = Vec::new();
    for config in matching {
        let function = match FunctionRef::parse(&config.function_arn)
            .map_err(|e| e.to_string())
            .and_then(|function| {
                invoker
                    .resolve(&function)
                    .map(|_| function)
                    .map_err(|e| e.to_string())
            }) {
            Ok(function) => function,
            Err(error) => {
                tracing::warn!(
                    bucket = event.bucket,
                    function = config.function_arn,
                    %error,
                    "a bucket notification's function is gone; the event is dropped"
                );
                continue;
            }
        };
        let payload = event_json(event, &config.id, region, now, &sequencer);
        invocations.push(AsyncInvocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            function_name: function.name,
            qualifier: function.qualifier,
            payload: payload.to_string().into_bytes(),
            enqueued_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
        });
    }
    invocations
}

/// The event document S3 sends (event version 2.1).
fn event_json(
    event: &ObjectEvent<'_>,
    configuration_id: &str,
    region: &Region,
    time: OffsetDateTime,
    sequencer: &str,
) -> serde_json::Value {
    let mut object = serde_json::json!({
        "key": encode_key(event.key),
        "sequencer": sequencer,
    });
    if let Some((size, etag)) = event.created {
        object["size"] = size.into();
        object["eTag"] = etag.into();
    }
    let principal = match event.access_key {
        Some(key) => format!("AWS:{key}"),
        None => "Anonymous".to_string(),
    };
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region.name,
            "eventTime": event_time(time),
            "eventName": event.name,
            "userIdentity": {"principalId": principal},
            "requestParameters": {"sourceIPAddress": event.context.source_ip},
            "responseElements": {
                "x-amz-request-id": event.context.request_id,
                "x-amz-id-2": event.context.id2,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": configuration_id,
                "bucket": {
                    "name": event.bucket,
                    "ownerIdentity": {"principalId": region.account_id},
                    "arn": format!("arn:aws:s3:::{}", event.bucket),
                },
                "object": object,
            },
        }]
    })
}

/// `2026-01-01T12:00:00.123Z`, as S3 writes event times.
fn event_time(time: OffsetDateTime) -> String {
    let time = time
        .replace_nanosecond(time.millisecond() as u32 * 1_000_000)
        .unwrap_or(time);
    let formatted = time.format(&Rfc3339).unwrap_or_default();
    // RFC 3339 drops trailing zeros of the fraction; S3 always writes three.
    match formatted.split_once('.') {
        Some((seconds, fraction)) => {
            let digits = fraction.trim_end_matches('Z');
            format!("{seconds}.{digits:0<3}Z")
        }
        None => format!("{}.000Z", formatted.trim_end_matches('Z')),
    }
}

/// Characters an event's key keeps as they are: letters, digits and
/// `-_.*/`; a space becomes `+`, everything else `%XX` (form encoding).
const KEY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b'/')
    .remove(b' ');

/// An object key as S3 writes it in events.
pub(crate) fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_KEEPS)
        .to_string()
        .replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(encode_key("photos/cat.jpg"), "photos/cat.jpg");
        assert_eq!(encode_key("my photo (1).jpg"), "my+photo+%281%29.jpg");
        assert_eq!(encode_key("a+b=c"), "a%2Bb%3Dc");
        assert_eq!(encode_key("ñ"), "%C3%B1");
    }

    #[test]
    fn event_times_have_milliseconds() {
        let time = OffsetDateTime::from_unix_timestamp_nanos(1_767_268_800_120_000_000).unwrap();
        assert_eq!(event_time(time), "2026-01-01T12:00:00.120Z");
        let time = OffsetDateTime::from_unix_timestamp(1_767_268_800).unwrap();
        assert_eq!(event_time(time), "2026-01-01T12:00:00.000Z");
    }

    #[test]
    fn sequencers_increase() {
        let sequencer = Sequencer::default();
        let first = sequencer.next();
        let second = sequencer.next();
        assert!(second > first, "{first} {second}");
        assert_eq!(first.len(), 18);
    }
}
