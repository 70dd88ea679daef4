//! Invoke: `RequestResponse`, `DryRun` and `LogType=Tail`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use rayo_core::{FunctionRef, limits};
use rayo_executor::ExecutorError;
use rayo_invoker::{InvokeError, InvokeRequest};

use super::functions::load_function;
use crate::ApiState;
use crate::body::read_limited;
use crate::error::LambdaError;

/// Largest `X-Amz-Client-Context` header, base64-encoded.
const CLIENT_CONTEXT_MAX_BYTES: usize = 3583;

/// `POST /2015-03-31/functions/{name}/invocations`
pub(crate) async fn invoke(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, LambdaError> {
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let log_type = header(&headers, "x-amz-log-type").unwrap_or("None");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(LambdaError::validation(format!(
            "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )));
    }
    if !matches!(log_type, "None" | "Tail") {
        return Err(LambdaError::validation(format!(
            "1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
        )));
    }
    let payload = match read_limited(body, limits::SYNC_PAYLOAD_MAX_BYTES).await {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            return Err(LambdaError::too_large(
                limits::SYNC_PAYLOAD_MAX_BYTES,
                "InvokeFunction",
            ));
        }
        Err(error) => {
            return Err(LambdaError::invalid_content(format!(
                "Could not read the request body: {error}"
            )));
        }
    };
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
            return Err(LambdaError::invalid_content(format!(
                "Could not parse request body into json: Could not parse payload into json: {error}"
            )));
        }
        payload
    };
    let client_context = match header(&headers, "x-amz-client-context") {
        Some(encoded) => Some(decode_client_context(encoded)?),
        None => None,
    };
    let record = load_function(&state, &function_name, query.get("Qualifier"))?;
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut function = FunctionRef::parse(&function_name)?;
    function.name = record.config.name;
    if function.qualifier.is_none() {
        function.qualifier = query.get("Qualifier").cloned();
    }
    if invocation_type == "Event" {
        if payload.len() > limits::ASYNC_PAYLOAD_MAX_BYTES {
            return Err(LambdaError::too_large(
                limits::ASYNC_PAYLOAD_MAX_BYTES,
                "InvokeFunction",
            ));
        }
        let request = InvokeRequest {
            function,
            payload,
            client_context: None,
            request_id: None,
        };
        let request_id = state
            .invoker
            .invoke_async(request)
            .await
            .map_err(invoke_error)?;
        return Ok(accepted(&request_id, Bytes::new()));
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = InvokeRequest {
        function,
        payload,
        client_context,
        request_id: Some(request_id.clone()),
    };
    let outcome = state.invoker.invoke(request).await.map_err(invoke_error)?;
    let mut response = (StatusCode::OK, outcome.payload).into_response();
    let response_headers = response.headers_mut();
    // Callers find the invocation's log lines by this id.
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response_headers.insert("x-amzn-requestid", value);
    }
    response_headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(version) = HeaderValue::from_str(&outcome.executed_version) {
        response_headers.insert("x-amz-executed-version", version);
    }
    if let Some(function_error) = &outcome.function_error
        && let Ok(value) = HeaderValue::from_str(function_error)
    {
        response_headers.insert("x-amz-function-error", value);
    }
    if log_type == "Tail" {
        let tail = log_tail(&outcome.log_text, limits::LOG_TAIL_BYTES);
        let encoded = base64::engine::general_purpose::STANDARD.encode(tail);
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            response_headers.insert("x-amz-log-result", value);
        }
    }
    Ok(response)
}

/// `POST /2014-11-13/functions/{name}/invoke-async/`: the deprecated
/// InvokeAsync, which queues the event like `InvocationType=Event`.
pub(crate) async fn invoke_async(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Body,
) -> Result<Response, LambdaError> {
    let payload = match read_limited(body, limits::INVOKE_ASYNC_PAYLOAD_MAX_BYTES).await {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            return Err(LambdaError::too_large(
                limits::INVOKE_ASYNC_PAYLOAD_MAX_BYTES,
                "InvokeAsync",
            ));
        }
        Err(error) => {
            return Err(LambdaError::invalid_content(format!(
                "Could not read the request body: {error}"
            )));
        }
    };
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(LambdaError::invalid_content(format!(
            "Could not parse request body into json: {error}"
        )));
    }
    let record = load_function(&state, &function_name, None)?;
    let mut function = FunctionRef::parse(&function_name)?;
    function.name = record.config.name;
    let request = InvokeRequest {
        function,
        payload,
        client_context: None,
        request_id: None,
    };
    let request_id = state
        .invoker
        .invoke_async(request)
        .await
        .map_err(invoke_error)?;
    Ok(accepted(
        &request_id,
        Bytes::from_static(br#"{"Status":202}"#),
    ))
}

fn accepted(request_id: &str, body: Bytes) -> Response {
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// The last `max_bytes` of a log, cut at a character boundary.
pub(crate) fn log_tail(log: &str, max_bytes: usize) -> &str {
    if log.len() <= max_bytes {
        return log;
    }
    let mut start = log.len() - max_bytes;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

fn decode_client_context(encoded: &str) -> Result<String, LambdaError> {
    if encoded.len() > CLIENT_CONTEXT_MAX_BYTES {
        return Err(LambdaError::invalid_parameter(format!(
            "Client context must be smaller than {CLIENT_CONTEXT_MAX_BYTES} bytes when base64-encoded"
        )));
    }
    let invalid = || {
        LambdaError::invalid_content("Client context must be a valid Base64-encoded JSON object.")
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(text),
        _ => Err(invalid()),
    }
}

fn invoke_error(error: InvokeError) -> LambdaError {
    match error {
        InvokeError::FunctionNotFound(arn) => LambdaError::function_not_found(&arn),
        InvokeError::Store(error) => error.into(),
        InvokeError::Executor(ExecutorError::RuntimeUnavailable(error)) => {
            LambdaError::invalid_parameter(error.to_string())
        }
        InvokeError::Executor(ExecutorError::SandboxUnavailable(reason)) => {
            LambdaError::service(reason.to_string())
        }
        InvokeError::Executor(ExecutorError::Throttled(reason)) => {
            LambdaError::throttled(reason.as_str())
        }
        InvokeError::Executor(error) => {
            tracing::error!(%error, "invocation failed");
            LambdaError::service(error.to_string())
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_cut_at_char_boundaries() {
        assert_eq!(log_tail("abc", 10), "abc");
        assert_eq!(log_tail("abcdef", 3), "def");
        assert_eq!(log_tail("aé", 1), "");
        assert_eq!(log_tail("aéb", 2), "b");
    }
}
