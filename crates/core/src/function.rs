//! A function's configuration, its code reference, tags and resource policy.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::limits;
use crate::runtime::Runtime;
use crate::validation::ValidationError;

/// The unpublished version every function has.
pub const LATEST: &str = "$LATEST";

/// Instruction set a function is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `x86_64`, the default.
    X86_64,
    /// `arm64`.
    Arm64,
}

impl Architecture {
    /// Parses `x86_64` or `arm64`.
    pub fn parse(s: &str) -> Result<Architecture, ValidationError> {
        match s {
            "x86_64" => Ok(Architecture::X86_64),
            "arm64" => Ok(Architecture::Arm64),
            _ => Err(ValidationError::constraint(
                "architectures",
                &format!("[{s}]"),
                "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            )),
        }
    }

    /// The name as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// The deployment package a function version runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRef {
    /// SHA-256 of the zip, lowercase hex; also its key in the code store.
    pub sha256_hex: String,
    /// Size of the zip in bytes.
    pub size: u64,
}

/// A layer version a function uses: its ARN and its archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// The layer version's ARN (`arn:aws:lambda:…:layer:<name>:<version>`).
    pub arn: String,
    /// The archive, kept in the code store like a function's package.
    pub code: CodeRef,
}

/// Everything `GetFunctionConfiguration` describes about one function version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// The function's name.
    pub name: String,
    /// `$LATEST` or a published version number.
    pub version: String,
    /// The runtime it asked for.
    pub runtime: Runtime,
    /// `module.function` for Python; free-form for provided runtimes.
    pub handler: String,
    /// Execution role ARN, kept as given.
    pub role: String,
    /// Free-form description.
    pub description: String,
    /// Memory in MB.
    pub memory_size: u32,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Instruction sets, kept as given.
    pub architectures: Vec<Architecture>,
    /// Size of `/tmp` in MB.
    pub ephemeral_storage_mb: u32,
    /// Where asynchronous events go when every attempt failed
    /// (`DeadLetterConfig.TargetArn`, an SQS queue's ARN).
    pub dead_letter_target_arn: Option<String>,
    /// The code package.
    pub code: CodeRef,
    /// Layers merged into `/opt`, in order: a later layer's files replace
    /// an earlier one's.
    pub layers: Vec<LayerRef>,
    /// When the configuration or code last changed.
    pub last_modified: OffsetDateTime,
    /// Changes on every update; used for optimistic concurrency.
    pub revision_id: String,
}

/// One statement of a function's resource-based policy, as AddPermission adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    /// The statement id (`Sid`).
    pub statement_id: String,
    /// The action allowed, such as `lambda:InvokeFunction`.
    pub action: String,
    /// A service principal (`s3.amazonaws.com`), an account id or `*`.
    pub principal: String,
    /// Condition: the ARN of the resource that may invoke.
    pub source_arn: Option<String>,
    /// Condition: the account that owns the source.
    pub source_account: Option<String>,
    /// Condition: the organization of the principal.
    pub principal_org_id: Option<String>,
    /// Condition: the auth type of a function URL.
    pub function_url_auth_type: Option<String>,
    /// Condition: an Alexa skill's event source token.
    pub event_source_token: Option<String>,
}

/// A stored function: its `$LATEST` configuration, tags and resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRecord {
    /// The configuration of `$LATEST`.
    pub config: FunctionConfig,
    /// Tags on the function.
    pub tags: BTreeMap<String, String>,
    /// Resource-based policy statements.
    pub policy: Vec<PolicyStatement>,
    /// Changes with every policy change; `GetPolicy` reports it.
    pub policy_revision_id: String,
    /// Concurrent executions reserved for (and limiting) this function.
    pub reserved_concurrency: Option<u32>,
    /// How asynchronous invocations are retried and where their results go.
    pub event_invoke_config: Option<EventInvokeConfig>,
}

/// A function's asynchronous invocation settings (PutFunctionEventInvokeConfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeConfig {
    /// Retries after a function error, 0–2; Lambda's default (2) when unset.
    pub maximum_retry_attempts: Option<u32>,
    /// Maximum age of an event in seconds, 60–21600; six hours when unset.
    pub maximum_event_age_seconds: Option<u32>,
    /// Where records of successful invocations go (an ARN).
    pub on_success: Option<String>,
    /// Where records of failed invocations go (an ARN).
    pub on_failure: Option<String>,
    /// When the settings last changed, in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

/// Checks a memory size in MB.
pub fn validate_memory_size(memory_size: i64) -> Result<u32, ValidationError> {
    if memory_size < i64::from(limits::MEMORY_SIZE_MIN_MB) {
        return Err(ValidationError::constraint(
            "memorySize",
            &memory_size.to_string(),
            "Member must have value greater than or equal to 128",
        ));
    }
    if memory_size > i64::from(limits::MEMORY_SIZE_MAX_MB) {
        return Err(ValidationError::constraint(
            "memorySize",
            &memory_size.to_string(),
            "Member must have value less than or equal to 10240",
        ));
    }
    Ok(memory_size as u32)
}

