//! Wire shapes of the Lambda API, converted by hand from and to `core` types.

use std::collections::BTreeMap;

use base64::Engine;
use rayo_core::logs::function_log_group;
use rayo_core::{FunctionConfig, Region};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::LambdaError;

/// `Environment` in requests.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnvironmentIn {
    #[serde(default)]
    pub(crate) variables: Option<BTreeMap<String, String>>,
}

/// `EphemeralStorage` in requests.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EphemeralStorageIn {
    pub(crate) size: i64,
}

/// `DeadLetterConfig` in requests; an empty `TargetArn` removes it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeadLetterConfigIn {
    pub(crate) target_arn: Option<String>,
}

/// `Code` in CreateFunction.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionCodeIn {
    pub(crate) zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub(crate) s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub(crate) s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub(crate) s3_object_version: Option<String>,
    pub(crate) image_uri: Option<String>,
}

/// The body of CreateFunction.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateFunctionIn {
    pub(crate) function_name: Option<String>,
    pub(crate) runtime: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) handler: Option<String>,
    pub(crate) code: Option<FunctionCodeIn>,
    pub(crate) description: Option<String>,
    pub(crate) timeout: Option<i64>,
    pub(crate) memory_size: Option<i64>,
    pub(crate) environment: Option<EnvironmentIn>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    pub(crate) architectures: Option<Vec<String>>,
    pub(crate) ephemeral_storage: Option<EphemeralStorageIn>,
    pub(crate) package_type: Option<String>,
    pub(crate) layers: Option<Vec<String>>,
    pub(crate) dead_letter_config: Option<DeadLetterConfigIn>,
    pub(crate) publish: Option<bool>,
}

/// The body of UpdateFunctionCode.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateFunctionCodeIn {
    pub(crate) zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub(crate) s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub(crate) s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub(crate) s3_object_version: Option<String>,
    pub(crate) image_uri: Option<String>,
    pub(crate) revision_id: Option<String>,
    pub(crate) dry_run: Option<bool>,
    pub(crate) architectures: Option<Vec<String>>,
    pub(crate) publish: Option<bool>,
}

/// The body of UpdateFunctionConfiguration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateFunctionConfigurationIn {
    pub(crate) role: Option<String>,
    pub(crate) handler: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) timeout: Option<i64>,
    pub(crate) memory_size: Option<i64>,
    pub(crate) environment: Option<EnvironmentIn>,
    pub(crate) runtime: Option<String>,
    pub(crate) ephemeral_storage: Option<EphemeralStorageIn>,
    pub(crate) revision_id: Option<String>,
    pub(crate) layers: Option<Vec<String>>,
    pub(crate) dead_letter_config: Option<DeadLetterConfigIn>,
    pub(crate) publish: Option<bool>,
}

/// The body of AddPermission.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddPermissionIn {
    pub(crate) statement_id: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) principal: Option<String>,
    pub(crate) source_arn: Option<String>,
    pub(crate) source_account: Option<String>,
    pub(crate) event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    pub(crate) principal_org_id: Option<String>,
    pub(crate) function_url_auth_type: Option<String>,
    pub(crate) revision_id: Option<String>,
}

/// The body of TagResource.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagResourceIn {
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// `GetFunction`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetFunctionOut {
    pub(crate) configuration: Value,
    pub(crate) code: CodeLocationOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) concurrency: Option<Value>,
}

/// `Code` in GetFunction's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CodeLocationOut {
    pub(crate) repository_type: &'static str,
    pub(crate) location: String,
}

/// Parses a JSON request body, answering malformed ones as Lambda does.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LambdaError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|error| {
        LambdaError::invalid_content(format!("Could not parse request body into json: {error}"))
    })
}

/// The `FunctionConfiguration` shape: a published version's ARN names it,
/// `$LATEST`'s does not.
pub(crate) fn function_configuration(region: &Region, config: &FunctionConfig) -> Value {
    let arn = if config.version == rayo_core::LATEST {
        region.function_arn(&config.name)
    } else {
        region.qualified_function_arn(&config.name, &config.version)
    };
    function_configuration_as(region, config, &arn)
}

/// The `FunctionConfiguration` shape with `FunctionArn` as given.
pub(crate) fn function_configuration_as(
    region: &Region,
    config: &FunctionConfig,
    function_arn: &str,
) -> Value {
    let code_sha256 = code_sha256_base64(&config.code.sha256_hex);
    let mut out = json!({
        "FunctionName": config.name,
        "FunctionArn": function_arn,
        "Runtime": config.runtime.to_string(),
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code.size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": last_modified(config.last_modified),
        "CodeSha256": code_sha256,
        "Version": config.version,
        "TracingConfig": { "Mode": "PassThrough" },
        "RevisionId": config.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": config.architectures.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "EphemeralStorage": { "Size": config.ephemeral_storage_mb },
        "SnapStart": { "ApplyOn": "None", "OptimizationStatus": "Off" },
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": format!("arn:aws:lambda:{}::runtime:rayo-{}", region.name, config.runtime)
        },
        "LoggingConfig": { "LogFormat": "Text", "LogGroup": function_log_group(&config.name) },
    });
    if !config.environment.is_empty() {
        out["Environment"] = json!({ "Variables": config.environment });
    }
    if let Some(target_arn) = &config.dead_letter_target_arn {
        out["DeadLetterConfig"] = json!({ "TargetArn": target_arn });
    }
    if !config.layers.is_empty() {
        out["Layers"] = config
            .layers
            .iter()
            .map(|layer| json!({ "Arn": layer.arn, "CodeSize": layer.code.size }))
            .collect();
    }
    out
}

/// `CodeSha256` as Lambda prints it: the base64 of the raw digest.
pub(crate) fn code_sha256_base64(sha256_hex: &str) -> String {
    hex::decode(sha256_hex)
        .map(|raw| base64::engine::general_purpose::STANDARD.encode(raw))
        .unwrap_or_default()
}

/// `LastModified` as Lambda prints it: `2024-01-02T03:04:05.678+0000`.
pub(crate) fn last_modified(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_format() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.678 UTC);
        assert_eq!(last_modified(at), "2026-01-02T03:04:05.678+0000");
    }
}
