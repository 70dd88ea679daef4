//! Routes: CreateRoute, GetRoute, GetRoutes, UpdateRoute and DeleteRoute.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::http_trigger::{Route, RouteKey};
use rayo_core::store::StoreError;
use rayo_gateway::routes::RouteTable;
use serde::Deserialize;

use super::error::ApiGatewayError;
use super::shapes::{load_api, new_id, page, parse_json, route_shape};
use crate::ApiState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteIn {
    route_key: Option<String>,
    target: Option<String>,
    operation_name: Option<String>,
    authorization_type: Option<String>,
    api_key_required: Option<bool>,
}

/// `POST /v2/apis/{apiId}/routes`
pub(crate) async fn create_route(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: RouteIn = parse_json(&body)?;
    load_api(&state, &api_id)?;
    let Some(route_key) = input.route_key.clone() else {
        return Err(ApiGatewayError::bad_request("RouteKey is required"));
    };
    let mut route = Route {
        route_id: new_id(7),
        route_key,
        target: None,
        operation_name: None,
        api_gateway_managed: false,
    };
    apply(&state, &api_id, &mut route, input)?;
    save(&state, &api_id, &route)?;
    Ok((StatusCode::CREATED, Json(route_shape(&route))).into_response())
}

/// `GET /v2/apis/{apiId}/routes/{routeId}`
pub(crate) async fn get_route(
    State(state): State<Arc<ApiState>>,
    Path((api_id, route_id)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    let route = load(&state, &api_id, &route_id)?;
    Ok(Json(route_shape(&route)).into_response())
}

/// `GET /v2/apis/{apiId}/routes`
pub(crate) async fn get_routes(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiGatewayError> {
    load_api(&state, &api_id)?;
    let items = state
        .http_triggers
        .list_routes(&api_id)?
        .iter()
        .map(route_shape)
        .collect();
    Ok(Json(page(items, &query)?).into_response())
}

/// `PATCH /v2/apis/{apiId}/routes/{routeId}`
pub(crate) async fn update_route(
    State(state): State<Arc<ApiState>>,
    Path((api_id, route_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: RouteIn = parse_json(&body)?;
    let mut route = load(&state, &api_id, &route_id)?;
    if let Some(route_key) = input.route_key.clone() {
        route.route_key = route_key;
    }
    apply(&state, &api_id, &mut route, input)?;
    save(&state, &api_id, &route)?;
    Ok(Json(route_shape(&route)).into_response())
}

/// `DELETE /v2/apis/{apiId}/routes/{routeId}`
pub(crate) async fn delete_route(
    State(state): State<Arc<ApiState>>,
    Path((api_id, route_id)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    load(&state, &api_id, &route_id)?;
    state.http_triggers.delete_route(&api_id, &route_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks the key and applies the settings a create or update carries.
fn apply(
    state: &ApiState,
    api_id: &str,
    route: &mut Route,
    input: RouteIn,
) -> Result<(), ApiGatewayError> {
    RouteKey::parse(&route.route_key).map_err(ApiGatewayError::bad_request)?;
    if let Some(target) = input.target {
        let integration_id = target.strip_prefix("integrations/").unwrap_or("");
        let exists = !integration_id.is_empty()
            && state
                .http_triggers
                .get_integration(api_id, integration_id)?
                .is_some();
        if !exists {
            return Err(ApiGatewayError::bad_request(format!(
                "Invalid target {target}: a target is integrations/<id> of an integration of this API"
            )));
        }
        route.target = Some(target);
    }
    if let Some(operation_name) = input.operation_name {
        route.operation_name = Some(operation_name);
    }
    if let Some(authorization_type) = input.authorization_type.as_deref()
        && authorization_type != "NONE"
    {
        return Err(ApiGatewayError::bad_request(format!(
            "AuthorizationType {authorization_type} is not supported by this server: routes are NONE"
        )));
    }
    if input.api_key_required == Some(true) {
        return Err(ApiGatewayError::bad_request(
            "API keys are not supported for HTTP APIs",
        ));
    }
    // A key that routes the same requests as another (`GET /a/{x}` beside
    // `GET /a/{y}`) could never be reached.
    let mut keys: Vec<String> = state
        .http_triggers
        .list_routes(api_id)?
        .into_iter()
        .filter(|other| other.route_id != route.route_id && other.route_key != route.route_key)
        .map(|other| other.route_key)
        .collect();
    keys.push(route.route_key.clone());
    let (_, problems) = RouteTable::new(keys.iter().map(String::as_str));
    if let Some(problem) = problems.last()
        && problem.contains(&format!("{:?}", route.route_key))
    {
        return Err(ApiGatewayError::conflict(problem.clone()));
    }
    Ok(())
}

fn save(state: &ApiState, api_id: &str, route: &Route) -> Result<(), ApiGatewayError> {
    match state.http_triggers.put_route(api_id, route) {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists(key)) => Err(ApiGatewayError::conflict(format!(
            "Route with key {key} already exists for this API"
        ))),
        Err(error) => Err(error.into()),
    }
}

fn load(state: &ApiState, api_id: &str, route_id: &str) -> Result<Route, ApiGatewayError> {
    load_api(state, api_id)?;
    state
        .http_triggers
        .get_route(api_id, route_id)?
        .ok_or_else(|| {
            ApiGatewayError::not_found(
                "Route",
                format!("Invalid Route identifier specified {route_id}"),
            )
        })
}
