//! rayo's S3-compatible object store on the edge port: the S3 API
//! (2006-03-01) through `s3s`, which parses requests, verifies SigV4 and
//! writes S3's XML, over rayo's own [`ObjectStore`] and [`ObjectBodyStore`];
//! and bucket notifications, queued as asynchronous invocations in the
//! same transaction as the write that caused them.

#![forbid(unsafe_code)]

mod auth;
mod checksums;
mod edge;
mod host;
mod listing;
mod notifications;
mod service;

use std::sync::Arc;

use rayo_core::Region;
use rayo_core::s3::{ObjectBodyStore, ObjectStore};
use rayo_invoker::Invoker;

pub use edge::{S3Endpoint, is_s3_request};
pub use rayo_core::Credentials;
pub use service::{ReadObjectError, read_object};

/// What the S3 API works with.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Region and account of ARNs and events.
    pub region: Region,
    /// Buckets, objects' metadata, uploads.
    pub objects: Arc<dyn ObjectStore>,
    /// Objects' bytes.
    pub bodies: Arc<dyn ObjectBodyStore>,
    /// Queues notifications and checks their functions.
    pub invoker: Invoker,
    /// Access keys whose signatures verify.
    pub credentials: Credentials,
}
