//! The Runtime API (2018-06-01) that each instance's runtime drives: `next`,
//! `response`, `error` and `init/error`, with the `Lambda-Runtime-*` headers.
//!
//! Every instance gets its own listener, so an instance can only ever see and
//! answer its own invocations.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rayo_core::limits::SYNC_PAYLOAD_MAX_BYTES;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An invocation handed to the runtime by `next`.
#[derive(Debug)]
pub(crate) struct NextInvocation {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: i64,
    pub(crate) invoked_function_arn: String,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) result: oneshot::Sender<RuntimeResult>,
}

/// What the runtime reported for an invocation.
#[derive(Debug)]
pub(crate) enum RuntimeResult {
    Response(Bytes),
    Error { body: Bytes },
    ResponseTooLarge { size: usize },
}

/// Lifecycle signals from the runtime.
#[derive(Debug)]
pub(crate) enum RuntimeEvent {
    /// The runtime asked for its first invocation: init is over.
    Ready,
    /// The runtime reported an init failure.
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
}

/// State shared between an instance and its Runtime API handlers.
#[derive(Debug)]
pub(crate) struct RuntimeApiState {
    next: tokio::sync::Mutex<mpsc::Receiver<NextInvocation>>,
    in_flight: Mutex<Option<(String, oneshot::Sender<RuntimeResult>)>>,
    events: mpsc::UnboundedSender<RuntimeEvent>,
    ready: AtomicBool,
}

impl RuntimeApiState {
    pub(crate) fn new(
        next: mpsc::Receiver<NextInvocation>,
        events: mpsc::UnboundedSender<RuntimeEvent>,
    ) -> RuntimeApiState {
        RuntimeApiState {
            next: tokio::sync::Mutex::new(next),
            in_flight: Mutex::new(None),
            events,
            ready: AtomicBool::new(false),
        }
    }
}

/// Every Runtime API path, literally.
pub(crate) fn routes(state: Arc<RuntimeApiState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        // Bodies up to the limit are read; the response handler reports larger ones.
        .layer(DefaultBodyLimit::max(SYNC_PAYLOAD_MAX_BYTES + 1024 * 1024))
        .fallback(|| async {
            runtime_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Unknown Runtime API path",
            )
        })
        .with_state(state)
}

async fn next(State(state): State<Arc<RuntimeApiState>>) -> Response {
    if !state.ready.swap(true, Ordering::SeqCst) {
        let _ = state.events.send(RuntimeEvent::Ready);
    }
    let mut queue = state.next.lock().await;
    let Some(invocation) = queue.recv().await else {
        return runtime_error(
            StatusCode::GONE,
            "InstanceEnded",
            "The instance is shutting down",
        );
    };
    drop(queue);
    let mut headers = HeaderMap::new();
    insert(
        &mut headers,
        "lambda-runtime-aws-request-id",
        &invocation.request_id,
    );
    insert(
        &mut headers,
        "lambda-runtime-deadline-ms",
        &invocation.deadline_ms.to_string(),
    );
    insert(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        &invocation.invoked_function_arn,
    );
    if let Some(trace_id) = &invocation.trace_id {
        insert(&mut headers, "lambda-runtime-trace-id", trace_id);
    }
    if let Some(client_context) = &invocation.client_context {
        insert(
            &mut headers,
            "lambda-runtime-client-context",
            client_context,
        );
    }
    if let Some(identity) = &invocation.cognito_identity {
        insert(&mut headers, "lambda-runtime-cognito-identity", identity);
    }
    insert(&mut headers, "content-type", "application/json");
    *state.in_flight.lock().expect("in-flight lock poisoned") =
        Some((invocation.request_id, invocation.result));
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn response(
    State(state): State<Arc<RuntimeApiState>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(result) = take_in_flight(&state, &request_id) else {
        return invalid_request_id();
    };
    if body.len() > SYNC_PAYLOAD_MAX_BYTES {
        let _ = result.send(RuntimeResult::ResponseTooLarge { size: body.len() });
        return runtime_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({SYNC_PAYLOAD_MAX_BYTES} bytes)."),
        );
    }
    let _ = result.send(RuntimeResult::Response(body));
    accepted()
}

async fn error(
    State(state): State<Arc<RuntimeApiState>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(result) = take_in_flight(&state, &request_id) else {
        return invalid_request_id();
    };
    let _ = result.send(RuntimeResult::Error { body });
    accepted()
}

async fn init_error(
    State(state): State<Arc<RuntimeApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        return runtime_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime.",
        );
    }
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = state
        .events
        .send(RuntimeEvent::InitError { error_type, body });
    accepted()
}

fn take_in_flight(
    state: &RuntimeApiState,
    request_id: &str,
) -> Option<oneshot::Sender<RuntimeResult>> {
    let mut in_flight = state.in_flight.lock().expect("in-flight lock poisoned");
    match in_flight.as_ref() {
        Some((id, _)) if id == request_id => in_flight.take().map(|(_, sender)| sender),
        _ => None,
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn invalid_request_id() -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}
