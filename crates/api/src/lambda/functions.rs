//! Functions: CreateFunction, GetFunction, GetFunctionConfiguration,
//! ListFunctions, UpdateFunctionCode, UpdateFunctionConfiguration and
//! DeleteFunction.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rayo_core::function::{
    validate_description, validate_environment, validate_ephemeral_storage, validate_handler,
    validate_memory_size, validate_role, validate_tags, validate_timeout,
};
use rayo_core::store::{PackageError, StoreError};
use rayo_core::validation::ValidationError;
use rayo_core::version::{LAYERS_PER_FUNCTION_MAX, Published, is_version_number, parse_layer_arn};
use rayo_core::{
    Architecture, CodeRef, FunctionConfig, FunctionRecord, FunctionRef, LATEST, LayerRef, Region,
    Runtime, limits,
};
use serde_json::json;
use time::OffsetDateTime;

use super::event_invoke_config::checked_queue_target;
use super::shapes::{
    CodeLocationOut, CreateFunctionIn, DeadLetterConfigIn, GetFunctionOut, UpdateFunctionCodeIn,
    UpdateFunctionConfigurationIn, function_configuration, function_configuration_as, parse_json,
};
use crate::ApiState;
use crate::body::read_limited;
use crate::error::LambdaError;

/// `POST /2015-03-31/functions`
pub(crate) async fn create_function(
    State(state): State<Arc<ApiState>>,
    body: Body,
) -> Result<Response, LambdaError> {
    let body = read_code_body(body, "CreateFunction").await?;
    let input: CreateFunctionIn = parse_json(&body)?;
    let name = required(input.function_name, "functionName")?;
    let function = FunctionRef::parse(&name)?;
    if function.qualifier.is_some() {
        return Err(LambdaError::invalid_parameter(
            "Qualifiers are not allowed in the function name of CreateFunction",
        ));
    }
    if let Some(package_type) = &input.package_type
        && package_type != "Zip"
    {
        return Err(LambdaError::invalid_parameter(format!(
            "PackageType {package_type} is not supported: rayo runs functions from .zip packages"
        )));
    }
    let (Some(runtime), Some(handler)) = (input.runtime, input.handler) else {
        return Err(LambdaError::invalid_parameter(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
        ));
    };
    let runtime = Runtime::parse(&runtime)?;
    check_runtime_available(&state, runtime)?;
    validate_handler(&handler, runtime)?;
    let role = required(input.role, "role")?;
    validate_role(&role)?;
    let description = input.description.unwrap_or_default();
    validate_description(&description)?;
    let memory_size = match input.memory_size {
        Some(size) => validate_memory_size(size)?,
        None => limits::MEMORY_SIZE_DEFAULT_MB,
    };
    let timeout = match input.timeout {
        Some(timeout) => validate_timeout(timeout)?,
        None => limits::TIMEOUT_DEFAULT_SECONDS,
    };
    let environment = input
        .environment
        .and_then(|e| e.variables)
        .unwrap_or_default();
    validate_environment(&environment)?;
    let architectures = parse_architectures(input.architectures)?;
    let ephemeral_storage_mb = match input.ephemeral_storage {
        Some(storage) => validate_ephemeral_storage(storage.size)?,
        None => limits::EPHEMERAL_STORAGE_MIN_MB,
    };
    let tags = input.tags.unwrap_or_default();
    validate_tags(&tags)?;
    let layers = resolve_layers(&state, input.layers.as_deref().unwrap_or_default())?;
    let dead_letter_target_arn = dead_letter_target(&state, input.dead_letter_config)?;
    let code = input.code.unwrap_or_default();
    if code.image_uri.is_some() {
        return Err(LambdaError::invalid_parameter(
            "Code.ImageUri is not supported by this server: upload the package as Code.ZipFile or name it with Code.S3Bucket and Code.S3Key",
        ));
    }
    let zip = package_bytes(
        &state,
        code.zip_file,
        code.s3_bucket,
        code.s3_key,
        code.s3_object_version,
    )
    .await?;
    if state.functions.get_function(&function.name)?.is_some() {
        return Err(function_exists(&function.name));
    }
    let code = store_package(&state, zip).await?;
    let config = FunctionConfig {
        name: function.name.clone(),
        version: LATEST.to_string(),
        runtime,
        handler,
        role,
        description,
        memory_size,
        timeout,
        environment,
        architectures,
        ephemeral_storage_mb,
        dead_letter_target_arn,
        code,
        layers,
        last_modified: now(),
        revision_id: new_revision_id(),
    };
    let record = FunctionRecord {
        config,
        tags,
        policy: Vec::new(),
        policy_revision_id: new_revision_id(),
        reserved_concurrency: None,
        event_invoke_config: None,
    };
    match state.functions.create_function(&record) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => return Err(function_exists(&function.name)),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(function = %function.name, runtime = %runtime, "function created");
    if input.publish == Some(true) {
        let version = publish(&state, &record, None)?;
        let out = function_configuration(&state.region, &version);
        return Ok((StatusCode::CREATED, Json(out)).into_response());
    }
    let out = function_configuration(&state.region, &record.config);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /2015-03-31/functions`
pub(crate) async fn list_functions(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let max_items = match query.get("MaxItems") {
        Some(value) => {
            let n: i64 = value.parse().map_err(|_| {
                LambdaError::validation(format!(
                    "1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: Member must be a number"
                ))
            })?;
            if !(1..=10_000).contains(&n) {
                return Err(ValidationError::constraint(
                    "maxItems",
                    value,
                    "Member must have value between 1 and 10000",
                )
                .into());
            }
            n as usize
        }
        None => 50,
    };
    let after = match query.get("Marker") {
        Some(marker) => Some(decode_marker(marker)?),
        None => None,
    };
    let mut records = state
        .functions
        .list_functions(after.as_deref(), max_items + 1)?;
    let next_marker = if records.len() > max_items {
        records.truncate(max_items);
        records.last().map(|r| encode_marker(&r.config.name))
    } else {
        None
    };
    let functions: Vec<_> = match query.get("FunctionVersion").map(String::as_str) {
        None => records
            .iter()
            .map(|r| function_configuration(&state.region, &r.config))
            .collect(),
        // Every version of each function, `$LATEST` first.
        Some("ALL") => {
            let mut all = Vec::new();
            for record in &records {
                for config in state.functions.list_versions(&record.config.name)? {
                    let arn = state
                        .region
                        .qualified_function_arn(&config.name, &config.version);
                    all.push(function_configuration_as(&state.region, &config, &arn));
                }
            }
            all
        }
        Some(other) => {
            return Err(ValidationError::constraint(
                "functionVersion",
                other,
                "Member must satisfy enum value set: [ALL]",
            )
            .into());
        }
    };
    let mut out = json!({ "Functions": functions });
    if let Some(marker) = next_marker {
        out["NextMarker"] = json!(marker);
    }
    Ok(Json(out).into_response())
}

/// `GET /2015-03-31/functions/{name}`
pub(crate) async fn get_function(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, LambdaError> {
    let loaded = load_version(&state, &function_name, query.get("Qualifier"))?;
    let configuration = version_configuration(&state, &loaded);
    let LoadedVersion { record, config, .. } = loaded;
    let base_url = base_url(&headers);
    let out = GetFunctionOut {
        configuration,
        code: CodeLocationOut {
            repository_type: "S3",
            location: state.code_urls.link(&base_url, &config.code.sha256_hex),
        },
        tags: (!record.tags.is_empty()).then_some(record.tags),
        concurrency: record
            .reserved_concurrency
            .map(|n| json!({ "ReservedConcurrentExecutions": n })),
    };
    Ok(Json(out).into_response())
}

/// `GET /2015-03-31/functions/{name}/configuration`
pub(crate) async fn get_function_configuration(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let loaded = load_version(&state, &function_name, query.get("Qualifier"))?;
    Ok(Json(version_configuration(&state, &loaded)).into_response())
}

/// A loaded version's `FunctionConfiguration`: named by the qualifier
/// given, as Lambda names it (an alias's ARN for an alias).
fn version_configuration(state: &ApiState, loaded: &LoadedVersion) -> serde_json::Value {
    match &loaded.qualifier {
        Some(_) => {
            function_configuration_as(&state.region, &loaded.config, &loaded.arn(&state.region))
        }
        None => function_configuration(&state.region, &loaded.config),
    }
}

/// `PUT /2015-03-31/functions/{name}/configuration`
pub(crate) async fn update_function_configuration(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Body,
) -> Result<Response, LambdaError> {
    let body = read_code_body(body, "UpdateFunctionConfiguration").await?;
    let input: UpdateFunctionConfigurationIn = parse_json(&body)?;
    let mut record = load_function(&state, &function_name, None)?;
    check_revision(&record, input.revision_id.as_deref())?;
    let previous_revision = record.config.revision_id.clone();
    let config = &mut record.config;
    if let Some(runtime) = input.runtime {
        let runtime = Runtime::parse(&runtime)?;
        check_runtime_available(&state, runtime)?;
        config.runtime = runtime;
    }
    if let Some(handler) = input.handler {
        config.handler = handler;
    }
    validate_handler(&config.handler, config.runtime)?;
    if let Some(role) = input.role {
        validate_role(&role)?;
        config.role = role;
    }
    if let Some(description) = input.description {
        validate_description(&description)?;
        config.description = description;
    }
    if let Some(timeout) = input.timeout {
        config.timeout = validate_timeout(timeout)?;
    }
    if let Some(memory_size) = input.memory_size {
        config.memory_size = validate_memory_size(memory_size)?;
    }
    if let Some(environment) = input.environment {
        let variables = environment.variables.unwrap_or_default();
        validate_environment(&variables)?;
        config.environment = variables;
    }
    if let Some(storage) = input.ephemeral_storage {
        config.ephemeral_storage_mb = validate_ephemeral_storage(storage.size)?;
    }
    if let Some(layers) = input.layers {
        config.layers = resolve_layers(&state, &layers)?;
    }
    if let Some(dead_letter_config) = input.dead_letter_config {
        config.dead_letter_target_arn = dead_letter_target(&state, Some(dead_letter_config))?;
    }
    config.last_modified = now();
    config.revision_id = new_revision_id();
    save(&state, &record, &previous_revision)?;
    if input.publish == Some(true) {
        let version = publish(&state, &record, None)?;
        return Ok(Json(function_configuration(&state.region, &version)).into_response());
    }
    Ok(Json(function_configuration(&state.region, &record.config)).into_response())
}

/// `PUT /2015-03-31/functions/{name}/code`
pub(crate) async fn update_function_code(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Body,
) -> Result<Response, LambdaError> {
    let body = read_code_body(body, "UpdateFunctionCode").await?;
    let input: UpdateFunctionCodeIn = parse_json(&body)?;
    let mut record = load_function(&state, &function_name, None)?;
    check_revision(&record, input.revision_id.as_deref())?;
    if input.image_uri.is_some() {
        return Err(LambdaError::invalid_parameter(
            "ImageUri is not supported by this server: upload the package as ZipFile or name it with S3Bucket and S3Key",
        ));
    }
    let zip = package_bytes(
        &state,
        input.zip_file,
        input.s3_bucket,
        input.s3_key,
        input.s3_object_version,
    )
    .await?;
    let architectures = match input.architectures {
        Some(list) => Some(parse_architectures(Some(list))?),
        None => None,
    };
    let code = store_package(&state, zip).await?;
    if input.dry_run == Some(true) {
        let mut preview = record.config.clone();
        preview.code = code;
        return Ok(Json(function_configuration(&state.region, &preview)).into_response());
    }
    let previous_revision = record.config.revision_id.clone();
    record.config.code = code;
    if let Some(architectures) = architectures {
        record.config.architectures = architectures;
    }
    record.config.last_modified = now();
    record.config.revision_id = new_revision_id();
    save(&state, &record, &previous_revision)?;
    if input.publish == Some(true) {
        let version = publish(&state, &record, None)?;
        return Ok(Json(function_configuration(&state.region, &version)).into_response());
    }
    Ok(Json(function_configuration(&state.region, &record.config)).into_response())
}

/// `DELETE /2015-03-31/functions/{name}`
pub(crate) async fn delete_function(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, LambdaError> {
    let qualifier = FunctionRef::parse(&function_name)?
        .qualifier
        .or_else(|| query.get("Qualifier").cloned());
    if qualifier.as_deref() == Some(LATEST) {
        return Err(LambdaError::invalid_parameter(
            "$LATEST version cannot be deleted without deleting the function.",
        ));
    }
    if let Some(qualifier) = qualifier {
        if !is_version_number(&qualifier) {
            return Err(LambdaError::invalid_parameter(
                "Deletion of aliases is not supported by DeleteFunction: use DeleteAlias",
            ));
        }
        return super::versions::delete_version(&state, &function_name, &qualifier).await;
    }
    let record = load_function(&state, &function_name, None)?;
    state.functions.delete_function(&record.config.name)?;
    let executor = state.invoker.executor();
    executor.function_deleted(&record.config.name).await;
    if record.reserved_concurrency.is_some() {
        executor.set_total_reserved(total_reserved(&state)?).await;
    }
    tracing::info!(function = %record.config.name, "function deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Loads the function a `FunctionName` path parameter and optional
/// `Qualifier` name, or answers 404 as Lambda does.
pub(crate) fn load_function(
    state: &ApiState,
    function_name: &str,
    qualifier: Option<&String>,
) -> Result<FunctionRecord, LambdaError> {
    let function = FunctionRef::parse(function_name)?;
    let qualifier = match (function.qualifier.as_deref(), qualifier.map(String::as_str)) {
        (Some(a), Some(b)) if a != b => {
            return Err(LambdaError::invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (a, b) => a.or(b),
    };
    let not_found = || {
        let arn = match qualifier {
            Some(q) => state.region.qualified_function_arn(&function.name, q),
            None => state.region.function_arn(&function.name),
        };
        LambdaError::function_not_found(&arn)
    };
    let record = state
        .functions
        .get_function(&function.name)?
        .ok_or_else(not_found)?;
    match qualifier {
        None | Some(LATEST) => Ok(record),
        Some(version) if is_version_number(version) => {
            match state.functions.get_version(&function.name, version)? {
                Some(_) => Ok(record),
                None => Err(not_found()),
            }
        }
        Some(alias) => match state.functions.get_alias(&function.name, alias)? {
            Some(_) => Ok(record),
            None => Err(not_found()),
        },
    }
}

/// A function version as a `FunctionName` and optional `Qualifier` name it.
#[derive(Debug)]
pub(crate) struct LoadedVersion {
    /// The function, with its `$LATEST` configuration.
    pub(crate) record: FunctionRecord,
    /// The configuration of the version named: `$LATEST`'s, a published
    /// version's, or that of the version an alias points at.
    pub(crate) config: FunctionConfig,
    /// The qualifier given, if any.
    pub(crate) qualifier: Option<String>,
}

impl LoadedVersion {
    /// The ARN Lambda answers with: the function's, qualified by the
    /// qualifier given (`$LATEST` included), except for an unqualified call.
    pub(crate) fn arn(&self, region: &Region) -> String {
        match &self.qualifier {
            Some(q) => region.qualified_function_arn(&self.config.name, q),
            None => region.function_arn(&self.config.name),
        }
    }
}

/// Loads the version a `FunctionName` path parameter and optional
/// `Qualifier` name, or answers 404 as Lambda does.
pub(crate) fn load_version(
    state: &ApiState,
    function_name: &str,
    qualifier: Option<&String>,
) -> Result<LoadedVersion, LambdaError> {
    let record = load_function(state, function_name, qualifier)?;
    let function = FunctionRef::parse(function_name)?;
    let qualifier = function.qualifier.or_else(|| qualifier.cloned());
    let name = record.config.name.clone();
    let not_found =
        |q: &str| LambdaError::function_not_found(&state.region.qualified_function_arn(&name, q));
    let version = match qualifier.as_deref() {
        None | Some(LATEST) => None,
        Some(version) if is_version_number(version) => Some(version.to_string()),
        Some(alias) => {
            let alias = state
                .functions
                .get_alias(&name, alias)?
                .ok_or_else(|| not_found(alias))?;
            Some(alias.function_version).filter(|v| v != LATEST)
        }
    };
    let config = match version {
        None => record.config.clone(),
        Some(version) => state
            .functions
            .get_version(&name, &version)?
            .ok_or_else(|| not_found(&version))?,
    };
    Ok(LoadedVersion {
        record,
        config,
        qualifier,
    })
}

/// Publishes `$LATEST` as a version (PublishVersion, or `Publish: true`),
/// answering Lambda's errors; returns the version's configuration.
pub(crate) fn publish(
    state: &ApiState,
    record: &FunctionRecord,
    description: Option<&str>,
) -> Result<FunctionConfig, LambdaError> {
    let published = state.functions.publish_version(
        &record.config.name,
        &record.config.revision_id,
        description,
        &new_revision_id(),
        now(),
    );
    match published {
        Ok(Published::New(config)) => {
            tracing::info!(function = %config.name, version = %config.version, "version published");
            Ok(config)
        }
        Ok(Published::Unchanged(config)) => Ok(config),
        Err(StoreError::RevisionConflict(_)) => Err(LambdaError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        Err(StoreError::NotFound(_)) => Err(LambdaError::function_not_found(
            &state.region.function_arn(&record.config.name),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Saves an updated record, answering a concurrent change as Lambda does.
pub(crate) fn save(
    state: &ApiState,
    record: &FunctionRecord,
    previous_revision: &str,
) -> Result<(), LambdaError> {
    match state
        .functions
        .update_function(record, previous_revision, &record.policy_revision_id)
    {
        Ok(()) => Ok(()),
        Err(StoreError::RevisionConflict(_)) => Err(LambdaError::conflict(format!(
            "The operation cannot be performed at this time. An update is in progress for resource: {}",
            state.region.function_arn(&record.config.name)
        ))),
        Err(StoreError::NotFound(_)) => Err(LambdaError::function_not_found(
            &state.region.function_arn(&record.config.name),
        )),
        Err(error) => Err(error.into()),
    }
}

/// Concurrency reserved by all functions together.
pub(crate) fn total_reserved(state: &ApiState) -> Result<u32, LambdaError> {
    Ok(state
        .functions
        .list_functions(None, usize::MAX)?
        .iter()
        .filter_map(|r| r.reserved_concurrency)
        .sum())
}

/// A new revision id.
pub(crate) fn new_revision_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn check_revision(
    record: &FunctionRecord,
    revision_id: Option<&str>,
) -> Result<(), LambdaError> {
    match revision_id {
        Some(revision_id) if revision_id != record.config.revision_id => {
            Err(LambdaError::precondition_failed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ))
        }
        _ => Ok(()),
    }
}

fn check_runtime_available(state: &ApiState, runtime: Runtime) -> Result<(), LambdaError> {
    state
        .catalog
        .resolve(runtime)
        .map(|_| ())
        .map_err(|error| LambdaError::invalid_parameter(error.to_string()))
}

fn required(value: Option<String>, field: &str) -> Result<String, LambdaError> {
    value.ok_or_else(|| {
        LambdaError::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn parse_architectures(list: Option<Vec<String>>) -> Result<Vec<Architecture>, LambdaError> {
    let Some(list) = list else {
        return Ok(vec![Architecture::X86_64]);
    };
    if list.len() != 1 {
        return Err(ValidationError::constraint(
            "architectures",
            &format!("{list:?}"),
            "Member must have length less than or equal to 1",
        )
        .into());
    }
    Ok(vec![Architecture::parse(&list[0])?])
}

/// The dead-letter queue a `DeadLetterConfig` names: an existing standard
/// queue of this server. An empty or missing `TargetArn` means none.
fn dead_letter_target(
    state: &ApiState,
    config: Option<DeadLetterConfigIn>,
) -> Result<Option<String>, LambdaError> {
    match config
        .and_then(|c| c.target_arn)
        .filter(|arn| !arn.is_empty())
    {
        None => Ok(None),
        Some(arn) if arn.split(':').nth(2) == Some("sns") => {
            Err(LambdaError::invalid_parameter(format!(
                "The dead-letter target {arn} is not supported by this server: dead-letter queues must be SQS queues"
            )))
        }
        Some(arn) => checked_queue_target(state, &arn, "dead-letter").map(Some),
    }
}

/// The layer versions a function's `Layers` name, in order, as Lambda
/// checks them: at most five, each an existing version of this server.
fn resolve_layers(state: &ApiState, arns: &[String]) -> Result<Vec<LayerRef>, LambdaError> {
    if arns.len() > LAYERS_PER_FUNCTION_MAX {
        return Err(LambdaError::invalid_parameter(format!(
            "Cannot reference more than {LAYERS_PER_FUNCTION_MAX} layers."
        )));
    }
    let mut layers = Vec::with_capacity(arns.len());
    for arn in arns {
        let Some((name, Some(version))) = parse_layer_arn(&state.region, arn) else {
            return Err(ValidationError::constraint(
                "layers",
                &format!("[{}]", arns.join(", ")),
                "Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+, Member must not be null]",
            )
            .into());
        };
        if layers.iter().any(|l: &LayerRef| {
            parse_layer_arn(&state.region, &l.arn).is_some_and(|(other, _)| other == name)
        }) {
            return Err(LambdaError::invalid_parameter(format!(
                "Two different versions of the same layer are not allowed to be referenced in the same function. {arn} is in the list more than once or with another version."
            )));
        }
        let Some(layer) = state.layers.get_layer_version(&name, version)? else {
            return Err(LambdaError::invalid_parameter(format!(
                "Layer version {arn} does not exist."
            )));
        };
        layers.push(LayerRef {
            arn: arn.clone(),
            code: layer.code,
        });
    }
    Ok(layers)
}

/// The package from `ZipFile`, or read from rayo's object store by
/// `S3Bucket` and `S3Key`, worded as Lambda words S3's failures.
pub(crate) async fn package_bytes(
    state: &ApiState,
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
    s3_object_version: Option<String>,
) -> Result<Vec<u8>, LambdaError> {
    let (bucket, key) = match (zip_file, s3_bucket, s3_key) {
        (Some(zip_file), None, None) => return decode_zip(Some(zip_file)),
        (None, Some(bucket), Some(key)) => (bucket, key),
        (Some(_), _, _) => {
            return Err(LambdaError::invalid_parameter(
                "Please provide only one source for function code: ZipFile, or S3Bucket and S3Key.",
            ));
        }
        (None, None, None) => return decode_zip(None),
        (None, _, _) => {
            return Err(LambdaError::invalid_parameter(
                "Please provide both S3Bucket and S3Key for function code in a bucket.",
            ));
        }
    };
    if s3_object_version.is_some() {
        return Err(LambdaError::invalid_parameter(
            "S3ObjectVersion is not supported by this server: its buckets keep one version of each object",
        ));
    }
    let read = rayo_s3::read_object(
        state.objects.as_ref(),
        state.object_bodies.as_ref(),
        &bucket,
        &key,
    )
    .await;
    read.map_err(|error| match error {
        rayo_s3::ReadObjectError::NoSuchBucket => LambdaError::invalid_parameter(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
        ),
        rayo_s3::ReadObjectError::NoSuchKey => LambdaError::invalid_parameter(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.",
        ),
        other => {
            tracing::error!(error = %other, bucket, key, "reading a package from a bucket failed");
            LambdaError::service("reading the package from its bucket failed")
        }
    })
}

fn decode_zip(zip_file: Option<String>) -> Result<Vec<u8>, LambdaError> {
    let Some(zip_file) = zip_file else {
        return Err(LambdaError::invalid_parameter(
            "Please provide a source for function code.",
        ));
    };
    base64::engine::general_purpose::STANDARD
        .decode(zip_file.as_bytes())
        .map_err(|_| {
            LambdaError::invalid_parameter(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })
}

pub(crate) async fn store_package(state: &ApiState, zip: Vec<u8>) -> Result<CodeRef, LambdaError> {
    let code = state.code.clone();
    let result = tokio::task::spawn_blocking(move || code.put_package(&zip))
        .await
        .map_err(|error| LambdaError::service(format!("storing the package failed: {error}")))?;
    result.map_err(|error| match error {
        PackageError::TooLargeZipped { .. } => {
            LambdaError::too_large(limits::CODE_REQUEST_MAX_BYTES, "CreateFunction")
        }
        PackageError::Io(message) => {
            tracing::error!(%message, "could not store a package");
            LambdaError::service("storing the package failed")
        }
        other => LambdaError::invalid_parameter(other.to_string()),
    })
}

pub(crate) async fn read_code_body(
    body: Body,
    operation: &str,
) -> Result<bytes::Bytes, LambdaError> {
    match read_limited(body, limits::CODE_REQUEST_MAX_BYTES).await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(LambdaError::too_large(
            limits::CODE_REQUEST_MAX_BYTES,
            operation,
        )),
        Err(error) => Err(LambdaError::invalid_content(format!(
            "Could not read the request body: {error}"
        ))),
    }
}

fn function_exists(name: &str) -> LambdaError {
    LambdaError::conflict(format!("Function already exist: {name}"))
}

pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // Stored and printed at millisecond precision.
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond value")
}

pub(crate) fn encode_marker(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

pub(crate) fn decode_marker(marker: &str) -> Result<String, LambdaError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(|| LambdaError::invalid_parameter("Invalid Marker"))
}

/// The scheme and host the client used, for links it can follow.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:4566");
    format!("http://{host}")
}
