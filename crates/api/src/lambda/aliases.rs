//! Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::store::StoreError;
use rayo_core::version::{
    Alias, is_version_number, validate_alias_name, validate_alias_version, validate_routing,
};
use rayo_core::{FunctionRef, LATEST};
use serde::Deserialize;
use serde_json::{Value, json};

use super::functions::{decode_marker, encode_marker, load_function, new_revision_id};
use super::shapes::parse_json;
use super::versions::max_items;
use crate::ApiState;
use crate::body::read_limited;
use crate::error::LambdaError;

/// `RoutingConfig` in requests.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingConfigIn {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// The body of CreateAlias and UpdateAlias.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasIn {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingConfigIn>,
    revision_id: Option<String>,
}

/// `POST /2015-03-31/functions/{name}/aliases`
pub(crate) async fn create_alias(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Body,
) -> Result<Response, LambdaError> {
    let input: AliasIn = parse_json(&read_body(body).await?)?;
    let name = function_name_of(&state, &function_name)?;
    let alias_name = input.name.ok_or_else(|| null_field("name"))?;
    validate_alias_name(&alias_name)?;
    let function_version = input
        .function_version
        .ok_or_else(|| null_field("functionVersion"))?;
    let description = input.description.unwrap_or_default();
    rayo_core::function::validate_description(&description)?;
    let weights = weights_of(input.routing_config);
    let alias = Alias {
        function_name: name.clone(),
        name: alias_name.clone(),
        function_version,
        description,
        additional_version_weights: weights,
        revision_id: new_revision_id(),
    };
    check_alias(&state, &alias)?;
    match state.functions.create_alias(&alias) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(LambdaError::conflict(format!(
                "Alias already exists: {}",
                state.region.qualified_function_arn(&name, &alias_name)
            )));
        }
        Err(StoreError::NotFound(_)) => {
            return Err(LambdaError::function_not_found(
                &state.region.function_arn(&name),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(function = %name, alias = %alias_name, version = %alias.function_version, "alias created");
    Ok((
        StatusCode::CREATED,
        Json(alias_configuration(&state, &alias)),
    )
        .into_response())
}

/// `GET /2015-03-31/functions/{name}/aliases/{alias}`
pub(crate) async fn get_alias(
    State(state): State<Arc<ApiState>>,
    Path((function_name, alias_name)): Path<(String, String)>,
) -> Result<Response, LambdaError> {
    let alias = load_alias(&state, &function_name, &alias_name)?;
    Ok(Json(alias_configuration(&state, &alias)).into_response())
}

/// `PUT /2015-03-31/functions/{name}/aliases/{alias}`
pub(crate) async fn update_alias(
    State(state): State<Arc<ApiState>>,
    Path((function_name, alias_name)): Path<(String, String)>,
    body: Body,
) -> Result<Response, LambdaError> {
    let input: AliasIn = parse_json(&read_body(body).await?)?;
    let mut alias = load_alias(&state, &function_name, &alias_name)?;
    if let Some(revision_id) = &input.revision_id
        && *revision_id != alias.revision_id
    {
        return Err(LambdaError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    let previous_revision = alias.revision_id.clone();
    if let Some(version) = input.function_version {
        alias.function_version = version;
    }
    if let Some(description) = input.description {
        rayo_core::function::validate_description(&description)?;
        alias.description = description;
    }
    if let Some(routing) = input.routing_config {
        alias.additional_version_weights = weights_of(Some(routing));
    }
    alias.revision_id = new_revision_id();
    check_alias(&state, &alias)?;
    match state.functions.update_alias(&alias, &previous_revision) {
        Ok(()) => {}
        Err(StoreError::RevisionConflict(_)) => {
            return Err(LambdaError::precondition_failed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
        Err(StoreError::NotFound(_)) => {
            return Err(alias_not_found(&state, &alias.function_name, &alias.name));
        }
        Err(error) => return Err(error.into()),
    }
    // Provisioned instances follow the alias to its new version.
    super::provisioned_concurrency::apply(&state, &alias.function_name).await?;
    Ok(Json(alias_configuration(&state, &alias)).into_response())
}

/// `DELETE /2015-03-31/functions/{name}/aliases/{alias}`
pub(crate) async fn delete_alias(
    State(state): State<Arc<ApiState>>,
    Path((function_name, alias_name)): Path<(String, String)>,
) -> Result<Response, LambdaError> {
    let name = function_name_of(&state, &function_name)?;
    if state.functions.delete_alias(&name, &alias_name)? {
        if state
            .functions
            .delete_provisioned_concurrency(&name, &alias_name)?
        {
            super::provisioned_concurrency::apply(&state, &name).await?;
        }
        tracing::info!(function = %name, alias = %alias_name, "alias deleted");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2015-03-31/functions/{name}/aliases`
pub(crate) async fn list_aliases(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let max_items = max_items(&query, 50, 10_000)?;
    let name = function_name_of(&state, &function_name)?;
    let version = query.get("FunctionVersion");
    if let Some(version) = version {
        validate_alias_version(version)?;
    }
    let aliases: Vec<Alias> = state
        .functions
        .list_aliases(&name)?
        .into_iter()
        .filter(|alias| version.is_none_or(|v| alias.function_version == *v))
        .collect();
    let start = match query.get("Marker") {
        Some(marker) => {
            let after = decode_marker(marker)?;
            aliases.iter().take_while(|a| a.name <= after).count()
        }
        None => 0,
    };
    let page: Vec<&Alias> = aliases.iter().skip(start).take(max_items).collect();
    let mut out = json!({
        "Aliases": page.iter().map(|a| alias_configuration(&state, a)).collect::<Vec<_>>(),
    });
    if start + page.len() < aliases.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(encode_marker(&last.name));
    }
    Ok(Json(out).into_response())
}

/// The `AliasConfiguration` shape.
pub(crate) fn alias_configuration(state: &ApiState, alias: &Alias) -> Value {
    let mut out = json!({
        "AliasArn": state.region.qualified_function_arn(&alias.function_name, &alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    });
    if !alias.additional_version_weights.is_empty() {
        let weights: serde_json::Map<String, Value> = alias
            .additional_version_weights
            .iter()
            .map(|(version, weight)| (version.clone(), json!(weight)))
            .collect();
        out["RoutingConfig"] = json!({ "AdditionalVersionWeights": weights });
    }
    out
}

/// Lambda's checks on an alias: its versions exist and its routing is valid.
fn check_alias(state: &ApiState, alias: &Alias) -> Result<(), LambdaError> {
    validate_alias_version(&alias.function_version)?;
    validate_routing(&alias.function_version, &alias.additional_version_weights)?;
    let missing = |version: &str| {
        LambdaError::not_found(format!(
            "Function not found: {}",
            state
                .region
                .qualified_function_arn(&alias.function_name, version)
        ))
    };
    if alias.function_version != LATEST
        && state
            .functions
            .get_version(&alias.function_name, &alias.function_version)?
            .is_none()
    {
        return Err(missing(&alias.function_version));
    }
    for (version, _) in &alias.additional_version_weights {
        if !is_version_number(version)
            || state
                .functions
                .get_version(&alias.function_name, version)?
                .is_none()
        {
            return Err(missing(version));
        }
    }
    Ok(())
}

/// The function a `FunctionName` names, which must exist; a qualifier is refused.
fn function_name_of(state: &ApiState, function_name: &str) -> Result<String, LambdaError> {
    if FunctionRef::parse(function_name)?.qualifier.is_some() {
        return Err(LambdaError::invalid_parameter(
            "Qualifiers are not allowed in the function name of alias operations",
        ));
    }
    Ok(load_function(state, function_name, None)?.config.name)
}

fn load_alias(
    state: &ApiState,
    function_name: &str,
    alias_name: &str,
) -> Result<Alias, LambdaError> {
    let name = function_name_of(state, function_name)?;
    state
        .functions
        .get_alias(&name, alias_name)?
        .ok_or_else(|| alias_not_found(state, &name, alias_name))
}

fn alias_not_found(state: &ApiState, function_name: &str, alias_name: &str) -> LambdaError {
    LambdaError::not_found(format!(
        "Cannot find alias arn: {}",
        state
            .region
            .qualified_function_arn(function_name, alias_name)
    ))
}

fn weights_of(routing: Option<RoutingConfigIn>) -> Vec<(String, f64)> {
    routing
        .and_then(|r| r.additional_version_weights)
        .map(|weights| weights.into_iter().collect())
        .unwrap_or_default()
}

fn null_field(field: &str) -> LambdaError {
    LambdaError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

async fn read_body(body: Body) -> Result<bytes::Bytes, LambdaError> {
    match read_limited(body, 1024 * 1024).await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(LambdaError::invalid_content("Request body is too large")),
        Err(error) => Err(LambdaError::invalid_content(format!(
            "Could not read the request body: {error}"
        ))),
    }
}
