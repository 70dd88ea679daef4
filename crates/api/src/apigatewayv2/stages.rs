//! Stages: CreateStage, GetStage, GetStages, UpdateStage and DeleteStage;
//! and CreateDeployment. Every stage serves the API's current routes and
//! integrations, as an auto-deploying stage does: a deployment only
//! records its id on the stage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::http_trigger::{Stage, is_stage_name};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiGatewayError;
use super::shapes::{load_api, new_id, now_ms, page, parse_json, stage_shape, timestamp};
use crate::ApiState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageIn {
    stage_name: Option<String>,
    auto_deploy: Option<bool>,
    description: Option<String>,
    stage_variables: Option<BTreeMap<String, String>>,
    deployment_id: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentIn {
    stage_name: Option<String>,
    description: Option<String>,
}

/// `POST /v2/apis/{apiId}/stages`
pub(crate) async fn create_stage(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: StageIn = parse_json(&body)?;
    load_api(&state, &api_id)?;
    let Some(stage_name) = input.stage_name.clone() else {
        return Err(ApiGatewayError::bad_request("StageName is required"));
    };
    if !is_stage_name(&stage_name) {
        return Err(ApiGatewayError::bad_request(format!(
            "Invalid stage name {stage_name}: $default, or 1 to 128 letters, digits, - and _"
        )));
    }
    if state
        .http_triggers
        .get_stage(&api_id, &stage_name)?
        .is_some()
    {
        return Err(ApiGatewayError::conflict(format!(
            "Stage {stage_name} already exists"
        )));
    }
    let now_ms = now_ms();
    let mut stage = Stage {
        stage_name,
        auto_deploy: false,
        description: None,
        stage_variables: BTreeMap::new(),
        deployment_id: None,
        tags: input.tags.clone().unwrap_or_default(),
        api_gateway_managed: false,
        created_ms: now_ms,
        last_updated_ms: now_ms,
    };
    apply(&mut stage, input)?;
    state.http_triggers.put_stage(&api_id, &stage)?;
    Ok((StatusCode::CREATED, Json(stage_shape(&stage))).into_response())
}

/// `GET /v2/apis/{apiId}/stages/{stageName}`
pub(crate) async fn get_stage(
    State(state): State<Arc<ApiState>>,
    Path((api_id, stage_name)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    let stage = load(&state, &api_id, &stage_name)?;
    Ok(Json(stage_shape(&stage)).into_response())
}

/// `GET /v2/apis/{apiId}/stages`
pub(crate) async fn get_stages(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiGatewayError> {
    load_api(&state, &api_id)?;
    let items = state
        .http_triggers
        .list_stages(&api_id)?
        .iter()
        .map(stage_shape)
        .collect();
    Ok(Json(page(items, &query)?).into_response())
}

/// `PATCH /v2/apis/{apiId}/stages/{stageName}`
pub(crate) async fn update_stage(
    State(state): State<Arc<ApiState>>,
    Path((api_id, stage_name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: StageIn = parse_json(&body)?;
    let mut stage = load(&state, &api_id, &stage_name)?;
    if input
        .stage_name
        .as_deref()
        .is_some_and(|name| name != stage.stage_name)
    {
        return Err(ApiGatewayError::bad_request("A stage cannot be renamed"));
    }
    apply(&mut stage, input)?;
    stage.last_updated_ms = now_ms();
    state.http_triggers.put_stage(&api_id, &stage)?;
    Ok(Json(stage_shape(&stage)).into_response())
}

/// `DELETE /v2/apis/{apiId}/stages/{stageName}`
pub(crate) async fn delete_stage(
    State(state): State<Arc<ApiState>>,
    Path((api_id, stage_name)): Path<(String, String)>,
) -> Result<Response, ApiGatewayError> {
    load(&state, &api_id, &stage_name)?;
    state.http_triggers.delete_stage(&api_id, &stage_name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v2/apis/{apiId}/deployments`: records a deployment on the stage
/// named, if any; what stages serve is always the current configuration.
pub(crate) async fn create_deployment(
    State(state): State<Arc<ApiState>>,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiGatewayError> {
    let input: DeploymentIn = parse_json(&body)?;
    load_api(&state, &api_id)?;
    let deployment_id = new_id(6);
    let now_ms = now_ms();
    if let Some(stage_name) = &input.stage_name {
        let mut stage = load(&state, &api_id, stage_name)?;
        stage.deployment_id = Some(deployment_id.clone());
        stage.last_updated_ms = now_ms;
        state.http_triggers.put_stage(&api_id, &stage)?;
    }
    let mut out = json!({
        "autoDeployed": false,
        "createdDate": timestamp(now_ms),
        "deploymentId": deployment_id,
        "deploymentStatus": "DEPLOYED",
    });
    if let Some(description) = input.description {
        out["description"] = json!(description);
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

fn apply(stage: &mut Stage, input: StageIn) -> Result<(), ApiGatewayError> {
    if let Some(auto_deploy) = input.auto_deploy {
        stage.auto_deploy = auto_deploy;
    }
    if let Some(description) = input.description {
        stage.description = Some(description);
    }
    if let Some(variables) = input.stage_variables {
        let invalid = variables.iter().find(|(name, value)| {
            name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                || value.len() > 2048
        });
        if let Some((name, _)) = invalid {
            return Err(ApiGatewayError::bad_request(format!(
                "Invalid stage variable {name}: names are 1 to 64 letters, digits and _, values at most 2048 characters"
            )));
        }
        stage.stage_variables = variables;
    }
    if let Some(deployment_id) = input.deployment_id {
        stage.deployment_id = Some(deployment_id);
    }
    if let Some(tags) = input.tags {
        stage.tags = tags;
    }
    Ok(())
}

fn load(state: &ApiState, api_id: &str, stage_name: &str) -> Result<Stage, ApiGatewayError> {
    load_api(state, api_id)?;
    state
        .http_triggers
        .get_stage(api_id, stage_name)?
        .ok_or_else(|| {
            ApiGatewayError::not_found(
                "Stage",
                format!("Invalid stage identifier specified {stage_name}"),
            )
        })
}
