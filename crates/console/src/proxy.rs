//! `/api/aws/…`: the console's way into rayo's APIs. A request is
//! forwarded, path and all, into the API router the AWS clients use, with
//! the console's own cookie and token removed. Only the APIs the console
//! works with pass: Lambda's dated paths, API Gateway v2's `/v2/`, the JSON
//! 1.1 APIs by `X-Amz-Target` (Logs, EventBridge, SQS) and code downloads.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::Response;
use tower::ServiceExt;

use crate::{CSRF_HEADER, Console, error};

const PREFIX: &str = "/api/aws";

/// Forwards a request into the API router.
pub(crate) async fn forward(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(target_path) = parts.uri.path().strip_prefix(PREFIX) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "no such path",
        );
    };
    let target_path = if target_path.is_empty() {
        "/"
    } else {
        target_path
    };
    let allowed = is_lambda_path(target_path)
        || target_path.starts_with("/v2/")
        || target_path.starts_with("/_rayo/code/")
        || (target_path == "/" && json_target(&parts.headers).is_some());
    if !allowed {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "the console forwards only Lambda, API Gateway, Logs, EventBridge and SQS requests",
        );
    }
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{target_path}?{query}"),
        None => target_path.to_string(),
    };
    let Ok(uri) = path_and_query.parse::<Uri>() else {
        return error(StatusCode::BAD_REQUEST, "ValidationException", "bad path");
    };
    parts.uri = uri;
    // The console's own routing left path parameters in the extensions,
    // which the API router would take for its own: only the client's
    // address goes on.
    let connect_info = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .cloned();
    parts.extensions = axum::http::Extensions::new();
    if let Some(connect_info) = connect_info {
        parts.extensions.insert(connect_info);
    }
    parts.headers.remove(header::COOKIE);
    parts.headers.remove(CSRF_HEADER);
    parts.headers.remove(header::ORIGIN);
    let request = Request::from_parts(parts, body);
    match console.config.api.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Whether a request (to the console's API) would change anything: every
/// method but GET and HEAD, except forwarded JSON 1.1 operations that only
/// read (`Describe…`, `Get…`, `List…`, `Filter…`).
pub(crate) fn is_mutating(request: &Request) -> bool {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return false;
    }
    let forwarded_root = matches!(request.uri().path(), "/api/aws/" | "/api/aws");
    if forwarded_root
        && *request.method() == Method::POST
        && let Some(target) = json_target(request.headers())
    {
        let operation = target.rsplit('.').next().unwrap_or_default();
        let reads = ["Describe", "Get", "List", "Filter"];
        // SQS's ReceiveMessage, which hides what it returns, is a change.
        return !reads.iter().any(|verb| operation.starts_with(verb));
    }
    true
}

/// The `X-Amz-Target` of a JSON 1.1 request to one of the APIs the console uses.
fn json_target(headers: &axum::http::HeaderMap) -> Option<&str> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    ["Logs_20140328.", "AWSEvents.", "AmazonSQS."]
        .iter()
        .any(|prefix| target.starts_with(prefix))
        .then_some(target)
}

/// Lambda's dated paths, such as `/2015-03-31/functions`.
fn is_lambda_path(path: &str) -> bool {
    path.as_bytes().get(1..12).is_some_and(|date| {
        date.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'/',
            _ => b.is_ascii_digit(),
        })
    })
}
