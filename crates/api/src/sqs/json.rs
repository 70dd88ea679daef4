//! SQS's JSON 1.0 protocol: `POST /` with `X-Amz-Target: AmazonSQS.<Op>`
//! and a JSON body; errors carry `__type` and the `x-amzn-query-error`
//! header with the query protocol's code, as SQS sends them.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ErrorCode, SqsError};
use super::{Protocol, RequestContext};
use crate::ApiState;
use crate::body::read_limited;

/// The JSON protocol's content type.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Largest request body either protocol reads: a batch of messages up to
/// 1 MiB in all, escaped or form-encoded.
pub(super) const REQUEST_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Runs one JSON-protocol operation.
pub(crate) async fn handle(state: Arc<ApiState>, operation: String, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let context = RequestContext {
        host: request_host(request.headers(), request.uri()),
        protocol: Protocol::Json,
    };
    let body = match read_limited(request.into_body(), REQUEST_MAX_BYTES).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            let error = SqsError::invalid_parameter(format!(
                "Request body must be smaller than {REQUEST_MAX_BYTES} bytes."
            ));
            return error_response(&error, &request_id);
        }
        Err(error) => {
            let error = SqsError::new(ErrorCode::Serialization, error);
            return error_response(&error, &request_id);
        }
    };
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                let error = SqsError::new(ErrorCode::Serialization, "Expected a JSON object");
                return error_response(&error, &request_id);
            }
            Err(error) => {
                let error = SqsError::new(ErrorCode::Serialization, error.to_string());
                return error_response(&error, &request_id);
            }
        }
    };
    match super::call(&state, &context, &operation, input).await {
        Ok(output) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (
                    header::HeaderName::from_static("x-amzn-requestid"),
                    &request_id,
                ),
            ],
            output.to_string(),
        )
            .into_response(),
        Err(error) => error_response(&error, &request_id),
    }
}

/// The host a client addressed, for the queue URLs it is given back.
pub(super) fn request_host(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| !host.is_empty())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// An error in the JSON protocol's shape.
fn error_response(error: &SqsError, request_id: &str) -> Response {
    let body = json!({ "__type": error.code.json_type(), "message": error.message });
    let fault = if error.code.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    let query_error = format!("{};{fault}", error.code.query_code());
    (
        error.code.status(),
        [
            (header::CONTENT_TYPE, CONTENT_TYPE.to_string()),
            (
                header::HeaderName::from_static("x-amzn-query-error"),
                query_error,
            ),
            (
                header::HeaderName::from_static("x-amzn-requestid"),
                request_id.to_string(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn errors_carry_the_query_code_in_a_header() {
        let response = error_response(&SqsError::queue_does_not_exist(), "rid");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let headers = response.headers();
        assert_eq!(
            headers["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        assert_eq!(headers["content-type"], CONTENT_TYPE);
        assert_eq!(headers["x-amzn-requestid"], "rid");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "__type": "com.amazonaws.sqs#QueueDoesNotExist",
                "message": "The specified queue does not exist.",
            })
        );
    }

    #[test]
    fn host_comes_from_the_host_header() {
        let mut headers = HeaderMap::new();
        let uri: axum::http::Uri = "/".parse().unwrap();
        assert_eq!(request_host(&headers, &uri), "localhost");
        headers.insert(header::HOST, "127.0.0.1:4566".parse().unwrap());
        assert_eq!(request_host(&headers, &uri), "127.0.0.1:4566");
    }
}
