//! Event source mappings: Create, Get, List, Update and
//! DeleteEventSourceMapping, for rayo's own SQS queues.
//!
//! Changes are durable when answered; the pollers (`invoker`'s
//! `SqsPoller`) are woken to start or stop. As on Lambda, the answer to a
//! change reports the transition (`Creating`, `Updating`, `Enabling`,
//! `Disabling`, `Deleting`) and later reads the state reached (`Enabled`,
//! `Disabled`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rayo_core::FunctionRef;
use rayo_core::event_source::{
    EventSourceMapping, MappingFilter, SQS_BATCH_SIZE_DEFAULT, check_sqs_batching, parse_queue_arn,
    validate_batch_size, validate_batching_window, validate_function_response_types,
    validate_maximum_concurrency,
};
use rayo_core::store::StoreError;
use rayo_core::validation::ValidationError;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::functions::load_function;
use super::shapes::parse_json;
use crate::ApiState;
use crate::error::LambdaError;

/// The body of CreateEventSourceMapping.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateEventSourceMappingIn {
    event_source_arn: Option<String>,
    function_name: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    function_response_types: Option<Vec<String>>,
    scaling_config: Option<ScalingConfigIn>,
    filter_criteria: Option<FilterCriteriaIn>,
    /// Parameters of other kinds of event source, refused for queues.
    #[serde(flatten)]
    others: BTreeMap<String, Value>,
}

