//! Integrations: CreateIntegration, GetIntegration, GetIntegrations,
//! UpdateIntegration and DeleteIntegration. rayo's integrations are Lambda
//! proxies (`AWS_PROXY`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::http_trigger::{
    INTEGRATION_TIMEOUT_MAX_MS, INTEGRATION_TIMEOUT_MIN_MS, Integration, PayloadFormatVersion,
    integration_function_arn,
};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiGatewayError;
use super::shapes::{integration_shape, load_api, new_id, page, parse_json};
use crate::ApiState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationIn {
    integration_type: Option<String>,
    integration_uri: Option<String>,
    integration_method: Option<String>,
    payload_format_version: Option<String>,
    timeout_in_millis: Option<i64>,
    description: Option<String>,
    connection_type: Option<String>,
    request_parameters: Option<BTreeMap<String, Value>>,
    response_parameters: Option<BTreeMap<String, Value>>,
    request_templates: Option<BTreeMap<String, Value>>,
}

/// `POST /v2/apis/{apiId}/integrations`
pub(crate) async fn create_integration(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: IntegrationIn = parse_json(&body)?;
    load_api(&state, &api_id)?;
    match input.integration_type.as_deref() {
        Some("AWS_PROXY") => {}
        Some(other) => {
            return Err(ApiGatewayError::bad_request(format!(
                "IntegrationType {other} is not supported by this server: use AWS_PROXY (a Lambda function)"
            )));
        }
        None => return Err(ApiGatewayError::bad_request("IntegrationType is required")),
    }
    let Some(uri) = input.integration_uri.as_deref() else {
        return Err(ApiGatewayError::bad_request(
            "IntegrationUri is required for an AWS_PROXY integration",
        ));
    };
    let Some(version) = input.payload_format_version.as_deref() else {
        return Err(ApiGatewayError::bad_request(
            "PayloadFormatVersion is required for an AWS_PROXY integration of an HTTP API: 1.0 or 2.0",
        ));
    };
    let mut integration = Integration {
        integration_id: new_id(7),
        integration_uri: checked_uri(uri)?,
        payload_format_version: checked_version(version)?,
        timeout_ms: INTEGRATION_TIMEOUT_MAX_MS,
        description: None,
        api_gateway_managed: false,
    };
    apply(&mut integration, input)?;
    state.http_triggers.put_integration(&api_id, &integration)?;
    Ok((StatusCode::CREATED, Json(integration_shape(&integration))).into_response())
}

/// `GET /v2/apis/{apiId}/integrations/{integrationId}`
pub(crate) async fn get_integration(
    State(state): State<Arc<ApiState>>,
    Path((api_id, integration_id)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    let integration = load(&state, &api_id, &integration_id)?;
    Ok(Json(integration_shape(&integration)).into_response())
}

/// `GET /v2/apis/{apiId}/integrations`
pub(crate) async fn get_integrations(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiGatewayError> {
    load_api(&state, &api_id)?;
    let items = state
        .http_triggers
        .list_integrations(&api_id)?
        .iter()
        .map(integration_shape)
        .collect();
    Ok(Json(page(items, &query)?).into_response())
}

/// `PATCH /v2/apis/{apiId}/integrations/{integrationId}`
pub(crate) async fn update_integration(
    State(state): State<Arc<ApiState>>,
    Path((api_id, integration_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: IntegrationIn = parse_json(&body)?;
    let mut integration = load(&state, &api_id, &integration_id)?;
    if let Some(integration_type) = input.integration_type.as_deref()
        && integration_type != "AWS_PROXY"
    {
        return Err(ApiGatewayError::bad_request(format!(
            "IntegrationType {integration_type} is not supported by this server: use AWS_PROXY (a Lambda function)"
        )));
    }
    if let Some(uri) = input.integration_uri.as_deref() {
        integration.integration_uri = checked_uri(uri)?;
    }
    if let Some(version) = input.payload_format_version.as_deref() {
        integration.payload_format_version = checked_version(version)?;
    }
    apply(&mut integration, input)?;
    state.http_triggers.put_integration(&api_id, &integration)?;
    Ok(Json(integration_shape(&integration)).into_response())
}

/// `DELETE /v2/apis/{apiId}/integrations/{integrationId}`: refused while a
/// route targets the integration.
pub(crate) async fn delete_integration(
    State(state): State<Arc<ApiState>>,
    Path((api_id, integration_id)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    load(&state, &api_id, &integration_id)?;
    let target = format!("integrations/{integration_id}");
    let used_by = state
        .http_triggers
        .list_routes(&api_id)?
        .into_iter()
        .find(|route| route.target.as_deref() == Some(target.as_str()));
    if let Some(route) = used_by {
        return Err(ApiGatewayError::conflict(format!(
            "Cannot delete integration {integration_id}: route {} ({}) targets it",
            route.route_id, route.route_key
        )));
    }
    state
        .http_triggers
        .delete_integration(&api_id, &integration_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The settings every change may carry.
fn apply(integration: &mut Integration, input: IntegrationIn) -> Result<(), ApiGatewayError> {
    if let Some(timeout) = input.timeout_in_millis {
        let range = i64::from(INTEGRATION_TIMEOUT_MIN_MS)..=i64::from(INTEGRATION_TIMEOUT_MAX_MS);
        if !range.contains(&timeout) {
            return Err(ApiGatewayError::bad_request(format!(
                "TimeoutInMillis must be between {INTEGRATION_TIMEOUT_MIN_MS} and {INTEGRATION_TIMEOUT_MAX_MS} ms"
            )));
        }
        integration.timeout_ms = timeout as u32;
    }
    if let Some(description) = input.description {
        integration.description = Some(description);
    }
    if let Some(method) = input.integration_method.as_deref()
        && method != "POST"
    {
        return Err(ApiGatewayError::bad_request(
            "IntegrationMethod of a Lambda proxy integration must be POST",
        ));
    }
    if let Some(connection_type) = input.connection_type.as_deref()
        && connection_type != "INTERNET"
    {
        return Err(ApiGatewayError::bad_request(
            "ConnectionType VPC_LINK is not supported by this server",
        ));
    }
    let mapped = [
        ("RequestParameters", &input.request_parameters),
        ("ResponseParameters", &input.response_parameters),
        ("RequestTemplates", &input.request_templates),
    ];
    for (name, value) in mapped {
        if value.as_ref().is_some_and(|map| !map.is_empty()) {
            return Err(ApiGatewayError::bad_request(format!(
                "{name} are not supported by this server"
            )));
        }
    }
    Ok(())
}

fn load(
    state: &ApiState,
    api_id: &str,
    integration_id: &str,
) -> Result<Integration, ApiGatewayError> {
    load_api(state, api_id)?;
    state
        .http_triggers
        .get_integration(api_id, integration_id)?
        .ok_or_else(|| {
            ApiGatewayError::not_found(
                "Integration",
                format!("Invalid Integration identifier specified {integration_id}"),
            )
        })
}

fn checked_uri(uri: &str) -> Result<String, ApiGatewayError> {
    match integration_function_arn(uri) {
        Some(_) => Ok(uri.to_string()),
        None => Err(ApiGatewayError::bad_request(format!(
            "Invalid IntegrationUri {uri}: an AWS_PROXY integration names a Lambda function ARN"
        ))),
    }
}

fn checked_version(version: &str) -> Result<PayloadFormatVersion, ApiGatewayError> {
    PayloadFormatVersion::parse(version).ok_or_else(|| {
        ApiGatewayError::bad_request(format!(
            "Invalid PayloadFormatVersion {version}: 1.0 or 2.0"
        ))
    })
}
