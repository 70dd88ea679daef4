//! The object store: buckets, objects, multipart uploads and bucket
//! notifications, with S3's rules on names and on notification
//! configurations, and the store traits that keep them.
//!
//! An object is a metadata row (in an [`ObjectStore`]) naming a body (in an
//! [`ObjectBodyStore`]); a key is a row, not a path, so `a` and `a/b`
//! coexist. Bodies are immutable once committed: a PUT writes a new body
//! and the row moves to it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::invocation::AsyncInvocation;
use crate::store::StoreError;

/// The version of the stored-headers shape in [`ObjectMeta`]; a reader
/// meeting a newer one keeps the fields it knows.
pub const STORED_HEADERS_VERSION: u32 = 1;

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Its name.
    pub name: String,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Where its object events go.
    pub notification: NotificationConfiguration,
}

/// The headers S3 stores with an object and answers on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`.
    pub website_redirect_location: Option<String>,
    /// `x-amz-meta-*`, names lowercased and without the prefix, sorted.
    pub user_metadata: Vec<(String, String)>,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The body in the [`ObjectBodyStore`].
    pub body_id: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag without quotes: the MD5 of the body in hex, or for a
    /// multipart upload the MD5 of the parts' MD5s followed by `-N`.
    pub etag: String,
    /// When it was last written, in milliseconds since the epoch.
    pub last_modified_ms: i64,
    /// Headers kept with it.
    pub headers: StoredHeaders,
    /// Parts of a multipart upload; `None` for a single PUT.
    pub parts_count: Option<u32>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    /// Its id.
    pub upload_id: String,
    /// The bucket.
    pub bucket: String,
    /// The key it will complete to.
    pub key: String,
    /// When it was created, in milliseconds since the epoch.
    pub initiated_ms: i64,
    /// Headers the completed object gets.
    pub headers: StoredHeaders,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// 1 to 10,000.
    pub part_number: u32,
    /// Its body.
    pub body_id: String,
    /// Size in bytes.
    pub size: u64,
    /// The MD5 of the part in hex.
    pub etag: String,
    /// When it was uploaded, in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

/// Bodies a completed upload no longer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    /// The body of the object it replaced.
    pub replaced: Option<String>,
    /// The parts' bodies.
    pub parts: Vec<String>,
}

/// What deleting a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteBucketOutcome {
    /// It is gone.
    Deleted,
    /// There was no such bucket.
    NotFound,
    /// It still holds objects.
    NotEmpty,
}

/// A page of keys from [`ObjectStore::list_objects`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Only keys after this one.
    pub after: Option<&'a str>,
    /// At most this many.
    pub limit: usize,
}

/// Buckets, objects' metadata and multipart uploads. Each write that can
/// trigger a notification takes the invocations to enqueue, committed with
/// it in one transaction, so an accepted write's events are never lost.
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Creates a bucket; `false` if it already exists.
    fn create_bucket(&self, bucket: &Bucket) -> Result<bool, StoreError>;
    /// Reads a bucket.
    fn get_bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError>;
    /// Every bucket, by name.
    fn list_buckets(&self) -> Result<Vec<Bucket>, StoreError>;
    /// Deletes an empty bucket (and its abandoned multipart uploads,
    /// whose bodies are returned for removal).
    fn delete_bucket(&self, name: &str) -> Result<(DeleteBucketOutcome, Vec<String>), StoreError>;
    /// Replaces a bucket's notification configuration; `false` if there is
    /// no such bucket.
    fn put_notification(
        &self,
        bucket: &str,
        notification: &NotificationConfiguration,
    ) -> Result<bool, StoreError>;
    /// Writes an object's row (replacing any), with the events it triggers;
    /// returns the body it replaced. The bucket must exist.
    fn put_object(
        &self,
        object: &ObjectMeta,
        events: &[AsyncInvocation],
    ) -> Result<Option<String>, StoreError>;
    /// Reads an object's row.
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Deletes an object's row, with the events it triggers (enqueued only
    /// if it existed); returns the removed row.
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events: &[AsyncInvocation],
    ) -> Result<Option<ObjectMeta>, StoreError>;
    /// Objects by key (byte order).
    fn list_objects(&self, query: &ObjectQuery<'_>) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Starts a multipart upload.
    fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError>;
    /// Reads a multipart upload.
    fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>, StoreError>;
    /// Uploads in progress in a bucket, by key then initiation.
    fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, StoreError>;
    /// Adds or replaces a part; returns the body it replaced. `false`
    /// (first) if the upload is gone.
    fn put_part(
        &self,
        upload_id: &str,
        part: &UploadedPart,
    ) -> Result<(bool, Option<String>), StoreError>;
    /// The parts of an upload, by number.
    fn list_parts(&self, upload_id: &str) -> Result<Vec<UploadedPart>, StoreError>;
    /// Ends an upload; returns its parts' bodies for removal, or `None` if
    /// there was no such upload.
    fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Ends an upload by writing its object (with its events) in one
    /// transaction; `None` if there was no such upload.
    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectMeta,
        events: &[AsyncInvocation],
    ) -> Result<Option<CompletedUpload>, StoreError>;
    /// Every body an object or a part refers to.
    fn referenced_bodies(&self) -> Result<BTreeSet<String>, StoreError>;
}