/// Checks a timeout in seconds.
pub fn validate_timeout(timeout: i64) -> Result<u32, ValidationError> {
    if timeout < i64::from(limits::TIMEOUT_MIN_SECONDS) {
        return Err(ValidationError::constraint(
            "timeout",
            &timeout.to_string(),
            "Member must have value greater than or equal to 1",
        ));
    }
    if timeout > i64::from(limits::TIMEOUT_MAX_SECONDS) {
        return Err(ValidationError::constraint(
            "timeout",
            &timeout.to_string(),
            "Member must have value less than or equal to 900",
        ));
    }
    Ok(timeout as u32)
}

/// Checks an ephemeral storage size in MB.
pub fn validate_ephemeral_storage(size: i64) -> Result<u32, ValidationError> {
    if !(i64::from(limits::EPHEMERAL_STORAGE_MIN_MB)..=i64::from(limits::EPHEMERAL_STORAGE_MAX_MB))
        .contains(&size)
    {
        return Err(ValidationError::constraint(
            "ephemeralStorage.size",
            &size.to_string(),
            "Member must have value between 512 and 10240",
        ));
    }
    Ok(size as u32)
}

/// Checks a description.
pub fn validate_description(description: &str) -> Result<(), ValidationError> {
    if description.chars().count() > limits::DESCRIPTION_MAX_CHARS {
        return Err(ValidationError::constraint(
            "description",
            description,
            "Member must have length less than or equal to 256",
        ));
    }
    Ok(())
}

/// Keys Lambda sets itself and refuses in a function's environment.
const RESERVED_ENVIRONMENT_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Checks environment variables: names, reserved keys and the 4 KB limit.
pub fn validate_environment(variables: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    for key in variables.keys() {
        let valid_name = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(ValidationError::constraint(
                "environment.variables",
                key,
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            ));
        }
        if RESERVED_ENVIRONMENT_KEYS.contains(&key.as_str()) {
            return Err(ValidationError::invalid(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {key}"
            )));
        }
    }
    // AWS measures the variables as the JSON object it stores.
    let measured: usize = variables
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum::<usize>()
        + 2;
    if measured > limits::ENVIRONMENT_MAX_BYTES {
        return Err(ValidationError::invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured} bytes"
        )));
    }
    Ok(())
}

/// Checks a handler string for the given runtime.
pub fn validate_handler(handler: &str, runtime: Runtime) -> Result<(), ValidationError> {
    if handler.is_empty() || handler.len() > 128 || handler.chars().any(char::is_whitespace) {
        return Err(ValidationError::constraint(
            "handler",
            handler,
            "Member must satisfy regular expression pattern: [^\\s]+",
        ));
    }
    if matches!(runtime, Runtime::Python { .. }) && !handler.contains('.') {
        return Err(ValidationError::invalid(format!(
            "Handler '{handler}' must be of the form module.function (for example lambda_function.lambda_handler)"
        )));
    }
    Ok(())
}

/// Checks a role ARN's shape as Lambda does; its permissions are not checked.
pub fn validate_role(role: &str) -> Result<(), ValidationError> {
    let valid = role.starts_with("arn:aws")
        && role.split(':').count() == 6
        && role.split(':').nth(2) == Some("iam")
        && role
            .split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("role/") && r.len() > 5);
    if !valid {
        return Err(ValidationError::constraint(
            "role",
            role,
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
        ));
    }
    Ok(())
}

/// Checks a set of tags.
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if tags.len() > limits::TAGS_MAX {
        return Err(ValidationError::invalid(format!(
            "Number of tags exceeds resource tag limit of {}",
            limits::TAGS_MAX
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || key.starts_with("aws:") {
            return Err(ValidationError::invalid(format!("Invalid tag key: {key}")));
        }
        if value.chars().count() > 256 {
            return Err(ValidationError::invalid(format!(
                "Invalid tag value: {value}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_timeout_bounds() {
        assert!(validate_memory_size(127).is_err());
        assert_eq!(validate_memory_size(128), Ok(128));
        assert_eq!(validate_memory_size(10240), Ok(10240));
        assert!(validate_memory_size(10241).is_err());
        assert!(validate_timeout(0).is_err());
        assert_eq!(validate_timeout(900), Ok(900));
        assert!(validate_timeout(901).is_err());
    }

    #[test]
    fn environment_limits() {
        let mut env = BTreeMap::new();
        env.insert("GREETING".to_string(), "hello".to_string());
        assert!(validate_environment(&env).is_ok());
        env.insert("BIG".to_string(), "x".repeat(4096));
        assert!(validate_environment(&env).is_err());
        let mut env = BTreeMap::new();
        env.insert("AWS_REGION".to_string(), "x".to_string());
        assert!(validate_environment(&env).is_err());
        let mut env = BTreeMap::new();
        env.insert("1BAD".to_string(), "x".to_string());
        assert!(validate_environment(&env).is_err());
    }

    #[test]
    fn handlers() {
        let python = Runtime::Python { minor: 12 };
        assert!(validate_handler("app.handler", python).is_ok());
        assert!(validate_handler("pkg/mod.handler", python).is_ok());
        assert!(validate_handler("handler", python).is_err());
        assert!(validate_handler("bootstrap", Runtime::ProvidedAl2023).is_ok());
        assert!(validate_handler("a b", Runtime::ProvidedAl2023).is_err());
    }

    #[test]
    fn roles() {
        assert!(validate_role("arn:aws:iam::000000000000:role/lambda-role").is_ok());
        assert!(validate_role("lambda-role").is_err());
    }
}
