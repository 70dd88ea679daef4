//! `/api/functions/{name}/test-events`: the Test tab's saved events, at
//! most ten per function, kept by the server.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rayo_core::test_event::{
    MAX_TEST_EVENT_BYTES, TestEvent, TestEventError, validate_test_event_name,
};
use serde::Deserialize;
use tower::ServiceExt;

use crate::{Console, error};

/// `GET`: the function's events, by name.
pub(crate) async fn list_test_events(
    State(console): State<Arc<Console>>,
    Path(function_name): Path<String>,
) -> Response {
    let test_events = console.config.test_events.clone();
    let listed =
        tokio::task::spawn_blocking(move || test_events.list_test_events(&function_name)).await;
    match listed {
        Ok(Ok(events)) => {
            let events: Vec<_> = events
                .into_iter()
                .map(|event| {
                    serde_json::json!({
                        "Name": event.name,
                        "Event": serde_json::from_str::<serde_json::Value>(&event.event_json)
                            .unwrap_or(serde_json::Value::Null),
                        "LastModified": event.last_modified_ms,
                    })
                })
                .collect();
            Json(serde_json::json!({ "TestEvents": events })).into_response()
        }
        Ok(Err(store_error)) => service_error(&store_error),
        Err(join_error) => service_error(&join_error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutTestEvent {
    event: serde_json::Value,
}

/// `PUT …/{event}` with `{"Event": …}`: saves an event of an existing function.
pub(crate) async fn put_test_event(
    State(console): State<Arc<Console>>,
    Path((function_name, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(invalid) = validate_test_event_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &invalid.to_string(),
        );
    }
    if body.len() > MAX_TEST_EVENT_BYTES + 64 {
        return too_large(body.len());
    }
    let put = match serde_json::from_slice::<PutTestEvent>(&body) {
        Ok(put) => put,
        Err(parse_error) => {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &format!("expected {{\"Event\": <JSON>}}: {parse_error}"),
            );
        }
    };
    let event_json = put.event.to_string();
    if event_json.len() > MAX_TEST_EVENT_BYTES {
        return too_large(event_json.len());
    }
    if let Some(missing) = function_missing(&console, &function_name).await {
        return missing;
    }
    let event = TestEvent {
        function_name,
        name,
        event_json,
        last_modified_ms: now_ms(),
    };
    let test_events = console.config.test_events.clone();
    let saved =
        tokio::task::spawn_blocking(move || test_events.put_test_event(&event).map(|()| event))
            .await;
    match saved {
        Ok(Ok(event)) => Json(serde_json::json!({
            "Name": event.name,
            "LastModified": event.last_modified_ms,
        }))
        .into_response(),
        Ok(Err(TestEventError::TooMany)) => error(
            StatusCode::BAD_REQUEST,
            "LimitExceededException",
            &TestEventError::TooMany.to_string(),
        ),
        Ok(Err(other)) => service_error(&other),
        Err(join_error) => service_error(&join_error),
    }
}

/// `DELETE …/{event}`.
pub(crate) async fn delete_test_event(
    State(console): State<Arc<Console>>,
    Path((function_name, name)): Path<(String, String)>,
) -> Response {
    let test_events = console.config.test_events.clone();
    let deleted =
        tokio::task::spawn_blocking(move || test_events.delete_test_event(&function_name, &name))
            .await;
    match deleted {
        Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(false)) => error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "no such test event",
        ),
        Ok(Err(store_error)) => service_error(&store_error),
        Err(join_error) => service_error(&join_error),
    }
}

/// Lambda's own answer when the function does not exist, asked through
/// the Lambda API as any client would.
async fn function_missing(console: &Console, function_name: &str) -> Option<Response> {
    let path = format!(
        "/2015-03-31/functions/{}",
        percent_encode_segment(function_name)
    );
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Body::empty())
        .ok()?;
    let response = match console.config.api.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    (!response.status().is_success()).then_some(response)
}

fn percent_encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn too_large(len: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        &TestEventError::TooLarge(len).to_string(),
    )
}

fn service_error(cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(%cause, "saved test events failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        "the test events could not be read or written",
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