/// Object bodies: files under the data directory, written once.
pub trait ObjectBodyStore: Send + Sync + std::fmt::Debug {
    /// Starts writing a new body.
    fn create(&self) -> Result<Box<dyn BodyWriter>, StoreError>;
    /// Where a committed body is, to read.
    fn path(&self, body_id: &str) -> PathBuf;
    /// A new body with the same content (a link where it can be).
    fn duplicate(&self, body_id: &str) -> Result<String, StoreError>;
    /// Removes a body; one already gone is not an error.
    fn remove(&self, body_id: &str);
    /// Removes bodies not in `referenced` (left by a crash between a body's
    /// commit and its row's); returns how many.
    fn remove_unreferenced(&self, referenced: &BTreeSet<String>) -> Result<usize, StoreError>;
}

/// A body being written.
pub trait BodyWriter: Send + std::fmt::Debug {
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Makes the body durable and visible; returns its id, its size and
    /// the MD5 of its bytes.
    fn commit(self: Box<Self>) -> Result<(String, u64, [u8; 16]), StoreError>;
}

/// Why a bucket name is refused, worded as S3 words `InvalidBucketName`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The specified bucket is not valid.")]
pub struct InvalidBucketName;

/// Checks a bucket name against S3's general-purpose bucket rules: 3 to 63
/// characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, no two adjacent dots, not an IP address,
/// and none of the reserved prefixes and suffixes.
pub fn validate_bucket_name(name: &str) -> Result<(), InvalidBucketName> {
    let bytes = name.as_bytes();
    let valid_chars = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-');
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let is_ip = name.split('.').count() == 4
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.parse::<u8>().is_ok());
    let reserved = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
    if (3..=63).contains(&bytes.len())
        && valid_chars
        && edge(bytes.first())
        && edge(bytes.last())
        && !name.contains("..")
        && !is_ip
        && !reserved
    {
        Ok(())
    } else {
        Err(InvalidBucketName)
    }
}

/// The largest object a single PUT takes (5 GiB), as S3.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The smallest part but the last of a multipart upload (5 MiB), as S3.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Where a bucket's object events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationConfiguration {
    /// Functions invoked for events.
    pub lambda_functions: Vec<LambdaNotification>,
}

/// One `LambdaFunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaNotification {
    /// Its id (`configurationId` in events).
    pub id: String,
    /// The function's ARN.
    pub function_arn: String,
    /// Event types such as `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// The key must start with this.
    pub prefix: Option<String>,
    /// The key must end with this.
    pub suffix: Option<String>,
}

/// The event types a notification may name.
pub const NOTIFICATION_EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
];

/// Why a notification configuration is refused; S3 answers all of these
/// as `InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// An event type S3 does not know.
    #[error("The event is not supported for notifications")]
    UnknownEvent,
    /// A filter rule named something but prefix or suffix, or twice.
    #[error("{0}")]
    InvalidFilter(&'static str),
    /// Two configurations could fire for the same event and key.
    #[error(
        "Configurations overlap. Configurations on the same bucket cannot share a common event type."
    )]
    Overlap,
    /// Two configurations share an id.
    #[error("Configuration is not valid, duplicate configuration id")]
    DuplicateId,
}

impl NotificationConfiguration {
    /// Checks the configuration as S3 does: known event types, and no two
    /// configurations whose event types and key filters could both match
    /// one event.
    pub fn validate(&self) -> Result<(), NotificationError> {
        let configs = &self.lambda_functions;
        for config in configs {
            if config.events.is_empty()
                || config
                    .events
                    .iter()
                    .any(|event| !NOTIFICATION_EVENTS.contains(&event.as_str()))
            {
                return Err(NotificationError::UnknownEvent);
            }
        }
        for (i, a) in configs.iter().enumerate() {
            for b in &configs[i + 1..] {
                if a.id == b.id {
                    return Err(NotificationError::DuplicateId);
                }
                let events_overlap = a
                    .events
                    .iter()
                    .any(|x| b.events.iter().any(|y| events_overlap(x, y)));
                let prefixes_overlap =
                    affixes_overlap(&a.prefix, &b.prefix, |x, y| x.starts_with(y));
                let suffixes_overlap = affixes_overlap(&a.suffix, &b.suffix, |x, y| x.ends_with(y));
                if events_overlap && prefixes_overlap && suffixes_overlap {
                    return Err(NotificationError::Overlap);
                }
            }
        }
        Ok(())
    }

