//! Reading request bodies with a size limit, failing in AWS's shape.

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

/// Reads at most `limit` bytes; `None` when the body is larger.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Option<Bytes>, String> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Ok(None)
            } else {
                Err(error.to_string())
            }
        }
    }
}
