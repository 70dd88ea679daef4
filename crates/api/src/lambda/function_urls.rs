//! Function URLs: Create, Get, Update, Delete and ListFunctionUrlConfigs
//! (`/2021-10-31/functions/{name}/url`). The gateway serves the URLs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::http_trigger::{
    Cors, FUNCTION_URL_ID_LEN, FunctionUrlAuthType, FunctionUrlConfig, InvokeMode,
};
use rayo_core::store::StoreError;
use rayo_core::validation::ValidationError;
use rayo_core::{FunctionRecord, LATEST};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::functions::load_function;
use super::shapes::parse_json;
use crate::ApiState;
use crate::error::LambdaError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionUrlConfigIn {
    auth_type: Option<String>,
    cors: Option<CorsIn>,
    invoke_mode: Option<String>,
}

/// The `Cors` shape of the Lambda API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CorsIn {
    allow_credentials: Option<bool>,
    allow_headers: Option<Vec<String>>,
    allow_methods: Option<Vec<String>>,
    allow_origins: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    max_age: Option<i64>,
}

/// `POST /2021-10-31/functions/{name}/url`
pub(crate) async fn create_function_url_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: FunctionUrlConfigIn = parse_json(&body)?;
    let (record, qualifier) = load(&state, &function_name, &query)?;
    let auth_type = match input.auth_type.as_deref() {
        Some(auth_type) => parse_auth_type(auth_type)?,
        None => return Err(null_field("authType")),
    };
    let now_ms = now_ms();
    let config = FunctionUrlConfig {
        url_id: url_id(&state, &record.config.name, qualifier.as_deref()),
        function_name: record.config.name.clone(),
        qualifier,
        auth_type,
        cors: input.cors.map(checked_cors).transpose()?,
        invoke_mode: parse_invoke_mode(input.invoke_mode.as_deref())?,
        created_ms: now_ms,
        last_modified_ms: now_ms,
    };
    let arn = function_arn(&state, &config);
    match state.http_triggers.create_function_url(&config) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(LambdaError::conflict(format!(
                "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
            )));
        }
        Err(StoreError::NotFound(_)) => return Err(LambdaError::function_not_found(&arn)),
        Err(error) => return Err(error.into()),
    }
    let mut out = config_shape(&state, &config);
    if let Some(object) = out.as_object_mut() {
        object.remove("LastModifiedTime");
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /2021-10-31/functions/{name}/url`
pub(crate) async fn get_function_url_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let config = load_config(&state, &function_name, &query)?;
    Ok(Json(config_shape(&state, &config)).into_response())
}

/// `PUT /2021-10-31/functions/{name}/url`: changes the given fields.
pub(crate) async fn update_function_url_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: FunctionUrlConfigIn = parse_json(&body)?;
    let mut config = load_config(&state, &function_name, &query)?;
    if let Some(auth_type) = input.auth_type.as_deref() {
        config.auth_type = parse_auth_type(auth_type)?;
    }
    if let Some(cors) = input.cors {
        config.cors = Some(checked_cors(cors)?);
    }
    if input.invoke_mode.is_some() {
        config.invoke_mode = parse_invoke_mode(input.invoke_mode.as_deref())?;
    }
    config.last_modified_ms = now_ms();
    match state.http_triggers.update_function_url(&config) {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(missing()),
        Err(error) => return Err(error.into()),
    }
    Ok(Json(config_shape(&state, &config)).into_response())
}

/// `DELETE /2021-10-31/functions/{name}/url`
pub(crate) async fn delete_function_url_config(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let (record, qualifier) = load(&state, &function_name, &query)?;
    if !state
        .http_triggers
        .delete_function_url(&record.config.name, qualifier.as_deref())?
    {
        return Err(missing());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2021-10-31/functions/{name}/urls`
pub(crate) async fn list_function_url_configs(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let record = load_function(&state, &function_name, None)?;
    let max_items = match query.get("MaxItems") {
        Some(max) => match max.parse::<usize>() {
            Ok(max) if (1..=50).contains(&max) => max,
            _ => {
                return Err(ValidationError::constraint(
                    "maxItems",
                    max,
                    "Member must have value between 1 and 50",
                )
                .into());
            }
        },
        None => 50,
    };
    let start = match query.get("Marker") {
        Some(marker) => marker
            .parse::<usize>()
            .map_err(|_| LambdaError::invalid_parameter("Invalid Marker"))?,
        None => 0,
    };
    let configs = state
        .http_triggers
        .list_function_urls(&record.config.name)?;
    let page: Vec<Value> = configs
        .iter()
        .skip(start)
        .take(max_items)
        .map(|config| config_shape(&state, config))
        .collect();
    let mut out = json!({ "FunctionUrlConfigs": page });
    if start + max_items < configs.len() {
        out["NextMarker"] = json!((start + max_items).to_string());
    }
    Ok(Json(out).into_response())
}

/// A function URL's id: 32 lowercase letters and digits, derived from the
/// function (and qualifier) under the server's secret, so it is stable for
/// the function, across a delete and a new create too, as on AWS, and
/// cannot be guessed from the name.
fn url_id(state: &ApiState, function_name: &str, qualifier: Option<&str>) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = state.code_urls.keyed_digest(&format!(
        "function-url\n{function_name}\n{}",
        qualifier.unwrap_or("")
    ));
    digest
        .iter()
        .take(FUNCTION_URL_ID_LEN)
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect()
}

