//! Provisioned concurrency: PutProvisionedConcurrencyConfig,
//! GetProvisionedConcurrencyConfig, DeleteProvisionedConcurrencyConfig and
//! ListProvisionedConcurrencyConfigs. The configurations are stored; the
//! executor keeps the instances, and says how many are ready.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::version::{ProvisionedConcurrencyConfig, is_version_number};
use rayo_core::{FunctionRef, LATEST};
use rayo_executor::ProvisionedTarget;
use serde::Deserialize;
use serde_json::{Value, json};

use super::functions::{
    decode_marker, encode_marker, load_function, load_version, now, read_code_body,
};
use super::shapes::{last_modified, parse_json};
use super::versions::max_items;
use crate::ApiState;
use crate::error::LambdaError;

/// The body of PutProvisionedConcurrencyConfig.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutIn {
    provisioned_concurrent_executions: Option<i64>,
}

/// `PUT /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=`
pub(crate) async fn put_provisioned_concurrency_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Response, LambdaError> {
    let input: PutIn = parse_json(&read_code_body(body, "PutProvisionedConcurrencyConfig").await?)?;
    let (name, qualifier) = target(&state, &function_name, &query)?;
    let requested = match input.provisioned_concurrent_executions {
        Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
        Some(n) => {
            return Err(LambdaError::validation(format!(
                "1 validation error detected: Value '{n}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )));
        }
        None => {
            return Err(LambdaError::validation(
                "1 validation error detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
            ));
        }
    };
    let record = load_function(&state, &name, None)?;
    let others: u32 = state
        .functions
        .list_provisioned_concurrency(Some(&name))?
        .iter()
        .filter(|c| c.qualifier != qualifier)
        .map(|c| c.requested)
        .sum();
    match record.reserved_concurrency {
        Some(reserved) if others + requested > reserved => {
            return Err(LambdaError::invalid_parameter(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
            ));
        }
        Some(_) => {}
        None => {
            let reserved = super::functions::total_reserved(&state)?;
            let provisioned_elsewhere: u32 = unreserved_provisioned(&state)?
                .into_iter()
                .filter(|c| !(c.function_name == name && c.qualifier == qualifier))
                .map(|c| c.requested)
                .sum();
            let used = reserved + provisioned_elsewhere + requested;
            let minimum = super::concurrency::minimum_unreserved(state.account_concurrency);
            if used + minimum > state.account_concurrency {
                return Err(LambdaError::invalid_parameter(format!(
                    "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                )));
            }
        }
    }
    let config = ProvisionedConcurrencyConfig {
        function_name: name.clone(),
        qualifier,
        requested,
        last_modified: now(),
    };
    state.functions.put_provisioned_concurrency(&config)?;
    apply(&state, &name).await?;
    let out = config_out(&state, &config).await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

/// `GET /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=`,
/// or with `List=ALL`, ListProvisionedConcurrencyConfigs.
pub(crate) async fn get_provisioned_concurrency_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    if query.get("List").map(String::as_str) == Some("ALL") {
        return list_provisioned_concurrency_configs(&state, &function_name, &query).await;
    }
    let (name, qualifier) = target(&state, &function_name, &query)?;
    let config = state
        .functions
        .list_provisioned_concurrency(Some(&name))?
        .into_iter()
        .find(|c| c.qualifier == qualifier)
        .ok_or_else(|| {
            LambdaError::provisioned_concurrency_not_found(format!(
                "No Provisioned Concurrency Config found for this function: {}",
                state.region.qualified_function_arn(&name, &qualifier)
            ))
        })?;
    Ok(Json(config_out(&state, &config).await?).into_response())
}

/// `DELETE /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=`
pub(crate) async fn delete_provisioned_concurrency_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let (name, qualifier) = target(&state, &function_name, &query)?;
    if state
        .functions
        .delete_provisioned_concurrency(&name, &qualifier)?
    {
        apply(&state, &name).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_provisioned_concurrency_configs(
    state: &ApiState,
    function_name: &str,
    query: &HashMap<String, String>,
) -> Result<Response, LambdaError> {
    let max_items = max_items(query, 50, 50)?;
    let name = load_function(state, function_name, None)?.config.name;
    let configs = state.functions.list_provisioned_concurrency(Some(&name))?;
    let start = match query.get("Marker") {
        Some(marker) => {
            let after = decode_marker(marker)?;
            configs.iter().take_while(|c| c.qualifier <= after).count()
        }
        None => 0,
    };
    let mut items = Vec::new();
    for config in configs.iter().skip(start).take(max_items) {
        let mut item = config_out(state, config).await?;
        item["FunctionArn"] = json!(
            state
                .region
                .qualified_function_arn(&config.function_name, &config.qualifier)
        );
        items.push(item);
    }
    let mut out = json!({ "ProvisionedConcurrencyConfigs": items });
    if start + items.len() < configs.len()
        && let Some(last) = configs.get(start + items.len() - 1)
    {
        out["NextMarker"] = json!(encode_marker(&last.qualifier));
    }
    Ok(Json(out).into_response())
}

/// Tells the executor which versions of a function to keep instances of,
/// from its stored configurations (an alias's go to the version it points at).
pub(crate) async fn apply(state: &ApiState, function_name: &str) -> Result<(), LambdaError> {
    let targets = targets_of(state, function_name)?;
    state
        .invoker
        .executor()
        .set_provisioned(function_name, targets)
        .await;
    Ok(())
}

/// Hands the executor every stored configuration, at start.
pub async fn restore_provisioned_concurrency(state: &ApiState) -> Result<(), LambdaError> {
    let mut functions: Vec<String> = state
        .functions
        .list_provisioned_concurrency(None)?
        .into_iter()
        .map(|c| c.function_name)
        .collect();
    functions.dedup();
    for function_name in functions {
        apply(state, &function_name).await?;
    }
    Ok(())
}

fn targets_of(
    state: &ApiState,
    function_name: &str,
) -> Result<Vec<ProvisionedTarget>, LambdaError> {
    let record = match state.functions.get_function(function_name)? {
        Some(record) => record,
        None => return Ok(Vec::new()),
    };
    let mut by_version: BTreeMap<String, ProvisionedTarget> = BTreeMap::new();
    for config in state
        .functions
        .list_provisioned_concurrency(Some(function_name))?
    {
        let Ok(loaded) = load_version(state, function_name, Some(&config.qualifier)) else {
            continue;
        };
        let entry = by_version
            .entry(loaded.config.version.clone())
            .or_insert_with(|| ProvisionedTarget {
                function: loaded.config.clone(),
                count: 0,
                reserved_concurrency: record.reserved_concurrency,
            });
        entry.count += config.requested;
    }
    Ok(by_version.into_values().collect())
}

/// The response shape, with the executor's count of ready instances.
async fn config_out(
    state: &ApiState,
    config: &ProvisionedConcurrencyConfig,
) -> Result<Value, LambdaError> {
    let version = load_version(state, &config.function_name, Some(&config.qualifier))?
        .config
        .version;
    let status = state
        .invoker
        .executor()
        .provisioned_status(&config.function_name, &version)
        .await;
    let allocated = status.ready.min(config.requested);
    let mut out = json!({
        "RequestedProvisionedConcurrentExecutions": config.requested,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "Status": "IN_PROGRESS",
        "LastModified": last_modified(config.last_modified),
    });
    if allocated >= config.requested {
        out["Status"] = json!("READY");
    } else if status.failed {
        // Still tried again, every few seconds, as the function may be fixed.
        out["Status"] = json!("FAILED");
        out["StatusReason"] = json!(
            "FUNCTION_ERROR_INIT_FAILURE: an instance failed to initialize; its log group has the error"
        );
    }
    Ok(out)
}

/// Provisioned configurations of functions without reserved concurrency:
/// they take from the account's unreserved pool.
fn unreserved_provisioned(
    state: &ApiState,
) -> Result<Vec<ProvisionedConcurrencyConfig>, LambdaError> {
    let mut out = Vec::new();
    for config in state.functions.list_provisioned_concurrency(None)? {
        let reserved = state
            .functions
            .get_function(&config.function_name)?
            .and_then(|r| r.reserved_concurrency);
        if reserved.is_none() {
            out.push(config);
        }
    }
    Ok(out)
}

/// The function and qualifier a request names: a version or an alias that
/// exists, never `$LATEST` or none, as Lambda requires.
fn target(
    state: &ApiState,
    function_name: &str,
    query: &HashMap<String, String>,
) -> Result<(String, String), LambdaError> {
    let function = FunctionRef::parse(function_name)?;
    let qualifier = match (function.qualifier.as_deref(), query.get("Qualifier")) {
        (Some(a), Some(b)) if a != b => {
            return Err(LambdaError::invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (Some(a), _) => a.to_string(),
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return Err(LambdaError::validation(
                "1 validation error detected: Value null at 'qualifier' failed to satisfy constraint: Member must not be null",
            ));
        }
    };
    if qualifier == LATEST {
        return Err(LambdaError::invalid_parameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        ));
    }
    let record = load_function(state, &function.name, None)?;
    let exists = if is_version_number(&qualifier) {
        state
            .functions
            .get_version(&record.config.name, &qualifier)?
            .is_some()
    } else {
        state
            .functions
            .get_alias(&record.config.name, &qualifier)?
            .is_some()
    };
    if !exists {
        return Err(LambdaError::function_not_found(
            &state
                .region
                .qualified_function_arn(&record.config.name, &qualifier),
        ));
    }
    Ok((record.config.name, qualifier))
}
