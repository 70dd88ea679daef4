//! Asynchronous invocation settings: Put, Update, Get, Delete and
//! ListFunctionEventInvokeConfig(s).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::event_source::parse_queue_arn;
use rayo_core::validation::ValidationError;
use rayo_core::{EventInvokeConfig, FunctionRecord, LATEST, Region};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::functions::{load_function, save};
use super::shapes::parse_json;
use crate::ApiState;
use crate::error::LambdaError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EventInvokeConfigIn {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<DestinationConfigIn>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfigIn {
    on_success: Option<DestinationIn>,
    on_failure: Option<DestinationIn>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationIn {
    destination: Option<String>,
}

/// `PUT /2019-09-25/functions/{name}/event-invoke-config`: replaces the settings.
pub(crate) async fn put_function_event_invoke_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: EventInvokeConfigIn = parse_json(&body)?;
    let mut record = load_latest(&state, &function_name, &query)?;
    let config = apply(&state, EventInvokeConfig::default_unset(), input)?;
    record.event_invoke_config = Some(config);
    store(&state, &record)?;
    Ok(Json(config_shape(&state.region, &record)).into_response())
}

/// `POST /2019-09-25/functions/{name}/event-invoke-config`: changes the given fields.
pub(crate) async fn update_function_event_invoke_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: EventInvokeConfigIn = parse_json(&body)?;
    let mut record = load_latest(&state, &function_name, &query)?;
    let current = record
        .event_invoke_config
        .clone()
        .unwrap_or_else(EventInvokeConfig::default_unset);
    record.event_invoke_config = Some(apply(&state, current, input)?);
    store(&state, &record)?;
    Ok(Json(config_shape(&state.region, &record)).into_response())
}

/// `GET /2019-09-25/functions/{name}/event-invoke-config`
pub(crate) async fn get_function_event_invoke_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let record = load_latest(&state, &function_name, &query)?;
    if record.event_invoke_config.is_none() {
        return Err(missing(&state.region, &record));
    }
    Ok(Json(config_shape(&state.region, &record)).into_response())
}

