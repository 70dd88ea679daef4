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
        if response.status().is_client_error() {
            response = complete_error(response, &request_id).await;
        }
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

/// Errors `s3s` raises itself (signature checks, name checks) carry no
/// message; S3's carry its wording and the request id.
async fn complete_error(response: Response, request_id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string());
    let Some(code) = code.filter(|_| !text.contains("<RequestId>")) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let mut completed = text.into_owned();
    let mut insert = String::new();
    if !completed.contains("<Message>")
        && let Some(message) = standard_message(&code)
    {
        insert.push_str(&format!("<Message>{message}</Message>"));
    }
    insert.push_str(&format!("<RequestId>{request_id}</RequestId>"));
    let end = format!("<Code>{code}</Code>");
    if let Some(at) = completed.find(&end) {
        let after = at + end.len();
        let message_end = completed[after..]
            .find("</Message>")
            .map(|i| after + i + "</Message>".len());
        completed.insert_str(message_end.unwrap_or(after), &insert);
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(completed))
}

/// S3's wording of the errors `s3s` raises without a message.
fn standard_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidBucketName" => "The specified bucket is not valid.",
        "AccessDenied" => "Access Denied",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        _ => return None,
    })
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