/// The body of UpdateEventSourceMapping.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateEventSourceMappingIn {
    function_name: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    function_response_types: Option<Vec<String>>,
    scaling_config: Option<ScalingConfigIn>,
    filter_criteria: Option<FilterCriteriaIn>,
    #[serde(flatten)]
    others: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScalingConfigIn {
    maximum_concurrency: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterCriteriaIn {
    #[serde(default)]
    filters: Vec<Value>,
}

/// `POST /2015-03-31/event-source-mappings`
pub(crate) async fn create_event_source_mapping(
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: CreateEventSourceMappingIn = parse_json(&body)?;
    refuse_other_parameters(&input.others)?;
    refuse_filters(input.filter_criteria.as_ref())?;
    let function_name = input.function_name.ok_or_else(|| {
        LambdaError::validation(
            "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let function = resolve_function(&state, &function_name)?;
    let Some(event_source_arn) = input.event_source_arn else {
        return Err(LambdaError::invalid_parameter(
            "Unrecognized event source, must be an Amazon SQS queue: this server has no other event sources",
        ));
    };
    let fifo = check_queue(&state, &event_source_arn)?;
    let batch_size = match input.batch_size {
        Some(size) => validate_batch_size(size)?,
        None => SQS_BATCH_SIZE_DEFAULT,
    };
    let maximum_batching_window_seconds = match input.maximum_batching_window_in_seconds {
        Some(seconds) => validate_batching_window(seconds)?,
        None => 0,
    };
    check_sqs_batching(batch_size, maximum_batching_window_seconds, fifo)?;
    let report_batch_item_failures = match &input.function_response_types {
        Some(types) => validate_function_response_types(types)?,
        None => false,
    };
    let maximum_concurrency = scaling(input.scaling_config)?;
    let existing = state.event_source_mappings.list_mappings(
        &MappingFilter {
            event_source_arn: Some(&event_source_arn),
            function_name: Some(&function.name),
        },
        None,
        usize::MAX,
    )?;
    if let Some(existing) = existing.iter().find(|m| m.qualifier == function.qualifier) {
        return Err(duplicate(&event_source_arn, &function_name, &existing.uuid));
    }
    let now = now_ms();
    let mapping = EventSourceMapping {
        uuid: uuid::Uuid::new_v4().to_string(),
        event_source_arn,
        function_name: function.name,
        qualifier: function.qualifier,
        enabled: input.enabled.unwrap_or(true),
        batch_size,
        maximum_batching_window_seconds,
        report_batch_item_failures,
        maximum_concurrency,
        created_ms: now,
        last_modified_ms: now,
    };
    match state.event_source_mappings.create_mapping(&mapping) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(duplicate(
                &mapping.event_source_arn,
                &function_name,
                "(unknown)",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    state.mappings_changed.notify_one();
    tracing::info!(uuid = %mapping.uuid, queue = %mapping.event_source_arn,
        function = %mapping.function_name, "event source mapping created");
    Ok((
        StatusCode::ACCEPTED,
        Json(mapping_shape(&state, &mapping, "Creating")),
    )
        .into_response())
}

/// `GET /2015-03-31/event-source-mappings/{uuid}`
pub(crate) async fn get_event_source_mapping(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
) -> Result<Response, LambdaError> {
    let mapping = load(&state, &uuid)?;
    let state_name = settled_state(&mapping);
    Ok(Json(mapping_shape(&state, &mapping, state_name)).into_response())
}

/// `GET /2015-03-31/event-source-mappings`
pub(crate) async fn list_event_source_mappings(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let max_items = match query.get("MaxItems") {
        Some(value) => {
            let n: i64 = value.parse().map_err(|_| {
                LambdaError::validation(format!(
                    "1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: Member must be a number"
                ))
            })?;
            if !(1..=10_000).contains(&n) {
                return Err(ValidationError::constraint(
                    "maxItems",
                    value,
                    "Member must have value between 1 and 10000",
                )
                .into());
            }
            n as usize
        }
        None => 100,
    };
    let after = match query.get("Marker") {
        Some(marker) => Some(decode_marker(marker)?),
        None => None,
    };
    let function_name = match query.get("FunctionName") {
        Some(name) => Some(FunctionRef::parse(name)?.name),
        None => None,
    };
    let filter = MappingFilter {
        event_source_arn: query.get("EventSourceArn").map(String::as_str),
        function_name: function_name.as_deref(),
    };
    let mut mappings = state.event_source_mappings.list_mappings(
        &filter,
        after.as_ref().map(|(ms, uuid)| (*ms, uuid.as_str())),
        max_items + 1,
    )?;
    let next_marker = if mappings.len() > max_items {
        mappings.truncate(max_items);
        mappings.last().map(encode_marker)
    } else {
        None
    };
    let shapes: Vec<Value> = mappings
        .iter()
        .map(|m| mapping_shape(&state, m, settled_state(m)))
        .collect();
    let mut out = json!({ "EventSourceMappings": shapes });
    if let Some(marker) = next_marker {
        out["NextMarker"] = json!(marker);
    }
    Ok(Json(out).into_response())
}

/// `PUT /2015-03-31/event-source-mappings/{uuid}`
pub(crate) async fn update_event_source_mapping(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: UpdateEventSourceMappingIn = parse_json(&body)?;
    let mut mapping = load(&state, &uuid)?;
    refuse_other_parameters(&input.others)?;
    refuse_filters(input.filter_criteria.as_ref())?;
    let was_enabled = mapping.enabled;
    if let Some(function_name) = &input.function_name {
        let function = resolve_function(&state, function_name)?;
        mapping.function_name = function.name;
        mapping.qualifier = function.qualifier;
    }
    if let Some(enabled) = input.enabled {
        mapping.enabled = enabled;
    }
    if let Some(size) = input.batch_size {
        mapping.batch_size = validate_batch_size(size)?;
    }
    if let Some(seconds) = input.maximum_batching_window_in_seconds {
        mapping.maximum_batching_window_seconds = validate_batching_window(seconds)?;
    }
    let fifo = mapping
        .queue_name()
        .is_some_and(|name| name.ends_with(".fifo"));
    check_sqs_batching(
        mapping.batch_size,
        mapping.maximum_batching_window_seconds,
        fifo,
    )?;
    if let Some(types) = &input.function_response_types {
        mapping.report_batch_item_failures = validate_function_response_types(types)?;
    }
    if input.scaling_config.is_some() {
        mapping.maximum_concurrency = scaling(input.scaling_config)?;
    }
    mapping.last_modified_ms = now_ms();
    match state.event_source_mappings.update_mapping(&mapping) {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(not_found()),
        Err(StoreError::AlreadyExists(_)) => {
            return Err(duplicate(
                &mapping.event_source_arn,
                &mapping.function_name,
                "(another)",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    state.mappings_changed.notify_one();
    let transition = match (was_enabled, mapping.enabled) {
        (false, true) => "Enabling",
        (true, false) => "Disabling",
        _ => "Updating",
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(mapping_shape(&state, &mapping, transition)),
    )
        .into_response())
}

/// `DELETE /2015-03-31/event-source-mappings/{uuid}`
pub(crate) async fn delete_event_source_mapping(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
) -> Result<Response, LambdaError> {
    let mapping = load(&state, &uuid)?;
    if !state.event_source_mappings.delete_mapping(&uuid)? {
        return Err(not_found());
    }
    state.mappings_changed.notify_one();
    tracing::info!(%uuid, "event source mapping deleted");
    Ok((
        StatusCode::ACCEPTED,
        Json(mapping_shape(&state, &mapping, "Deleting")),
    )
        .into_response())
}

fn load(state: &ApiState, uuid: &str) -> Result<EventSourceMapping, LambdaError> {
    state
        .event_source_mappings
        .get_mapping(uuid)?
        .ok_or_else(not_found)
}

fn not_found() -> LambdaError {
    LambdaError::not_found("The resource you requested does not exist.")
}

/// The function a `FunctionName` names, which must exist.
fn resolve_function(state: &ApiState, function_name: &str) -> Result<FunctionRef, LambdaError> {
    let function = FunctionRef::parse(function_name)?;
    let record = load_function(state, function_name, None)?;
    Ok(FunctionRef {
        name: record.config.name,
        qualifier: function.qualifier,
    })
}

/// Checks that an event source ARN names an existing queue of this server;
/// returns whether it is a FIFO queue.
fn check_queue(state: &ApiState, event_source_arn: &str) -> Result<bool, LambdaError> {
    let Some((region, account, queue_name)) = parse_queue_arn(event_source_arn) else {
        let service = event_source_arn.split(':').nth(2).unwrap_or_default();
        if event_source_arn.starts_with("arn:") && !service.is_empty() {
            return Err(LambdaError::invalid_parameter(format!(
                "Unsupported event source type: {service}. This server supports Amazon SQS queues as event sources"
            )));
        }
        return Err(ValidationError::constraint(
            "eventSourceArn",
            event_source_arn,
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
        )
        .into());
    };
    if region != state.region.name || account != state.region.account_id {
        return Err(LambdaError::invalid_parameter(format!(
            "The event source {event_source_arn} is in another region or account than this server's ({}, {})",
            state.region.name, state.region.account_id
        )));
    }
    match state.queues.get_queue(queue_name)? {
        Some(queue) => Ok(queue.attributes.is_fifo()),
        None => Err(LambdaError::invalid_parameter(
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist for this wsdl version.",
        )),
    }
}

/// Parameters of stream, broker and Kafka event sources have no meaning for
/// a queue; Lambda refuses them. Settings rayo does not have (`Tags`,
/// `KMSKeyArn`, `MetricsConfig`, ...) are refused too, unless empty.
fn refuse_other_parameters(others: &BTreeMap<String, Value>) -> Result<(), LambdaError> {
    let is_empty = |value: &Value| match value {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    match others.iter().find(|(_, value)| !is_empty(value)) {
        Some((name, _)) => Err(LambdaError::invalid_parameter(format!(
            "Unsupported {name} parameter for given event source mapping type."
        ))),
        None => Ok(()),
    }
}

fn refuse_filters(filter_criteria: Option<&FilterCriteriaIn>) -> Result<(), LambdaError> {
    match filter_criteria {
        Some(criteria) if !criteria.filters.is_empty() => Err(LambdaError::invalid_parameter(
            "FilterCriteria are not supported by this server yet",
        )),
        _ => Ok(()),
    }
}

fn scaling(config: Option<ScalingConfigIn>) -> Result<Option<u32>, LambdaError> {
    match config.and_then(|c| c.maximum_concurrency) {
        Some(maximum) => Ok(Some(validate_maximum_concurrency(maximum)?)),
        None => Ok(None),
    }
}

fn duplicate(event_source_arn: &str, function_name: &str, uuid: &str) -> LambdaError {
    LambdaError::conflict(format!(
        "An event source mapping with SQS arn (\" {event_source_arn} \") and function (\" {function_name} \") already exists. Please update or delete the existing mapping with UUID {uuid}"
    ))
}

/// `Enabled` or `Disabled`: the state a mapping settles in.
fn settled_state(mapping: &EventSourceMapping) -> &'static str {
    if mapping.enabled {
        "Enabled"
    } else {
        "Disabled"
    }
}

/// The `EventSourceMappingConfiguration` shape of a queue mapping.
fn mapping_shape(state: &ApiState, mapping: &EventSourceMapping, state_name: &str) -> Value {
    let function_arn = mapping.function_arn(&state.region);
    let mut out = json!({
        "UUID": mapping.uuid,
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.maximum_batching_window_seconds,
        "EventSourceArn": mapping.event_source_arn,
        "FunctionArn": function_arn,
        "LastModified": mapping.last_modified_ms as f64 / 1000.0,
        "State": state_name,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": if mapping.report_batch_item_failures {
            vec!["ReportBatchItemFailures"]
        } else {
            Vec::new()
        },
        "EventSourceMappingArn": mapping.arn(&state.region),
    });
    if let Some(maximum) = mapping.maximum_concurrency {
        out["ScalingConfig"] = json!({ "MaximumConcurrency": maximum });
    }
    out
}

fn encode_marker(mapping: &EventSourceMapping) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}:{}", mapping.created_ms, mapping.uuid))
}

fn decode_marker(marker: &str) -> Result<(i64, String), LambdaError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (ms, uuid) = text.split_once(':')?;
            Some((ms.parse().ok()?, uuid.to_string()))
        })
        .ok_or_else(|| LambdaError::invalid_parameter("Invalid Marker"))
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let mapping = EventSourceMapping {
            uuid: "6f6f2c5e-0000-4000-8000-000000000000".to_string(),
            event_source_arn: "arn:aws:sqs:us-east-1:000000000000:q".to_string(),
            function_name: "f".to_string(),
            qualifier: None,
            enabled: true,
            batch_size: 10,
            maximum_batching_window_seconds: 0,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            created_ms: 1_700_000_000_123,
            last_modified_ms: 0,
        };
        assert_eq!(
            decode_marker(&encode_marker(&mapping)).unwrap(),
            (1_700_000_000_123, mapping.uuid.clone())
        );
        assert!(decode_marker("!!").is_err());
        assert!(decode_marker("bm9jb2xvbg").is_err());
    }
}
