//! Versions: PublishVersion, ListVersionsByFunction, and DeleteFunction
//! with a version qualifier.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::validation::ValidationError;
use rayo_core::{FunctionRef, LATEST};
use serde::Deserialize;
use serde_json::json;

use super::functions::{
    check_revision, decode_marker, encode_marker, load_function, publish, read_code_body,
};
use super::shapes::{code_sha256_base64, function_configuration_as, parse_json};
use crate::ApiState;
use crate::error::LambdaError;

/// The body of PublishVersion.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishVersionIn {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

/// `POST /2015-03-31/functions/{name}/versions`
pub(crate) async fn publish_version(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Body,
) -> Result<Response, LambdaError> {
    let body = read_code_body(body, "PublishVersion").await?;
    let input: PublishVersionIn = parse_json(&body)?;
    refuse_qualifier(&function_name)?;
    let record = load_function(&state, &function_name, None)?;
    if let Some(description) = &input.description {
        rayo_core::function::validate_description(description)?;
    }
    check_revision(&record, input.revision_id.as_deref())?;
    if let Some(code_sha256) = &input.code_sha256
        && *code_sha256 != code_sha256_base64(&record.config.code.sha256_hex)
    {
        return Err(LambdaError::invalid_parameter(format!(
            "CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
            code_sha256_base64(&record.config.code.sha256_hex)
        )));
    }
    let version = publish(&state, &record, input.description.as_deref())?;
    let arn = state
        .region
        .qualified_function_arn(&version.name, &version.version);
    let out = function_configuration_as(&state.region, &version, &arn);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /2015-03-31/functions/{name}/versions`
pub(crate) async fn list_versions_by_function(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let max_items = max_items(&query, 50, 10_000)?;
    refuse_qualifier(&function_name)?;
    let record = load_function(&state, &function_name, None)?;
    let versions = state.functions.list_versions(&record.config.name)?;
    let start = match query.get("Marker") {
        Some(marker) => {
            let after = decode_marker(marker)?;
            versions
                .iter()
                .position(|v| v.version == after)
                .map_or(versions.len(), |i| i + 1)
        }
        None => 0,
    };
    let page: Vec<_> = versions.iter().skip(start).take(max_items).collect();
    let mut out = json!({
        "Versions": page
            .iter()
            .map(|config| {
                let arn = state.region.qualified_function_arn(&config.name, &config.version);
                function_configuration_as(&state.region, config, &arn)
            })
            .collect::<Vec<_>>(),
    });
    if start + page.len() < versions.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(encode_marker(&last.version));
    }
    Ok(Json(out).into_response())
}

/// `DELETE /2015-03-31/functions/{name}?Qualifier=N`: deletes one version,
/// refused while an alias points at it or routes to it, as Lambda does.
pub(crate) async fn delete_version(
    state: &ApiState,
    function_name: &str,
    version: &str,
) -> Result<Response, LambdaError> {
    let function = FunctionRef::parse(function_name)?;
    let name = function.name;
    if state.functions.get_function(&name)?.is_none() {
        return Err(LambdaError::function_not_found(
            &state.region.qualified_function_arn(&name, version),
        ));
    }
    let aliases: Vec<String> = state
        .functions
        .list_aliases(&name)?
        .into_iter()
        .filter(|alias| {
            alias.function_version == version
                || alias
                    .additional_version_weights
                    .iter()
                    .any(|(v, _)| v == version)
        })
        .map(|alias| state.region.qualified_function_arn(&name, &alias.name))
        .collect();
    if !aliases.is_empty() {
        return Err(LambdaError::conflict(format!(
            "Unable to delete version because the following aliases reference it: [{}]",
            aliases.join(", ")
        )));
    }
    // Deleting a version that is not there is no error, as in Lambda.
    if state.functions.delete_version(&name, version)? {
        // Its provisioned instances go with it; its other instances are
        // reaped once idle, as nothing can invoke it any more.
        if state
            .functions
            .delete_provisioned_concurrency(&name, version)?
        {
            super::provisioned_concurrency::apply(state, &name).await?;
        }
        tracing::info!(function = %name, version, "version deleted");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `MaxItems` from a query, between 1 and `max`, or `default`.
pub(crate) fn max_items(
    query: &HashMap<String, String>,
    default: usize,
    max: i64,
) -> Result<usize, LambdaError> {
    let Some(value) = query.get("MaxItems") else {
        return Ok(default);
    };
    let n: i64 = value.parse().map_err(|_| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: Member must be a number"
        ))
    })?;
    if !(1..=max).contains(&n) {
        return Err(ValidationError::constraint(
            "maxItems",
            value,
            &format!("Member must have value between 1 and {max}"),
        )
        .into());
    }
    Ok(n as usize)
}

fn refuse_qualifier(function_name: &str) -> Result<(), LambdaError> {
    match FunctionRef::parse(function_name)?.qualifier {
        Some(q) if q != LATEST => Err(LambdaError::invalid_parameter(
            "Qualifiers are not allowed in the function name of this operation",
        )),
        _ => Ok(()),
    }
}
