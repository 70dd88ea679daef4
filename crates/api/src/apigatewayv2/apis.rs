//! HTTP APIs: CreateApi (with quick create), GetApi, GetApis, UpdateApi,
//! DeleteApi and DeleteCorsConfiguration.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::http_trigger::{
    DEFAULT, HttpApi, INTEGRATION_TIMEOUT_MAX_MS, Integration, PayloadFormatVersion, Route,
    RouteKey, Stage, integration_function_arn,
};
use serde::Deserialize;

use super::error::ApiGatewayError;
use super::shapes::{CorsIn, api_shape, checked_cors, load_api, new_id, now_ms, page, parse_json};
use crate::ApiState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiIn {
    name: Option<String>,
    protocol_type: Option<String>,
    description: Option<String>,
    version: Option<String>,
    cors_configuration: Option<CorsIn>,
    disable_execute_api_endpoint: Option<bool>,
    route_key: Option<String>,
    target: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    route_selection_expression: Option<String>,
}

/// `POST /v2/apis`. With `target` (a function's ARN), a quick create: a
/// Lambda proxy integration (payload format 2.0), a route (`routeKey`,
/// `$default` unless given) to it, and an auto-deploying `$default` stage.
pub(crate) async fn create_api(
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: ApiIn = parse_json(&body)?;
    match input.protocol_type.as_deref() {
        Some("HTTP") => {}
        Some("WEBSOCKET") => {
            return Err(ApiGatewayError::bad_request(
                "WebSocket APIs are not supported by this server: ProtocolType must be HTTP",
            ));
        }
        _ => {
            return Err(ApiGatewayError::bad_request(
                "Invalid protocol type specified: ProtocolType must be HTTP or WEBSOCKET",
            ));
        }
    }
    let name = checked_name(input.name)?;
    check_route_selection_expression(input.route_selection_expression.as_deref())?;
    let now_ms = now_ms();
    let api = HttpApi {
        api_id: new_id(10),
        name,
        description: input.description,
        version: input.version,
        cors: input.cors_configuration.map(checked_cors).transpose()?,
        disable_execute_api_endpoint: input.disable_execute_api_endpoint.unwrap_or(false),
        tags: input.tags.unwrap_or_default(),
        created_ms: now_ms,
        revision: 0,
    };
    let (integrations, routes, stages) = match input.target {
        Some(target) => {
            let integration = Integration {
                integration_id: new_id(7),
                integration_uri: checked_target(&target)?,
                payload_format_version: PayloadFormatVersion::V2,
                timeout_ms: INTEGRATION_TIMEOUT_MAX_MS,
                description: None,
                api_gateway_managed: true,
            };
            let route_key = input.route_key.unwrap_or_else(|| DEFAULT.to_string());
            RouteKey::parse(&route_key).map_err(ApiGatewayError::bad_request)?;
            let route = Route {
                route_id: new_id(7),
                route_key,
                target: Some(format!("integrations/{}", integration.integration_id)),
                operation_name: None,
                api_gateway_managed: true,
            };
            let stage = Stage {
                stage_name: DEFAULT.to_string(),
                auto_deploy: true,
                description: None,
                stage_variables: BTreeMap::new(),
                deployment_id: None,
                tags: BTreeMap::new(),
                api_gateway_managed: true,
                created_ms: now_ms,
                last_updated_ms: now_ms,
            };
            (vec![integration], vec![route], vec![stage])
        }
        None if input.route_key.is_some() => {
            return Err(ApiGatewayError::bad_request(
                "RouteKey can only be specified with Target for quick create",
            ));
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    state
        .http_triggers
        .create_api(&api, &integrations, &routes, &stages)?;
    Ok((StatusCode::CREATED, Json(api_shape(&state, &api))).into_response())
}

/// `GET /v2/apis/{apiId}`
pub(crate) async fn get_api(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
) -> Result<Response, ApiGatewayError> {
    let api = load_api(&state, &api_id)?;
    Ok(Json(api_shape(&state, &api)).into_response())
}

/// `GET /v2/apis`
pub(crate) async fn get_apis(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiGatewayError> {
    let items = state
        .http_triggers
        .list_apis()?
        .iter()
        .map(|api| api_shape(&state, api))
        .collect();
    Ok(Json(page(items, &query)?).into_response())
}

/// `PATCH /v2/apis/{apiId}`: changes the given fields. A `target` on a
/// quick-created API points its managed integration at another function.
pub(crate) async fn update_api(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: ApiIn = parse_json(&body)?;
    let mut api = load_api(&state, &api_id)?;
    if input.protocol_type.is_some() {
        return Err(ApiGatewayError::bad_request(
            "ProtocolType cannot be changed",
        ));
    }
    check_route_selection_expression(input.route_selection_expression.as_deref())?;
    if let Some(name) = input.name {
        api.name = checked_name(Some(name))?;
    }
    if let Some(description) = input.description {
        api.description = Some(description);
    }
    if let Some(version) = input.version {
        api.version = Some(version);
    }
    if let Some(cors) = input.cors_configuration {
        api.cors = Some(checked_cors(cors)?);
    }
    if let Some(disable) = input.disable_execute_api_endpoint {
        api.disable_execute_api_endpoint = disable;
    }
    if input.route_key.is_some() {
        return Err(ApiGatewayError::bad_request(
            "RouteKey cannot be changed by UpdateApi: use UpdateRoute",
        ));
    }
    if let Some(target) = input.target {
        let uri = checked_target(&target)?;
        let managed = state
            .http_triggers
            .list_integrations(&api_id)?
            .into_iter()
            .find(|i| i.api_gateway_managed);
        let Some(mut integration) = managed else {
            return Err(ApiGatewayError::bad_request(
                "Target can only be changed on an API made by quick create",
            ));
        };
        integration.integration_uri = uri;
        state.http_triggers.put_integration(&api_id, &integration)?;
    }
    state.http_triggers.update_api(&api)?;
    let api = load_api(&state, &api_id)?;
    Ok(Json(api_shape(&state, &api)).into_response())
}

/// `DELETE /v2/apis/{apiId}`
pub(crate) async fn delete_api(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
) -> Result<Response, ApiGatewayError> {
    load_api(&state, &api_id)?;
    state.http_triggers.delete_api(&api_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v2/apis/{apiId}/cors`
pub(crate) async fn delete_cors_configuration(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
) -> Result<Response, ApiGatewayError> {
    let mut api = load_api(&state, &api_id)?;
    api.cors = None;
    state.http_triggers.update_api(&api)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn checked_name(name: Option<String>) -> Result<String, ApiGatewayError> {
    match name {
        Some(name) if !name.is_empty() && name.chars().count() <= 128 => Ok(name),
        _ => Err(ApiGatewayError::bad_request(
            "Name is required and must be 1 to 128 characters long",
        )),
    }
}

fn check_route_selection_expression(expression: Option<&str>) -> Result<(), ApiGatewayError> {
    match expression {
        None | Some("$request.method $request.path" | "${request.method} ${request.path}") => {
            Ok(())
        }
        Some(other) => Err(ApiGatewayError::bad_request(format!(
            "Unsupported route selection expression {other}: HTTP APIs route on $request.method $request.path"
        ))),
    }
}

/// A quick create's target: a Lambda function (its ARN or API Gateway's
/// invocation URI around it).
fn checked_target(target: &str) -> Result<String, ApiGatewayError> {
    match integration_function_arn(target) {
        Some(_) => Ok(target.to_string()),
        None => Err(ApiGatewayError::bad_request(format!(
            "Invalid target {target}: this server's targets are Lambda function ARNs"
        ))),
    }
}
