//! The S3 API on the edge listener: which requests are S3's, and serving
//! them through `s3s` with S3's request ids.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::S3Config;
use crate::auth::RayoAuth;
use crate::host::{RayoHost, bucket_of_host};
use crate::notifications::{RequestContext, Sequencer};
use crate::service::RayoS3;

/// The S3 API, ready to serve requests.
#[derive(Clone)]
pub struct S3Endpoint {
    service: S3Service,
}

impl std::fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Endpoint").finish_non_exhaustive()
    }
}

impl S3Endpoint {
    /// The S3 API over these stores, verifying signatures with these keys.
    pub fn new(config: S3Config) -> S3Endpoint {
        let mut builder = S3ServiceBuilder::new(RayoS3 {
            region: config.region,
            objects: config.objects,
            bodies: config.bodies,
            invoker: config.invoker,
            sequencer: Arc::new(Sequencer::default()),
        });
        builder.set_auth(RayoAuth(config.credentials));
        builder.set_host(RayoHost);
        S3Endpoint {
            service: builder.build(),
        }
    }

    /// Serves one S3 request from `source_ip`.
    pub async fn serve(&self, request: Request, source_ip: IpAddr) -> Response {
        let context = RequestContext {
            request_id: new_request_id(),
            id2: new_id2(),
            source_ip: source_ip.to_string(),
        };
        let (request_id, id2) = (context.request_id.clone(), context.id2.clone());
        let mut request = request.map(s3s::Body::http_body_unsync);
        request.extensions_mut().insert(context);
        let mut response = match self.service.call(request).await {
            Ok(response) => response.map(axum::body::Body::new).into_response(),
            Err(error) => {
                tracing::error!(?error, "S3 request failed");
                (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    [(http::header::CONTENT_TYPE, "application/xml")],
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>{request_id}</RequestId></Error>"
                    ),
                )
                    .into_response()
            }
        };
        let headers = response.headers_mut();
        for (name, value) in [("x-amz-request-id", request_id), ("x-amz-id-2", id2)] {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Whether a request is for S3 whatever its path: addressed to a bucket's
/// host (`<bucket>.s3.localhost`, `<bucket>.localhost`), or signed with
/// SigV4 for the `s3` service (in the `Authorization` header or a presigned
/// URL's `X-Amz-Credential`). Unsigned path-style requests reach S3 as the
/// edge's fallback.
pub fn is_s3_request(request: &Request) -> bool {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    if host.is_some_and(|host| bucket_of_host(host).is_some()) {
        return true;
    }
    let signed_header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|auth| {
            auth.starts_with("AWS4-HMAC-SHA256") && auth.contains("/s3/aws4_request")
        });
    let presigned = request.uri().query().is_some_and(|query| {
        query.split('&').any(|pair| {
            pair.strip_prefix("X-Amz-Credential=")
                .is_some_and(|credential| {
                    credential.ends_with("%2Fs3%2Faws4_request")
                        || credential.ends_with("/s3/aws4_request")
                })
        })
    });
    signed_header || presigned
}

/// A request id as S3 writes them: 16 uppercase hex digits.
fn new_request_id() -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode_upper(bytes)
}

/// An extended request id (`x-amz-id-2`): opaque base64.
fn new_id2() -> String {
    use base64::Engine;
    let bytes: [u8; 48] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
