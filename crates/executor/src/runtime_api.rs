//! The Runtime API (2018-06-01) that each instance's runtime drives: `next`,
//! `response`, `error` and `init/error`, with the `Lambda-Runtime-*` headers.
//!
//! Every instance gets its own listener, so an instance can only ever see and
//! answer its own invocations.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rayo_core::limits::SYNC_PAYLOAD_MAX_BYTES;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// How much of an oversized response is counted before giving up on its size.
const DRAIN_MAX_BYTES: usize = 256 * 1024 * 1024;

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
    Error {
        body: Bytes,
    },
    /// The response passed the payload limit; its size, when it was counted.
    ResponseTooLarge {
        size: Option<usize>,
    },
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
        // The response handler enforces the payload limit itself, so that
        // the waiting invocation learns of it.
        .layer(DefaultBodyLimit::disable())
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
    body: Body,
) -> Response {
    let Some(result) = take_in_flight(&state, &request_id) else {
        return invalid_request_id();
    };
    // Up to the limit the body is kept; past it, it is only counted, so
    // that the error can say how large the response was.
    let mut body = body;
    let mut kept = Vec::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The runtime went away mid-response; the instance's exit is
            // what the invocation will report.
            return runtime_error(StatusCode::BAD_REQUEST, "InvalidRequest", "incomplete body");
        };
        let Ok(frame) = frame.into_data() else {
            continue;
        };
        size += frame.len();
        if size <= SYNC_PAYLOAD_MAX_BYTES {
            kept.extend_from_slice(&frame);
        } else if size > DRAIN_MAX_BYTES {
            break;
        }
    }
    if size > SYNC_PAYLOAD_MAX_BYTES {
        let size = (size <= DRAIN_MAX_BYTES).then_some(size);
        let _ = result.send(RuntimeResult::ResponseTooLarge { size });
        return too_large();
    }
    let _ = result.send(RuntimeResult::Response(Bytes::from(kept)));
    accepted()
}

fn too_large() -> Response {
    let mut response = runtime_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &format!("Exceeded maximum allowed payload size ({SYNC_PAYLOAD_MAX_BYTES} bytes)."),
    );
    // The rest of the body is not read, so the connection cannot be reused.
    response
        .headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    response
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

/// Serves one instance's Runtime API. When the instance is sandboxed under
/// its own uid, a connection is served only if that uid owns its socket, so
/// no other instance can take or answer this one's invocations.
pub(crate) async fn serve(listener: TcpListener, router: Router, instance_uid: Option<u32>) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        if let Some(uid) = instance_uid {
            let owner = tokio::task::spawn_blocking(move || socket_owner_uid(peer, local))
                .await
                .ok()
                .flatten();
            if owner != Some(uid) {
                tracing::warn!(%peer, ?owner, expected = uid, "refused a Runtime API connection from outside the instance");
                continue;
            }
        }
        // A runtime may pipeline its result and its next request; the two
        // answers must not wait on each other's acknowledgement.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The uid owning the loopback TCP socket `peer` connected to `local`, from
/// the kernel's socket table.
fn socket_owner_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (SocketAddr::V4(peer), SocketAddr::V4(local)) = (peer, local) else {
        return None;
    };
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    owner_in_table(&table, peer, local)
}

fn owner_in_table(table: &str, peer: SocketAddrV4, local: SocketAddrV4) -> Option<u32> {
    // Addresses are the IPv4 address as a native-endian u32 in hex, then the port.
    let encode = |addr: SocketAddrV4| {
        format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(addr.ip().octets()),
            addr.port()
        )
    };
    let (peer, local) = (encode(peer), encode(local));
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&peer.as_str()) && fields.get(2) == Some(&local.as_str()))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_a_connection() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 200007        0 12345 1 0000000000000000 20 4 30 10 -1\n   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1\n";
        let peer: SocketAddrV4 = "127.0.0.1:41394".parse().unwrap();
        let local: SocketAddrV4 = "127.0.0.1:8080".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(owner_in_table(table, peer, local), Some(200_007));
            assert_eq!(owner_in_table(table, local, peer), Some(0));
        }
        let other: SocketAddrV4 = "127.0.0.1:1".parse().unwrap();
        assert_eq!(owner_in_table(table, other, local), None);
    }
}
