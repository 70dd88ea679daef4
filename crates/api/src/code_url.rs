//! Signed, expiring links from which `GetFunction`'s `Code.Location`
//! downloads a function's zip, as S3 presigned URLs do on AWS.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::ApiState;

/// How long a link stays valid, as on AWS.
const LINK_LIFETIME_SECONDS: i64 = 600;

/// Signs and checks download links with a server secret.
#[derive(Clone)]
pub struct CodeUrlSigner {
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for CodeUrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeUrlSigner")
    }
}

impl CodeUrlSigner {
    /// A signer with this secret key.
    pub fn new(key: Vec<u8>) -> CodeUrlSigner {
        CodeUrlSigner { key: Arc::new(key) }
    }

    /// A link to the zip with this digest, valid for ten minutes.
    pub fn link(&self, base_url: &str, sha256_hex: &str) -> String {
        let expires = OffsetDateTime::now_utc().unix_timestamp() + LINK_LIFETIME_SECONDS;
        let signature = self.sign(sha256_hex, expires);
        format!("{base_url}/_rayo/code/{sha256_hex}.zip?expires={expires}&signature={signature}")
    }

    /// A digest of `message` under the server secret: stable for this
    /// server, unguessable without its key (function URL ids).
    pub(crate) fn keyed_digest(&self, message: &str) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sign(&self, sha256_hex: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(format!("{sha256_hex}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, sha256_hex: &str, expires: i64, signature: &str) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(format!("{sha256_hex}\n{expires}").as_bytes());
        mac.verify_slice(&signature).is_ok()
            && OffsetDateTime::now_utc().unix_timestamp() <= expires
    }
}

pub(crate) async fn download(
    State(state): State<Arc<ApiState>>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(sha256_hex) = file.strip_suffix(".zip") else {
        return (StatusCode::NOT_FOUND, "no such package\n").into_response();
    };
    let valid = sha256_hex.len() == 64 && sha256_hex.bytes().all(|b| b.is_ascii_hexdigit());
    let expires = query.get("expires").and_then(|e| e.parse::<i64>().ok());
    let authorized = match (expires, query.get("signature")) {
        (Some(expires), Some(signature)) => state.code_urls.verify(sha256_hex, expires, signature),
        _ => false,
    };
    if !valid || !authorized {
        return (
            StatusCode::FORBIDDEN,
            "the link is invalid or has expired\n",
        )
            .into_response();
    }
    let code = state.code.clone();
    let sha = sha256_hex.to_string();
    match tokio::task::spawn_blocking(move || code.read_package(&sha)).await {
        Ok(Ok(bytes)) => {
            (StatusCode::OK, [("content-type", "application/zip")], bytes).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such package\n").into_response(),
    }
}
