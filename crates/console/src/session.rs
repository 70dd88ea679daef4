//! Signing in and out, and what the app asks first.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{Role, Session};
use crate::{CSRF_HEADER, Console, SESSION_COOKIE, error, session_cookie};

/// `GET /api/session`: the current session; on an open console a browser
/// without one gets one.
pub(crate) async fn get_session(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    if let Some(session) = session_cookie(&headers).and_then(|id| console.sessions.get(&id)) {
        return describe(&console, &session, None);
    }
    if console.config.open {
        let (id, session) = console.sessions.open(Role::Admin, None);
        return describe(&console, &session, Some(&id));
    }
    Json(serde_json::json!({ "signedIn": false, "open": false })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignIn {
    access_key_id: String,
    secret_access_key: String,
}

/// `POST /api/session`: signs in with an access key.
pub(crate) async fn sign_in(
    State(console): State<Arc<Console>>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(sign_in) = serde_json::from_slice::<SignIn>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "expected {\"accessKeyId\": …, \"secretAccessKey\": …}",
        );
    };
    let Some(role) = console
        .config
        .credentials
        .check(&sign_in.access_key_id, &sign_in.secret_access_key)
    else {
        tracing::info!(access_key_id = %sign_in.access_key_id, "console sign-in refused");
        return error(
            StatusCode::UNAUTHORIZED,
            "UnrecognizedClientException",
            "the access key id or secret access key is wrong",
        );
    };
    let (id, session) = console
        .sessions
        .open(role, Some(sign_in.access_key_id.clone()));
    describe(&console, &session, Some(&id))
}

/// `DELETE /api/session`: signs out.
pub(crate) async fn sign_out(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(id) = session_cookie(&headers) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let Some(session) = console.sessions.get(&id) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let token = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !crate::auth::constant_time_eq(token, session.csrf_token.as_bytes()) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "missing or wrong console token (x-rayo-console-token)",
        );
    }
    console.sessions.close(&id);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "rayo_console=; Path=/_rayo/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

/// `GET /api/runtimes`: the runtimes this server can run.
pub(crate) async fn runtimes(State(console): State<Arc<Console>>) -> Response {
    Json(serde_json::json!({ "runtimes": console.config.runtimes })).into_response()
}

fn describe(console: &Console, session: &Session, new_cookie: Option<&str>) -> Response {
    let mut response = Json(serde_json::json!({
        "signedIn": true,
        "open": console.config.open,
        "role": session.role.as_str(),
        "accessKeyId": session.access_key_id,
        "csrfToken": session.csrf_token,
    }))
    .into_response();
    if let Some(id) = new_cookie {
        let cookie =
            format!("{SESSION_COOKIE}={id}; Path=/_rayo/console; HttpOnly; SameSite=Strict");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}
