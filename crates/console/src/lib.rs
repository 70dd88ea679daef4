//! rayo's web console, served by rayo itself under `/_rayo/console/`: the
//! browser app (built from `console/` at the repository root into
//! `console/dist`, embedded in the binary) and its backend under
//! `/_rayo/console/api/`. The app reaches rayo's APIs only through
//! `/_rayo/console/api/aws/…`, which checks the session, its role and the
//! request's CSRF token and Origin before forwarding the request into the
//! same router the AWS clients use.

#![forbid(unsafe_code)]

mod assets;
mod auth;
mod proxy;
mod s3_triggers;
mod session;
mod test_events;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use rayo_core::Region;
use rayo_core::s3::ObjectStore;
use rayo_core::store::FunctionStore;
use rayo_core::test_event::TestEventStore;

pub use auth::{ConsoleCredentials, Role};

/// The cookie that names a session.
const SESSION_COOKIE: &str = "rayo_console";
/// The header that repeats the session's CSRF token on every request that
/// is not a GET or HEAD.
const CSRF_HEADER: &str = "x-rayo-console-token";

/// What the console needs from the server.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Whether the console opens without signing in (the listener is bound
    /// to a loopback address).
    pub open: bool,
    /// Keys that can sign in.
    pub credentials: ConsoleCredentials,
    /// Saved test events.
    pub test_events: Arc<dyn TestEventStore>,
    /// The runtimes a new function may use, such as `python3.11`.
    pub runtimes: Vec<String>,
    /// rayo's API router (without the console), where the console's API
    /// requests are forwarded.
    pub api: Router,
    /// Routes served under `/_rayo/console/api/metrics/` (paths relative to
    /// it, such as `/summary`), behind the console's access checks.
    pub metrics: Option<Router>,
    /// Buckets, whose notifications are the S3 triggers.
    pub objects: Arc<dyn ObjectStore>,
    /// Functions, which an S3 trigger must name.
    pub functions: Arc<dyn FunctionStore>,
    /// The region functions' ARNs name.
    pub region: Region,
}

#[derive(Debug)]
struct Console {
    config: ConsoleConfig,
    sessions: auth::Sessions,
}

/// The console's routes, relative to `/_rayo/console` (the edge router
/// nests them there).
pub fn router(config: ConsoleConfig) -> Router {
    let console = Arc::new(Console {
        config,
        sessions: auth::Sessions::default(),
    });
    let mut api = Router::new()
        .route(
            "/api/session",
            get(session::get_session)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/api/runtimes", get(session::runtimes))
        .route(
            "/api/functions/{name}/test-events",
            get(test_events::list_test_events),
        )
        .route(
            "/api/functions/{name}/test-events/{event}",
            put(test_events::put_test_event).delete(test_events::delete_test_event),
        )
        .route("/api/s3/notifications", get(s3_triggers::list))
        .route(
            "/api/s3/buckets/{bucket}/notifications/{id}",
            put(s3_triggers::put).delete(s3_triggers::delete),
        )
        .route("/api/aws/", any(proxy::forward))
        .route("/api/aws/{*path}", any(proxy::forward))
        .route("/api/{*path}", any(not_found));
    if let Some(metrics) = console.config.metrics.clone() {
        api = api.nest_service("/api/metrics", metrics);
    }
    let api = api.layer(axum::middleware::from_fn_with_state(
        console.clone(),
        check_access,
    ));
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*file}", get(assets::asset))
        .merge(api)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// Every API request but the session's own needs a session; every request
/// that is not a GET or HEAD needs the session's CSRF token and, from a
/// browser, this origin; a read-only session is refused anything that
/// changes state.
async fn check_access(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let safe_method = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe_method && !same_origin(request.headers()) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "the request's Origin is not this console's",
        );
    }
    if path == "/api/session" {
        return next.run(request).await;
    }
    let Some(session) = session_cookie(request.headers()).and_then(|id| console.sessions.get(&id))
    else {
        return error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            "sign in to the console first",
        );
    };
    if !safe_method {
        let token = request
            .headers()
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !auth::constant_time_eq(token, session.csrf_token.as_bytes()) {
            return error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "missing or wrong console token (x-rayo-console-token)",
            );
        }
    }
    if session.role == Role::ReadOnly && proxy::is_mutating(&request) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "the read-only role cannot change anything",
        );
    }
    next.run(request).await
}

/// A browser's Origin, when it sends one, must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Browsers send Origin on every cross-origin request and on every
        // same-origin one that is not a GET or HEAD; a request without one
        // is no browser's, and still needs the session's token.
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Headers on everything the console serves: nothing but this origin may
/// be loaded or framed.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "no such console API",
    )
}

/// An error in the shape the AWS JSON APIs use.
fn error(status: StatusCode, type_name: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "__type": type_name, "message": message }).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
