//! Layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn,
//! ListLayers, ListLayerVersions and DeleteLayerVersion.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rayo_core::Runtime;
use rayo_core::version::{LayerVersion, is_layer_name, parse_layer_arn};
use serde::Deserialize;
use serde_json::{Value, json};

use super::functions::{
    base_url, decode_marker, encode_marker, now, package_bytes, read_code_body, store_package,
};
use super::shapes::{code_sha256_base64, last_modified, parse_json};
use super::versions::max_items;
use crate::ApiState;
use crate::error::LambdaError;

/// `Content` of PublishLayerVersion.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LayerContentIn {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    s3_object_version: Option<String>,
}

/// The body of PublishLayerVersion.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishLayerVersionIn {
    description: Option<String>,
    content: Option<LayerContentIn>,
    compatible_runtimes: Option<Vec<String>>,
    license_info: Option<String>,
    compatible_architectures: Option<Vec<String>>,
}

/// `POST /2018-10-31/layers/{name}/versions`
pub(crate) async fn publish_layer_version(
    State(state): State<Arc<ApiState>>,
    Path(layer_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, LambdaError> {
    let body = read_code_body(body, "PublishLayerVersion").await?;
    let input: PublishLayerVersionIn = parse_json(&body)?;
    let layer_name = layer_name_of(&state, &layer_name)?;
    let description = input.description.unwrap_or_default();
    rayo_core::function::validate_description(&description)?;
    let compatible_runtimes = input.compatible_runtimes.unwrap_or_default();
    if compatible_runtimes.len() > 15 {
        return Err(LambdaError::validation(
            "1 validation error detected: Value at 'compatibleRuntimes' failed to satisfy constraint: Member must have length less than or equal to 15",
        ));
    }
    for runtime in &compatible_runtimes {
        Runtime::parse(runtime)?;
    }
    let compatible_architectures = input.compatible_architectures.unwrap_or_default();
    if compatible_architectures.len() > 2 {
        return Err(LambdaError::validation(
            "1 validation error detected: Value at 'compatibleArchitectures' failed to satisfy constraint: Member must have length less than or equal to 2",
        ));
    }
    for architecture in &compatible_architectures {
        rayo_core::Architecture::parse(architecture)?;
    }
    let Some(content) = input.content else {
        return Err(LambdaError::validation(
            "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null",
        ));
    };
    let zip = package_bytes(
        &state,
        content.zip_file,
        content.s3_bucket,
        content.s3_key,
        content.s3_object_version,
    )
    .await?;
    let code = store_package(&state, zip).await?;
    let mut layer = LayerVersion {
        layer_name,
        version: 0,
        description,
        compatible_runtimes,
        compatible_architectures,
        license_info: input.license_info,
        code,
        created: now(),
    };
    layer.version = state.layers.publish_layer_version(&layer)?;
    tracing::info!(layer = %layer.layer_name, version = layer.version, "layer version published");
    let out = layer_version_out(&state, &layer, &base_url(&headers));
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /2018-10-31/layers/{name}/versions/{number}`
pub(crate) async fn get_layer_version(
    State(state): State<Arc<ApiState>>,
    Path((layer_name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, LambdaError> {
    let layer_name = layer_name_of(&state, &layer_name)?;
    let version = version_number(&version)?;
    let layer = load_layer_version(&state, &layer_name, version)?;
    Ok(Json(layer_version_out(&state, &layer, &base_url(&headers))).into_response())
}

/// `DELETE /2018-10-31/layers/{name}/versions/{number}`: deleting a
/// version that is not there is no error. Functions that use it keep it.
pub(crate) async fn delete_layer_version(
    State(state): State<Arc<ApiState>>,
    Path((layer_name, version)): Path<(String, String)>,
) -> Result<Response, LambdaError> {
    let layer_name = layer_name_of(&state, &layer_name)?;
    let version = version_number(&version)?;
    if state.layers.delete_layer_version(&layer_name, version)? {
        tracing::info!(layer = %layer_name, version, "layer version deleted");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2018-10-31/layers/{name}/versions`
pub(crate) async fn list_layer_versions(
    State(state): State<Arc<ApiState>>,
    Path(layer_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let layer_name = layer_name_of(&state, &layer_name)?;
    let max_items = max_items(&query, 50, 50)?;
    let versions: Vec<LayerVersion> = state
        .layers
        .list_layer_versions(&layer_name)?
        .into_iter()
        .filter(|layer| matches_filters(layer, &query))
        .collect();
    let start = match query.get("Marker") {
        Some(marker) => {
            let after: u64 = decode_marker(marker)?
                .parse()
                .map_err(|_| LambdaError::invalid_parameter("Invalid Marker"))?;
            versions.iter().take_while(|l| l.version >= after).count()
        }
        None => 0,
    };
    let page: Vec<&LayerVersion> = versions.iter().skip(start).take(max_items).collect();
    let mut out = json!({
        "LayerVersions": page.iter().map(|l| layer_list_item(&state, l)).collect::<Vec<_>>(),
    });
    if start + page.len() < versions.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(encode_marker(&last.version.to_string()));
    }
    Ok(Json(out).into_response())
}

/// `GET /2018-10-31/layers`: ListLayers, or with `find=LayerVersion` and
/// `Arn`, GetLayerVersionByArn.
pub(crate) async fn list_layers(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, LambdaError> {
    if query.get("find").map(String::as_str) == Some("LayerVersion") {
        let arn = query.get("Arn").map(String::as_str).unwrap_or_default();
        let Some((layer_name, Some(version))) = parse_layer_arn(&state.region, arn) else {
            return Err(rayo_core::validation::ValidationError::constraint(
                "arn",
                arn,
                "Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+",
            )
            .into());
        };
        let layer = load_layer_version(&state, &layer_name, version)?;
        return Ok(Json(layer_version_out(&state, &layer, &base_url(&headers))).into_response());
    }
    let max_items = max_items(&query, 50, 50)?;
    // The newest matching version of each layer, by layer name.
    let mut latest: Vec<LayerVersion> = Vec::new();
    for layer in state.layers.list_all_layer_versions()? {
        if !matches_filters(&layer, &query) {
            continue;
        }
        if latest
            .last()
            .is_some_and(|l| l.layer_name == layer.layer_name)
        {
            continue;
        }
        latest.push(layer);
    }
    let start = match query.get("Marker") {
        Some(marker) => {
            let after = decode_marker(marker)?;
            latest.iter().take_while(|l| l.layer_name <= after).count()
        }
        None => 0,
    };
    let page: Vec<&LayerVersion> = latest.iter().skip(start).take(max_items).collect();
    let mut out = json!({
        "Layers": page
            .iter()
            .map(|l| json!({
                "LayerName": l.layer_name,
                "LayerArn": state.region.layer_arn(&l.layer_name),
                "LatestMatchingVersion": layer_list_item(&state, l),
            }))
            .collect::<Vec<_>>(),
    });
    if start + page.len() < latest.len()
        && let Some(last) = page.last()
    {
        out["NextMarker"] = json!(encode_marker(&last.layer_name));
    }
    Ok(Json(out).into_response())
}

/// `GetLayerVersion`'s and `PublishLayerVersion`'s answer.
fn layer_version_out(state: &ApiState, layer: &LayerVersion, base_url: &str) -> Value {
    let mut out = layer_list_item(state, layer);
    out["LayerArn"] = json!(state.region.layer_arn(&layer.layer_name));
    out["Content"] = json!({
        "Location": state.code_urls.link(base_url, &layer.code.sha256_hex),
        "CodeSha256": code_sha256_base64(&layer.code.sha256_hex),
        "CodeSize": layer.code.size,
    });
    out
}

/// The `LayerVersionsListItem` shape.
fn layer_list_item(state: &ApiState, layer: &LayerVersion) -> Value {
    let mut out = json!({
        "LayerVersionArn": state.region.layer_version_arn(&layer.layer_name, layer.version),
        "Version": layer.version,
        "Description": layer.description,
        "CreatedDate": last_modified(layer.created),
        "CompatibleRuntimes": layer.compatible_runtimes,
        "CompatibleArchitectures": layer.compatible_architectures,
    });
    if let Some(license) = &layer.license_info {
        out["LicenseInfo"] = json!(license);
    }
    out
}

fn matches_filters(layer: &LayerVersion, query: &HashMap<String, String>) -> bool {
    query
        .get("CompatibleRuntime")
        .is_none_or(|r| layer.compatible_runtimes.contains(r))
        && query
            .get("CompatibleArchitecture")
            .is_none_or(|a| layer.compatible_architectures.contains(a))
}

fn load_layer_version(
    state: &ApiState,
    layer_name: &str,
    version: u64,
) -> Result<LayerVersion, LambdaError> {
    state
        .layers
        .get_layer_version(layer_name, version)?
        .ok_or_else(|| LambdaError::not_found("The resource you requested does not exist."))
}

/// A `LayerName` path parameter: a name, or a layer's ARN.
fn layer_name_of(state: &ApiState, layer_name: &str) -> Result<String, LambdaError> {
    if is_layer_name(layer_name) {
        return Ok(layer_name.to_string());
    }
    match parse_layer_arn(&state.region, layer_name) {
        Some((name, None)) => Ok(name),
        _ => Err(rayo_core::validation::ValidationError::constraint(
            "layerName",
            layer_name,
            "Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
        )
        .into()),
    }
}

fn version_number(version: &str) -> Result<u64, LambdaError> {
    version.parse().map_err(|_| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{version}' at 'versionNumber' failed to satisfy constraint: Member must be a number"
        ))
    })
}