    /// The configurations an event (`ObjectCreated:Put`, …) on `key` fires.
    pub fn matching(&self, event_name: &str, key: &str) -> Vec<&LambdaNotification> {
        let full = format!("s3:{event_name}");
        self.lambda_functions
            .iter()
            .filter(|config| {
                config
                    .events
                    .iter()
                    .any(|event| events_overlap(event, &full))
                    && config.prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && config.suffix.as_deref().is_none_or(|s| key.ends_with(s))
            })
            .collect()
    }
}

/// Two event types overlap when equal or one is the other's `*`.
fn events_overlap(a: &str, b: &str) -> bool {
    let family = |e: &str| {
        e.rsplit_once(':')
            .map_or(e.to_string(), |(f, _)| f.to_string())
    };
    a == b
        || (a.ends_with(":*") && family(a) == family(b))
        || (b.ends_with(":*") && family(a) == family(b))
}

/// Two prefix (or suffix) filters overlap when one is absent or one
/// extends the other.
fn affixes_overlap(
    a: &Option<String>,
    b: &Option<String>,
    extends: fn(&str, &str) -> bool,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => extends(a, b) || extends(b, a),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(name: &str, valid: bool) {
        assert_eq!(validate_bucket_name(name).is_ok(), valid, "{name}");
    }

    #[test]
    fn bucket_names() {
        check_name("photos", true);
        check_name("my.bucket-1", true);
        check_name("a1b", true);
        check_name("ab", false);
        check_name(&"a".repeat(64), false);
        check_name("Photos", false);
        check_name("-photos", false);
        check_name("photos-", false);
        check_name("my..bucket", false);
        check_name("192.168.5.4", false);
        check_name("under_score", false);
        check_name("xn--bucket", false);
        check_name("bucket-s3alias", false);
    }

    fn config(
        id: &str,
        events: &[&str],
        prefix: Option<&str>,
        suffix: Option<&str>,
    ) -> LambdaNotification {
        LambdaNotification {
            id: id.to_string(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".to_string(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: prefix.map(str::to_string),
            suffix: suffix.map(str::to_string),
        }
    }

    fn check_overlap(a: LambdaNotification, b: LambdaNotification, overlap: bool) {
        let configuration = NotificationConfiguration {
            lambda_functions: vec![a, b],
        };
        let result = configuration.validate();
        assert_eq!(
            result == Err(NotificationError::Overlap),
            overlap,
            "{result:?}"
        );
    }

    #[test]
    fn overlapping_configurations() {
        let all = &["s3:ObjectCreated:*"];
        let put = &["s3:ObjectCreated:Put"];
        let copy = &["s3:ObjectCreated:Copy"];
        let removed = &["s3:ObjectRemoved:*"];
        check_overlap(
            config("a", all, None, None),
            config("b", put, None, None),
            true,
        );
        check_overlap(
            config("a", put, None, None),
            config("b", copy, None, None),
            false,
        );
        check_overlap(
            config("a", all, None, None),
            config("b", removed, None, None),
            false,
        );
        check_overlap(
            config("a", all, Some("in/"), None),
            config("b", all, Some("out/"), None),
            false,
        );
        check_overlap(
            config("a", all, Some("in/"), None),
            config("b", all, Some("in/x"), None),
            true,
        );
        check_overlap(
            config("a", all, None, Some(".jpg")),
            config("b", all, None, Some(".png")),
            false,
        );
        check_overlap(
            config("a", all, Some("in/"), None),
            config("b", all, None, Some(".png")),
            true,
        );
    }

    #[test]
    fn unknown_events_are_refused() {
        let configuration = NotificationConfiguration {
            lambda_functions: vec![config("a", &["s3:ObjectCreated:Bogus"], None, None)],
        };
        assert_eq!(
            configuration.validate(),
            Err(NotificationError::UnknownEvent)
        );
    }

    #[test]
    fn matching_filters_by_event_and_key() {
        let configuration = NotificationConfiguration {
            lambda_functions: vec![
                config(
                    "created",
                    &["s3:ObjectCreated:*"],
                    Some("uploads/"),
                    Some(".jpg"),
                ),
                config("removed", &["s3:ObjectRemoved:Delete"], None, None),
            ],
        };
        let ids = |event: &str, key: &str| -> Vec<String> {
            configuration
                .matching(event, key)
                .iter()
                .map(|c| c.id.clone())
                .collect()
        };
        assert_eq!(ids("ObjectCreated:Put", "uploads/a.jpg"), ["created"]);
        assert_eq!(ids("ObjectCreated:Copy", "uploads/a.jpg"), ["created"]);
        assert!(ids("ObjectCreated:Put", "uploads/a.png").is_empty());
        assert!(ids("ObjectCreated:Put", "other/a.jpg").is_empty());
        assert_eq!(ids("ObjectRemoved:Delete", "x"), ["removed"]);
    }
}
