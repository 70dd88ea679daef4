//! Tags: TagResource, UntagResource and ListTags, addressed by function ARN.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use rayo_core::FunctionRecord;
use rayo_core::function::validate_tags;
use serde_json::json;

use super::functions::{load_function, save};
use super::shapes::{TagResourceIn, parse_json};
use crate::ApiState;
use crate::error::LambdaError;

/// `GET /2017-03-31/tags/{arn}`
pub(crate) async fn list_tags(
    State(state): State<Arc<ApiState>>,
    Path(resource): Path<String>,
) -> Result<Response, LambdaError> {
    let record = load_tagged(&state, &resource)?;
    Ok(Json(json!({ "Tags": record.tags })).into_response())
}

/// `POST /2017-03-31/tags/{arn}`
pub(crate) async fn tag_resource(
    State(state): State<Arc<ApiState>>,
    Path(resource): Path<String>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: TagResourceIn = parse_json(&body)?;
    let mut record = load_tagged(&state, &resource)?;
    let tags = input.tags.unwrap_or_default();
    let mut merged = record.tags.clone();
    merged.extend(tags);
    validate_tags(&merged)?;
    record.tags = merged;
    let revision = record.config.revision_id.clone();
    save(&state, &record, &revision)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /2017-03-31/tags/{arn}?tagKeys=a&tagKeys=b`
pub(crate) async fn untag_resource(
    State(state): State<Arc<ApiState>>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, LambdaError> {
    let mut record = load_tagged(&state, &resource)?;
    let keys: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == "tagKeys")
        .map(|(_, value)| {
            percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    for key in keys {
        record.tags.remove(&key);
    }
    let revision = record.config.revision_id.clone();
    save(&state, &record, &revision)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tags are addressed by the function's full ARN.
fn load_tagged(state: &ApiState, resource: &str) -> Result<FunctionRecord, LambdaError> {
    if !resource.starts_with("arn:") {
        return Err(LambdaError::validation(format!(
            "1 validation error detected: Value '{resource}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:[a-zA-Z0-9-_]+)"
        )));
    }
    load_function(state, resource, None)
}