/// `DELETE /2019-09-25/functions/{name}/event-invoke-config`
pub(crate) async fn delete_function_event_invoke_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let mut record = load_latest(&state, &function_name, &query)?;
    if record.event_invoke_config.take().is_none() {
        return Err(missing(&state.region, &record));
    }
    store(&state, &record)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2019-09-25/functions/{name}/event-invoke-config/list`
pub(crate) async fn list_function_event_invoke_configs(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
) -> Result<Response, LambdaError> {
    let record = load_function(&state, &function_name, None)?;
    let configs: Vec<Value> = match record.event_invoke_config {
        Some(_) => vec![config_shape(&state.region, &record)],
        None => Vec::new(),
    };
    Ok(Json(json!({ "FunctionEventInvokeConfigs": configs })).into_response())
}

trait DefaultUnset {
    fn default_unset() -> Self;
}

impl DefaultUnset for EventInvokeConfig {
    fn default_unset() -> EventInvokeConfig {
        EventInvokeConfig {
            maximum_retry_attempts: None,
            maximum_event_age_seconds: None,
            on_success: None,
            on_failure: None,
            last_modified_ms: 0,
        }
    }
}

fn apply(
    state: &ApiState,
    mut config: EventInvokeConfig,
    input: EventInvokeConfigIn,
) -> Result<EventInvokeConfig, LambdaError> {
    if let Some(retries) = input.maximum_retry_attempts {
        check_range("maximumRetryAttempts", retries, 0, 2)?;
        config.maximum_retry_attempts = Some(retries as u32);
    }
    if let Some(age) = input.maximum_event_age_in_seconds {
        check_range("maximumEventAgeInSeconds", age, 60, 21_600)?;
        config.maximum_event_age_seconds = Some(age as u32);
    }
    if let Some(destinations) = input.destination_config {
        if let Some(on_success) = destinations.on_success {
            config.on_success = checked_destination(state, on_success.destination)?;
        }
        if let Some(on_failure) = destinations.on_failure {
            config.on_failure = checked_destination(state, on_failure.destination)?;
        }
    }
    config.last_modified_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    Ok(config)
}

/// Destinations rayo delivers to: functions (their invocation record is
/// their event) and rayo's own standard SQS queues (the record is the
/// message). Topic and bus destinations need those services.
fn checked_destination(
    state: &ApiState,
    destination: Option<String>,
) -> Result<Option<String>, LambdaError> {
    let Some(destination) = destination.filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let parts: Vec<&str> = destination.split(':').collect();
    if parts.len() >= 6 && parts[0] == "arn" && parts[2] == "sqs" {
        return checked_queue_target(state, &destination, "destination").map(Some);
    }
    let is_function =
        parts.len() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function";
    if !is_function {
        if parts.len() >= 6 && parts[0] == "arn" && ["sns", "events", "s3"].contains(&parts[2]) {
            return Err(LambdaError::invalid_parameter(format!(
                "The destination ARN {destination} is not supported by this server: destinations must be Lambda functions or SQS queues"
            )));
        }
        return Err(LambdaError::invalid_parameter(format!(
            "The destination ARN {destination} is invalid."
        )));
    }
    if parts[3] != state.region.name || parts[4] != state.region.account_id {
        return Err(LambdaError::invalid_parameter(format!(
            "The destination ARN {destination} is in another region or account."
        )));
    }
    Ok(Some(destination))
}

/// Checks that `arn` names an existing standard queue of this server, in
/// its region and account, for a destination or a dead-letter queue
/// (`what`). FIFO queues are refused, as Lambda refuses them there.
pub(crate) fn checked_queue_target(
    state: &ApiState,
    arn: &str,
    what: &str,
) -> Result<String, LambdaError> {
    let Some((region, account, queue_name)) = parse_queue_arn(arn) else {
        return Err(LambdaError::invalid_parameter(format!(
            "The {what} ARN {arn} is invalid."
        )));
    };
    if region != state.region.name || account != state.region.account_id {
        return Err(LambdaError::invalid_parameter(format!(
            "The {what} ARN {arn} is in another region or account."
        )));
    }
    let Some(queue) = state.queues.get_queue(queue_name)? else {
        return Err(LambdaError::invalid_parameter(format!(
            "The {what} queue {arn} does not exist."
        )));
    };
    if queue.attributes.is_fifo() {
        return Err(LambdaError::invalid_parameter(format!(
            "The {what} queue {arn} is a FIFO queue: only standard queues are supported."
        )));
    }
    Ok(arn.to_string())
}

/// A bound check worded as AWS words it.
fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), LambdaError> {
    let rule = if value < min {
        format!("Member must have value greater than or equal to {min}")
    } else if value > max {
        format!("Member must have value less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(ValidationError::constraint(field, &value.to_string(), &rule).into())
}

fn load_latest(
    state: &ApiState,
    function_name: &str,
    query: &HashMap<String, String>,
) -> Result<FunctionRecord, LambdaError> {
    load_function(state, function_name, query.get("Qualifier"))
}

fn store(state: &ApiState, record: &FunctionRecord) -> Result<(), LambdaError> {
    let revision = record.config.revision_id.clone();
    save(state, record, &revision)
}

fn missing(region: &Region, record: &FunctionRecord) -> LambdaError {
    LambdaError::not_found(format!(
        "The function {} doesn't have an EventInvokeConfig",
        region.qualified_function_arn(&record.config.name, LATEST)
    ))
}

fn config_shape(region: &Region, record: &FunctionRecord) -> Value {
    let config = record
        .event_invoke_config
        .clone()
        .unwrap_or_else(EventInvokeConfig::default_unset);
    let destination = |arn: &Option<String>| match arn {
        Some(arn) => json!({ "Destination": arn }),
        None => json!({}),
    };
    let mut out = json!({
        "LastModified": config.last_modified_ms as f64 / 1000.0,
        "FunctionArn": region.qualified_function_arn(&record.config.name, LATEST),
        "DestinationConfig": {
            "OnSuccess": destination(&config.on_success),
            "OnFailure": destination(&config.on_failure),
        },
    });
    if let Some(retries) = config.maximum_retry_attempts {
        out["MaximumRetryAttempts"] = json!(retries);
    }
    if let Some(age) = config.maximum_event_age_seconds {
        out["MaximumEventAgeInSeconds"] = json!(age);
    }
    out
}