fn load(
    state: &ApiState,
    function_name: &str,
    query: &HashMap<String, String>,
) -> Result<(FunctionRecord, Option<String>), LambdaError> {
    let qualifier = query.get("Qualifier");
    if let Some(qualifier) = qualifier
        && (qualifier == LATEST || qualifier.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ValidationError::constraint(
            "qualifier",
            qualifier,
            "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
        )
        .into());
    }
    let record = load_function(state, function_name, qualifier)?;
    Ok((record, qualifier.cloned()))
}

fn load_config(
    state: &ApiState,
    function_name: &str,
    query: &HashMap<String, String>,
) -> Result<FunctionUrlConfig, LambdaError> {
    let (record, qualifier) = load(state, function_name, query)?;
    state
        .http_triggers
        .get_function_url(&record.config.name, qualifier.as_deref())?
        .ok_or_else(missing)
}

fn missing() -> LambdaError {
    LambdaError::not_found("The resource you requested does not exist.")
}

fn null_field(field: &str) -> LambdaError {
    ValidationError::constraint(field, "null", "Member must not be null").into()
}

fn parse_auth_type(value: &str) -> Result<FunctionUrlAuthType, LambdaError> {
    FunctionUrlAuthType::parse(value).ok_or_else(|| {
        ValidationError::constraint(
            "authType",
            value,
            "Member must satisfy enum value set: [NONE, AWS_IAM]",
        )
        .into()
    })
}

fn parse_invoke_mode(value: Option<&str>) -> Result<InvokeMode, LambdaError> {
    match value {
        None => Ok(InvokeMode::Buffered),
        Some(value) => InvokeMode::parse(value).ok_or_else(|| {
            ValidationError::constraint(
                "invokeMode",
                value,
                "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]",
            )
            .into()
        }),
    }
}

/// The `Cors` settings, checked against the Lambda API's model.
fn checked_cors(input: CorsIn) -> Result<Cors, LambdaError> {
    let list = |field: &str,
                values: Option<Vec<String>>,
                max_items: usize,
                max_len: usize|
     -> Result<Vec<String>, LambdaError> {
        let values = values.unwrap_or_default();
        if values.len() > max_items {
            return Err(ValidationError::constraint(
                field,
                &format!("{values:?}"),
                &format!("Member must have length less than or equal to {max_items}"),
            )
            .into());
        }
        if let Some(value) = values.iter().find(|v| v.len() > max_len) {
            return Err(ValidationError::constraint(
                field,
                value,
                &format!("Member must have length less than or equal to {max_len}"),
            )
            .into());
        }
        Ok(values)
    };
    if let Some(max_age) = input.max_age
        && !(0..=86_400).contains(&max_age)
    {
        return Err(ValidationError::constraint(
            "cors.maxAge",
            &max_age.to_string(),
            "Member must have value between 0 and 86400",
        )
        .into());
    }
    let allow_origins = list("cors.allowOrigins", input.allow_origins, 100, 253)?;
    if allow_origins.iter().any(String::is_empty) {
        return Err(ValidationError::constraint(
            "cors.allowOrigins",
            "",
            "Member must have length greater than or equal to 1",
        )
        .into());
    }
    Ok(Cors {
        allow_credentials: input.allow_credentials.unwrap_or(false),
        allow_headers: list("cors.allowHeaders", input.allow_headers, 100, 1024)?,
        allow_methods: list("cors.allowMethods", input.allow_methods, 6, 6)?,
        allow_origins,
        expose_headers: list("cors.exposeHeaders", input.expose_headers, 100, 1024)?,
        max_age: input.max_age,
    })
}

fn function_arn(state: &ApiState, config: &FunctionUrlConfig) -> String {
    match &config.qualifier {
        Some(qualifier) => state
            .region
            .qualified_function_arn(&config.function_name, qualifier),
        None => state.region.function_arn(&config.function_name),
    }
}

/// The `FunctionUrlConfig` shape.
fn config_shape(state: &ApiState, config: &FunctionUrlConfig) -> Value {
    let mut out = json!({
        "FunctionUrl": state.gateway.function_url(&config.url_id),
        "FunctionArn": function_arn(state, config),
        "AuthType": config.auth_type.as_str(),
        "CreationTime": timestamp(config.created_ms),
        "LastModifiedTime": timestamp(config.last_modified_ms),
        "InvokeMode": config.invoke_mode.as_str(),
    });
    if let Some(cors) = &config.cors {
        out["Cors"] = cors_shape(cors);
    }
    out
}

/// The Lambda API's `Cors` shape: only what is set.
fn cors_shape(cors: &Cors) -> Value {
    let mut out = json!({});
    if cors.allow_credentials {
        out["AllowCredentials"] = json!(true);
    }
    for (key, values) in [
        ("AllowHeaders", &cors.allow_headers),
        ("AllowMethods", &cors.allow_methods),
        ("AllowOrigins", &cors.allow_origins),
        ("ExposeHeaders", &cors.expose_headers),
    ] {
        if !values.is_empty() {
            out[key] = json!(values);
        }
    }
    if let Some(max_age) = cors.max_age {
        out["MaxAge"] = json!(max_age);
    }
    out
}

/// `2021-10-31T12:00:00.123000Z`, as Lambda writes these times.
fn timestamp(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
