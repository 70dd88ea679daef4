//! [`FunctionStore`] on SQLite: a function's row and its `$LATEST` configuration.

use std::collections::BTreeMap;

use rayo_core::function::{
    Architecture, CodeRef, EventInvokeConfig, FunctionConfig, FunctionRecord, LATEST, LayerRef,
    PolicyStatement,
};
use rayo_core::runtime::Runtime;
use rayo_core::store::{FunctionStore, StoreError};
use rayo_core::version::{Alias, ProvisionedConcurrencyConfig, Published};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::{SqliteState, backend, sql_limit};
use crate::versions;

impl FunctionStore for SqliteState {
    fn create_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let row = FunctionRow::from_record(record)?;
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let inserted = transaction
            .prepare_cached(
                "INSERT INTO functions
                     (name, tags, policy, policy_revision_id, created_ms, reserved_concurrency,
                      event_invoke_config)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut statement| {
                // The creation time is the first configuration's.
                statement.execute(params![
                    row.name,
                    row.tags,
                    row.policy,
                    row.policy_revision_id,
                    row.last_modified_ms,
                    row.reserved_concurrency,
                    row.event_invoke_config,
                ])
            })
            .map_err(backend)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(row.name.to_string()));
        }
        insert_latest(&transaction, &row)?;
        self.function_cache.forget(row.name);
        transaction.commit().map_err(backend)
    }

    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        if let Some(record) = self.function_cache.get(name) {
            return Ok(Some(record));
        }
        // The connection stays locked until the record is cached, so a
        // write (which forgets the name under the same lock) cannot slip
        // between the read and the caching.
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!("{SELECT_RECORD} WHERE f.name = ?2"))
            .map_err(backend)?;
        let stored = statement
            .query_row(params![LATEST, name], StoredFunction::from_row)
            .optional()
            .map_err(backend)?;
        let record = stored.map(StoredFunction::into_record).transpose()?;
        if let Some(record) = &record {
            self.function_cache.put(record);
        }
        Ok(record)
    }

    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "{SELECT_RECORD} WHERE ?2 IS NULL OR f.name > ?2 ORDER BY f.name LIMIT ?3"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map(
                params![LATEST, after, sql_limit(limit)],
                StoredFunction::from_row,
            )
            .map_err(backend)?;
        rows.map(|stored| stored.map_err(backend)?.into_record())
            .collect()
    }

    fn update_function(
        &self,
        record: &FunctionRecord,
        expected_revision_id: &str,
        expected_policy_revision_id: &str,
    ) -> Result<(), StoreError> {
        let row = FunctionRow::from_record(record)?;
        let mut connection = self.connection();
        // Immediate (the connection's default), so nothing writes between the
        // check and the update.
        let transaction = connection.transaction().map_err(backend)?;
        let current: Option<(String, String)> = transaction
            .prepare_cached(
                "SELECT v.revision_id, f.policy_revision_id
                 FROM functions f
                 JOIN function_versions v ON v.function_name = f.name AND v.version = ?1
                 WHERE f.name = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![LATEST, row.name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(backend)?;
        let Some((revision_id, policy_revision_id)) = current else {
            return Err(StoreError::NotFound(row.name.to_string()));
        };
        if revision_id != expected_revision_id || policy_revision_id != expected_policy_revision_id
        {
            return Err(StoreError::RevisionConflict(row.name.to_string()));
        }
        transaction
            .prepare_cached(
                "UPDATE functions
                 SET tags = ?2, policy = ?3, policy_revision_id = ?4, reserved_concurrency = ?5,
                     event_invoke_config = ?6
                 WHERE name = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    row.name,
                    row.tags,
                    row.policy,
                    row.policy_revision_id,
                    row.reserved_concurrency,
                    row.event_invoke_config,
                ])
            })
            .map_err(backend)?;
        insert_latest(&transaction, &row)?;
        self.function_cache.forget(row.name);
        transaction.commit().map_err(backend)
    }

    fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        // Versions go with the function (ON DELETE CASCADE); its log group
        // stays, as it does in AWS.
        let connection = self.connection();
        self.function_cache.forget(name);
        // Its function URLs go with it (ON DELETE CASCADE).
        self.trigger_cache.clear();
        let deleted = connection
            .prepare_cached("DELETE FROM functions WHERE name = ?1")
            .and_then(|mut statement| statement.execute([name]))
            .map_err(backend)?;
        Ok(deleted > 0)
    }

    fn referenced_code(&self) -> Result<Vec<String>, StoreError> {
        // Every version counts, not only `$LATEST`: a published version
        // keeps running the code it was published with.
        let connection = self.connection();
        // So do layer versions, and the layers of every function version
        // (which keep running after their layer version is deleted).
        let mut statement = connection
            .prepare_cached(
                "SELECT code_sha256 FROM function_versions
                 UNION
                 SELECT code_sha256 FROM layer_versions
                 UNION
                 SELECT json_extract(l.value, '$.sha256')
                 FROM function_versions v, json_each(v.config, '$.layers') l
                 ORDER BY 1",
            )
            .map_err(backend)?;
        let rows = statement.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.map(|sha| sha.map_err(backend)).collect()
    }

    fn publish_version(
        &self,
        name: &str,
        expected_revision_id: &str,
        description: Option<&str>,
        revision_id: &str,
        published: OffsetDateTime,
    ) -> Result<Published, StoreError> {
        versions::publish_version(
            self,
            name,
            expected_revision_id,
            description,
            revision_id,
            published,
        )
    }

    fn get_version(&self, name: &str, version: &str) -> Result<Option<FunctionConfig>, StoreError> {
        versions::get_version(self, name, version)
    }

    fn list_versions(&self, name: &str) -> Result<Vec<FunctionConfig>, StoreError> {
        versions::list_versions(self, name)
    }

    fn delete_version(&self, name: &str, version: &str) -> Result<bool, StoreError> {
        versions::delete_version(self, name, version)
    }

    fn create_alias(&self, alias: &Alias) -> Result<(), StoreError> {
        versions::create_alias(self, alias)
    }

    fn update_alias(&self, alias: &Alias, expected_revision_id: &str) -> Result<(), StoreError> {
        versions::update_alias(self, alias, expected_revision_id)
    }

    fn get_alias(&self, function_name: &str, name: &str) -> Result<Option<Alias>, StoreError> {
        versions::get_alias(self, function_name, name)
    }

    fn list_aliases(&self, function_name: &str) -> Result<Vec<Alias>, StoreError> {
        versions::list_aliases(self, function_name)
    }

    fn delete_alias(&self, function_name: &str, name: &str) -> Result<bool, StoreError> {
        versions::delete_alias(self, function_name, name)
    }

    fn put_provisioned_concurrency(
        &self,
        config: &ProvisionedConcurrencyConfig,
    ) -> Result<(), StoreError> {
        versions::put_provisioned_concurrency(self, config)
    }

    fn list_provisioned_concurrency(
        &self,
        function_name: Option<&str>,
    ) -> Result<Vec<ProvisionedConcurrencyConfig>, StoreError> {
        versions::list_provisioned_concurrency(self, function_name)
    }

    fn delete_provisioned_concurrency(
        &self,
        function_name: &str,
        qualifier: &str,
    ) -> Result<bool, StoreError> {
        versions::delete_provisioned_concurrency(self, function_name, qualifier)
    }
}

/// The columns of a function record; `?1` is the version to read.
const SELECT_RECORD: &str = "SELECT f.name, f.tags, f.policy, f.policy_revision_id,
        v.version, v.revision_id, v.code_sha256, v.code_size, v.last_modified_ms, v.config,
        f.reserved_concurrency, f.event_invoke_config
    FROM functions f
    JOIN function_versions v ON v.function_name = f.name AND v.version = ?1";

/// Writes the `$LATEST` configuration row, replacing the previous one.
fn insert_latest(transaction: &Transaction<'_>, row: &FunctionRow<'_>) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO function_versions
                (function_name, version, revision_id, code_sha256, code_size, last_modified_ms, config)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (function_name, version) DO UPDATE SET
                revision_id = excluded.revision_id,
                code_sha256 = excluded.code_sha256,
                code_size = excluded.code_size,
                last_modified_ms = excluded.last_modified_ms,
                config = excluded.config",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                row.name,
                LATEST,
                row.revision_id,
                row.code_sha256,
                row.code_size,
                row.last_modified_ms,
                row.config,
            ])
        })
        .map_err(backend)?;
    Ok(())
}

/// A record flattened into column values, ready to bind.
struct FunctionRow<'a> {
    name: &'a str,
    tags: String,
    policy: String,
    policy_revision_id: &'a str,
    revision_id: &'a str,
    code_sha256: &'a str,
    code_size: i64,
    last_modified_ms: i64,
    config: String,
    reserved_concurrency: Option<u32>,
    event_invoke_config: Option<String>,
}

impl<'a> FunctionRow<'a> {
    fn from_record(record: &'a FunctionRecord) -> Result<FunctionRow<'a>, StoreError> {
        let config = &record.config;
        // The store keeps a function's `$LATEST`; published versions will
        // have their own calls.
        if config.version != LATEST {
            return Err(StoreError::Backend(format!(
                "function records hold {LATEST}, not version {} of {}",
                config.version, config.name
            )));
        }
        let document = ConfigDocument::from_config(config, None);
        let policy: Vec<StatementDocument> = record
            .policy
            .iter()
            .map(StatementDocument::from_statement)
            .collect();
        Ok(FunctionRow {
            name: &config.name,
            tags: serde_json::to_string(&record.tags).map_err(backend)?,
            policy: serde_json::to_string(&policy).map_err(backend)?,
            policy_revision_id: &record.policy_revision_id,
            revision_id: &config.revision_id,
            code_sha256: &config.code.sha256_hex,
            code_size: i64::try_from(config.code.size).map_err(backend)?,
            last_modified_ms: unix_ms(config.last_modified),
            config: serde_json::to_string(&document).map_err(backend)?,
            reserved_concurrency: record.reserved_concurrency,
            event_invoke_config: record
                .event_invoke_config
                .as_ref()
                .map(|c| serde_json::to_string(&EventInvokeDocument::from_config(c)))
                .transpose()
                .map_err(backend)?,
        })
    }
}

/// A record's columns as read, before the JSON is parsed.
struct StoredFunction {
    name: String,
    tags: String,
    policy: String,
    policy_revision_id: String,
    version: String,
    revision_id: String,
    code_sha256: String,
    code_size: i64,
    last_modified_ms: i64,
    config: String,
    reserved_concurrency: Option<u32>,
    event_invoke_config: Option<String>,
}

impl StoredFunction {
    /// Reads a row of [`SELECT_RECORD`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredFunction> {
        Ok(StoredFunction {
            name: row.get(0)?,
            tags: row.get(1)?,
            policy: row.get(2)?,
            policy_revision_id: row.get(3)?,
            version: row.get(4)?,
            revision_id: row.get(5)?,
            code_sha256: row.get(6)?,
            code_size: row.get(7)?,
            last_modified_ms: row.get(8)?,
            config: row.get(9)?,
            reserved_concurrency: row.get(10)?,
            event_invoke_config: row.get(11)?,
        })
    }

    fn into_record(self) -> Result<FunctionRecord, StoreError> {
        let name = self.name;
        let unreadable = |what: &str, error: &dyn std::fmt::Display| -> StoreError {
            StoreError::Backend(format!("function {name} has an unreadable {what}: {error}"))
        };
        let tags: BTreeMap<String, String> =
            serde_json::from_str(&self.tags).map_err(|e| unreadable("tag set", &e))?;
        let policy: Vec<StatementDocument> =
            serde_json::from_str(&self.policy).map_err(|e| unreadable("policy", &e))?;
        let event_invoke_config = self
            .event_invoke_config
            .as_deref()
            .map(serde_json::from_str::<EventInvokeDocument>)
            .transpose()
            .map_err(|e| unreadable("event invoke configuration", &e))?
            .map(EventInvokeDocument::into_config);
        let config = version_config(
            &name,
            self.version,
            self.revision_id,
            self.code_sha256,
            self.code_size,
            self.last_modified_ms,
            &self.config,
        )?;
        Ok(FunctionRecord {
            config,
            tags,
            policy: policy
                .into_iter()
                .map(StatementDocument::into_statement)
                .collect(),
            policy_revision_id: self.policy_revision_id,
            reserved_concurrency: self.reserved_concurrency,
            event_invoke_config,
        })
    }
}

/// The JSON kept in `functions.event_invoke_config`.
#[derive(Debug, Serialize, Deserialize)]
struct EventInvokeDocument {
    #[serde(default)]
    maximum_retry_attempts: Option<u32>,
    #[serde(default)]
    maximum_event_age_seconds: Option<u32>,
    #[serde(default)]
    on_success: Option<String>,
    #[serde(default)]
    on_failure: Option<String>,
    #[serde(default)]
    last_modified_ms: i64,
}

impl EventInvokeDocument {
    fn from_config(config: &EventInvokeConfig) -> EventInvokeDocument {
        EventInvokeDocument {
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_event_age_seconds: config.maximum_event_age_seconds,
            on_success: config.on_success.clone(),
            on_failure: config.on_failure.clone(),
            last_modified_ms: config.last_modified_ms,
        }
    }

    fn into_config(self) -> EventInvokeConfig {
        EventInvokeConfig {
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_event_age_seconds: self.maximum_event_age_seconds,
            on_success: self.on_success,
            on_failure: self.on_failure,
            last_modified_ms: self.last_modified_ms,
        }
    }
}

/// The JSON kept in `function_versions.config`: the configuration fields that
/// are not columns. Fields added later need `#[serde(default)]` so rows
/// written before them still read; unknown fields are ignored so an older
/// rayo reads rows a newer one wrote.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ConfigDocument {
    runtime: String,
    handler: String,
    role: String,
    #[serde(default)]
    description: String,
    memory_size: u32,
    timeout: u32,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    architectures: Vec<String>,
    ephemeral_storage_mb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_letter_target_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    layers: Vec<LayerDocument>,
    /// On a published version: the `$LATEST` revision it was published
    /// from, so that publishing an unchanged `$LATEST` again is noticed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_from: Option<String>,
}

/// A layer in [`ConfigDocument::layers`].
#[derive(Debug, Serialize, Deserialize)]
struct LayerDocument {
    arn: String,
    sha256: String,
    size: u64,
}

impl ConfigDocument {
    pub(crate) fn from_config(
        config: &FunctionConfig,
        published_from: Option<String>,
    ) -> ConfigDocument {
        ConfigDocument {
            runtime: config.runtime.to_string(),
            handler: config.handler.clone(),
            role: config.role.clone(),
            description: config.description.clone(),
            memory_size: config.memory_size,
            timeout: config.timeout,
            environment: config.environment.clone(),
            architectures: config
                .architectures
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            ephemeral_storage_mb: config.ephemeral_storage_mb,
            dead_letter_target_arn: config.dead_letter_target_arn.clone(),
            layers: config
                .layers
                .iter()
                .map(|layer| LayerDocument {
                    arn: layer.arn.clone(),
                    sha256: layer.code.sha256_hex.clone(),
                    size: layer.code.size,
                })
                .collect(),
            published_from,
        }
    }
}

/// A configuration from a `function_versions` row's columns.
pub(crate) fn version_config(
    name: &str,
    version: String,
    revision_id: String,
    code_sha256: String,
    code_size: i64,
    last_modified_ms: i64,
    config: &str,
) -> Result<FunctionConfig, StoreError> {
    let unreadable = |what: &str, error: &dyn std::fmt::Display| -> StoreError {
        StoreError::Backend(format!(
            "version {version} of function {name} has an unreadable {what}: {error}"
        ))
    };
    let document: ConfigDocument =
        serde_json::from_str(config).map_err(|e| unreadable("configuration", &e))?;
    let runtime = Runtime::parse(&document.runtime).map_err(|e| unreadable("runtime", &e))?;
    let architectures = document
        .architectures
        .iter()
        .map(|a| Architecture::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable("architecture", &e))?;
    let last_modified =
        from_unix_ms(last_modified_ms).map_err(|e| unreadable("last modified time", &e))?;
    let code_size = u64::try_from(code_size).map_err(|e| unreadable("code size", &e))?;
    Ok(FunctionConfig {
        name: name.to_string(),
        version,
        runtime,
        handler: document.handler,
        role: document.role,
        description: document.description,
        memory_size: document.memory_size,
        timeout: document.timeout,
        environment: document.environment,
        architectures,
        ephemeral_storage_mb: document.ephemeral_storage_mb,
        dead_letter_target_arn: document.dead_letter_target_arn,
        code: CodeRef {
            sha256_hex: code_sha256,
            size: code_size,
        },
        layers: document
            .layers
            .into_iter()
            .map(|layer| LayerRef {
                arn: layer.arn,
                code: CodeRef {
                    sha256_hex: layer.sha256,
                    size: layer.size,
                },
            })
            .collect(),
        last_modified,
        revision_id,
    })
}

/// The `$LATEST` revision a published version's stored configuration was
/// published from.
pub(crate) fn published_from(config: &str) -> Option<String> {
    serde_json::from_str::<ConfigDocument>(config)
        .ok()
        .and_then(|document| document.published_from)
}

/// One policy statement as kept in `functions.policy`.
#[derive(Debug, Serialize, Deserialize)]
struct StatementDocument {
    statement_id: String,
    action: String,
    principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal_org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function_url_auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_source_token: Option<String>,
}

impl StatementDocument {
    fn from_statement(statement: &PolicyStatement) -> StatementDocument {
        StatementDocument {
            statement_id: statement.statement_id.clone(),
            action: statement.action.clone(),
            principal: statement.principal.clone(),
            source_arn: statement.source_arn.clone(),
            source_account: statement.source_account.clone(),
            principal_org_id: statement.principal_org_id.clone(),
            function_url_auth_type: statement.function_url_auth_type.clone(),
            event_source_token: statement.event_source_token.clone(),
        }
    }

    fn into_statement(self) -> PolicyStatement {
        PolicyStatement {
            statement_id: self.statement_id,
            action: self.action,
            principal: self.principal,
            source_arn: self.source_arn,
            source_account: self.source_account,
            principal_org_id: self.principal_org_id,
            function_url_auth_type: self.function_url_auth_type,
            event_source_token: self.event_source_token,
        }
    }
}

/// Milliseconds since the epoch, rounded down: the API prints milliseconds,
/// so finer precision is not kept.
pub(crate) fn unix_ms(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos().div_euclid(1_000_000))
        .expect("OffsetDateTime's range fits in i64 milliseconds")
}

/// The UTC time `ms` milliseconds after the epoch.
pub(crate) fn from_unix_ms(ms: i64) -> Result<OffsetDateTime, time::error::ComponentRange> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
}

#[cfg(test)]
pub(crate) mod tests {
    use rayo_core::logs::{LogEvent, LogQuery};
    use rayo_core::store::LogStore;
    use time::macros::datetime;

    use super::*;

    /// A minimal valid record named `name`.
    pub(crate) fn record(name: &str) -> FunctionRecord {
        FunctionRecord {
            config: FunctionConfig {
                name: name.to_string(),
                version: LATEST.to_string(),
                runtime: Runtime::Python { minor: 12 },
                handler: "app.handler".to_string(),
                role: "arn:aws:iam::000000000000:role/lambda-role".to_string(),
                description: String::new(),
                memory_size: 128,
                timeout: 3,
                environment: BTreeMap::new(),
                architectures: vec![Architecture::X86_64],
                ephemeral_storage_mb: 512,
                dead_letter_target_arn: None,
                code: CodeRef {
                    sha256_hex: format!("sha-of-{name}"),
                    size: 100,
                },
                layers: Vec::new(),
                last_modified: datetime!(2024-01-01 00:00:00.000 UTC),
                revision_id: format!("rev-{name}-1"),
            },
            tags: BTreeMap::new(),
            policy: Vec::new(),
            policy_revision_id: format!("policy-rev-{name}-1"),
            reserved_concurrency: None,
            event_invoke_config: None,
        }
    }

    /// A record with every field set to something other than its default.
    fn full_record() -> FunctionRecord {
        let strings = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        FunctionRecord {
            config: FunctionConfig {
                name: "full".to_string(),
                version: LATEST.to_string(),
                runtime: Runtime::ProvidedAl2023,
                handler: "bootstrap".to_string(),
                role: "arn:aws:iam::123456789012:role/service-role/x".to_string(),
                description: "a \"quoted\" description, with ünïcode ✓".to_string(),
                memory_size: 10_240,
                timeout: 900,
                environment: strings(&[
                    ("GREETING", "hello"),
                    ("EMPTY", ""),
                    ("JSON", "{\"a\":1}"),
                ]),
                architectures: vec![Architecture::Arm64, Architecture::X86_64],
                ephemeral_storage_mb: 10_240,
                dead_letter_target_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".to_string()),
                code: CodeRef {
                    sha256_hex: "ab".repeat(32),
                    size: 50 * 1024 * 1024,
                },
                layers: vec![LayerRef {
                    arn: "arn:aws:lambda:us-east-1:123456789012:layer:numpy:3".to_string(),
                    code: CodeRef {
                        sha256_hex: "cd".repeat(32),
                        size: 1234,
                    },
                }],
                last_modified: datetime!(2025-06-30 23:59:59.999 UTC),
                revision_id: "0b5f3a4e-6c1d-4f1e-9a7b-2d6c8e9f0a1b".to_string(),
            },
            tags: strings(&[("team", "platform"), ("cost-center", "42"), ("empty", "")]),
            policy: vec![
                PolicyStatement {
                    statement_id: "all-conditions".to_string(),
                    action: "lambda:InvokeFunction".to_string(),
                    principal: "s3.amazonaws.com".to_string(),
                    source_arn: Some("arn:aws:s3:::bucket".to_string()),
                    source_account: Some("123456789012".to_string()),
                    principal_org_id: Some("o-abc123".to_string()),
                    function_url_auth_type: Some("NONE".to_string()),
                    event_source_token: Some("token".to_string()),
                },
                PolicyStatement {
                    statement_id: "no-conditions".to_string(),
                    action: "lambda:InvokeFunctionUrl".to_string(),
                    principal: "*".to_string(),
                    source_arn: None,
                    source_account: None,
                    principal_org_id: None,
                    function_url_auth_type: None,
                    event_source_token: None,
                },
            ],
            policy_revision_id: "policy-rev".to_string(),
            reserved_concurrency: Some(7),
            event_invoke_config: Some(EventInvokeConfig {
                maximum_retry_attempts: Some(1),
                maximum_event_age_seconds: Some(120),
                on_success: None,
                on_failure: Some("arn:aws:lambda:us-east-1:000000000000:function:dlq".to_string()),
                last_modified_ms: 1_700_000_000_123,
            }),
        }
    }

    fn state() -> SqliteState {
        SqliteState::open_in_memory().unwrap()
    }

    fn names(records: &[FunctionRecord]) -> Vec<&str> {
        records.iter().map(|r| r.config.name.as_str()).collect()
    }

    #[test]
    fn every_field_round_trips() {
        let state = state();
        for record in [record("minimal"), full_record()] {
            state.create_function(&record).unwrap();
            let name = &record.config.name;
            assert_eq!(state.get_function(name).unwrap().as_ref(), Some(&record));
        }
    }

    #[test]
    fn runtimes_and_architectures_round_trip() {
        let state = state();
        let runtimes = [
            Runtime::Python { minor: 9 },
            Runtime::Python { minor: 14 },
            Runtime::ProvidedAl2023,
            Runtime::ProvidedAl2,
            Runtime::Provided,
        ];
        for (idx, runtime) in runtimes.into_iter().enumerate() {
            let mut function = record(&format!("f{idx}"));
            function.config.runtime = runtime;
            function.config.architectures = vec![Architecture::Arm64];
            state.create_function(&function).unwrap();
            assert_eq!(
                state.get_function(&function.config.name).unwrap(),
                Some(function)
            );
        }
    }

    #[test]
    fn last_modified_keeps_milliseconds() {
        fn check(input: OffsetDateTime, expected: OffsetDateTime) {
            let state = state();
            let mut function = record("f");
            function.config.last_modified = input;
            state.create_function(&function).unwrap();
            let stored = state
                .get_function("f")
                .unwrap()
                .unwrap()
                .config
                .last_modified;
            assert_eq!(stored, expected, "input: {input}");
            assert_eq!(stored.offset(), time::UtcOffset::UTC, "input: {input}");
        }
        check(
            datetime!(2024-01-01 00:00:00.000 UTC),
            datetime!(2024-01-01 00:00:00.000 UTC),
        );
        check(
            datetime!(2024-02-29 12:34:56.789 UTC),
            datetime!(2024-02-29 12:34:56.789 UTC),
        );
        check(
            datetime!(2024-01-01 00:00:00.123_999 UTC),
            datetime!(2024-01-01 00:00:00.123 UTC),
        );
        check(
            datetime!(2024-01-01 02:00:00.5 +02:00),
            datetime!(2024-01-01 00:00:00.5 UTC),
        );
        check(
            datetime!(1969-12-31 23:59:59.999_5 UTC),
            datetime!(1969-12-31 23:59:59.999 UTC),
        );
    }

    #[test]
    fn create_refuses_an_existing_name() {
        let state = state();
        state.create_function(&record("f")).unwrap();
        let mut other = record("f");
        other.config.handler = "other.handler".to_string();
        let error = state.create_function(&other).unwrap_err();
        assert!(
            matches!(&error, StoreError::AlreadyExists(name) if name == "f"),
            "{error:?}"
        );
        assert_eq!(state.get_function("f").unwrap(), Some(record("f")));
        // Names are case-sensitive, as in AWS.
        state.create_function(&record("F")).unwrap();
    }

    #[test]
    fn refuses_records_of_published_versions() {
        let state = state();
        let mut function = record("f");
        function.config.version = "1".to_string();
        assert!(matches!(
            state.create_function(&function),
            Err(StoreError::Backend(_))
        ));
        assert_eq!(state.get_function("f").unwrap(), None);
    }

    #[test]
    fn list_pages_by_name() {
        let state = state();
        for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
            state.create_function(&record(name)).unwrap();
        }
        let check = |after: Option<&str>, limit: usize, expected: &[&str]| {
            let listed = state.list_functions(after, limit).unwrap();
            assert_eq!(names(&listed), expected, "after {after:?}, limit {limit}");
        };
        check(None, 50, &["alpha", "bravo", "charlie", "delta", "echo"]);
        check(None, 2, &["alpha", "bravo"]);
        check(Some("bravo"), 2, &["charlie", "delta"]);
        check(Some("delta"), 2, &["echo"]);
        check(Some("echo"), 2, &[]);
        check(Some("b"), 1, &["bravo"]);
        check(Some("zulu"), 10, &[]);
        check(None, 0, &[]);
        check(
            None,
            usize::MAX,
            &["alpha", "bravo", "charlie", "delta", "echo"],
        );
        assert_eq!(
            state.list_functions(None, 1).unwrap(),
            vec![record("alpha")]
        );
    }

    #[test]
    fn update_compares_both_revisions() {
        enum Outcome {
            Updated,
            Conflict,
            NotFound,
        }
        let check = |name: &str, revision: &str, policy_revision: &str, expected: Outcome| {
            let state = state();
            state.create_function(&record("f")).unwrap();
            let mut updated = full_record();
            updated.config.name = name.to_string();
            let result = state.update_function(&updated, revision, policy_revision);
            let stored = state.get_function("f").unwrap().unwrap();
            let context = format!("{name} {revision} {policy_revision}: {result:?}");
            match expected {
                Outcome::Updated => {
                    assert!(result.is_ok(), "{context}");
                    assert_eq!(stored, updated, "{context}");
                }
                Outcome::Conflict => {
                    assert!(
                        matches!(&result, Err(StoreError::RevisionConflict(n)) if n == name),
                        "{context}"
                    );
                    assert_eq!(stored, record("f"), "{context}");
                }
                Outcome::NotFound => {
                    assert!(
                        matches!(&result, Err(StoreError::NotFound(n)) if n == name),
                        "{context}"
                    );
                    assert_eq!(stored, record("f"), "{context}");
                }
            }
        };
        check("f", "rev-f-1", "policy-rev-f-1", Outcome::Updated);
        check("f", "rev-f-0", "policy-rev-f-1", Outcome::Conflict);
        check("f", "rev-f-1", "policy-rev-f-0", Outcome::Conflict);
        check("f", "rev-f-0", "policy-rev-f-0", Outcome::Conflict);
        check("g", "rev-f-1", "policy-rev-f-1", Outcome::NotFound);
    }

    #[test]
    fn updates_chain_on_the_new_revisions() {
        let state = state();
        state.create_function(&record("f")).unwrap();
        let mut second = record("f");
        second.config.revision_id = "rev-2".to_string();
        second.config.memory_size = 256;
        state
            .update_function(&second, "rev-f-1", "policy-rev-f-1")
            .unwrap();
        let mut third = second.clone();
        third.policy_revision_id = "policy-rev-2".to_string();
        third.policy = full_record().policy;
        assert!(matches!(
            state.update_function(&third, "rev-f-1", "policy-rev-f-1"),
            Err(StoreError::RevisionConflict(_))
        ));
        state
            .update_function(&third, "rev-2", "policy-rev-f-1")
            .unwrap();
        assert_eq!(state.get_function("f").unwrap(), Some(third));
    }

    #[test]
    fn delete_removes_the_function_but_not_its_logs() {
        let state = state();
        state.create_function(&record("f")).unwrap();
        state.create_function(&record("g")).unwrap();
        let events = [LogEvent {
            timestamp_ms: 1,
            message: "line".to_string(),
        }];
        state
            .put_log_events("/aws/lambda/f", "s", events.to_vec())
            .unwrap();
        assert!(state.delete_function("f").unwrap());
        assert!(!state.delete_function("f").unwrap());
        assert_eq!(state.get_function("f").unwrap(), None);
        assert_eq!(names(&state.list_functions(None, 10).unwrap()), ["g"]);
        let query = LogQuery {
            limit: 10,
            ..LogQuery::default()
        };
        assert_eq!(
            state
                .query_log_events("/aws/lambda/f", &query)
                .unwrap()
                .len(),
            1
        );
        // The name is free again.
        state.create_function(&record("f")).unwrap();
    }

    #[test]
    fn referenced_code_is_distinct_and_sorted() {
        let state = state();
        assert!(state.referenced_code().unwrap().is_empty());
        for (name, sha) in [("a", "sha-2"), ("b", "sha-1"), ("c", "sha-2")] {
            let mut function = record(name);
            function.config.code.sha256_hex = sha.to_string();
            state.create_function(&function).unwrap();
        }
        assert_eq!(state.referenced_code().unwrap(), ["sha-1", "sha-2"]);
        state.delete_function("b").unwrap();
        assert_eq!(state.referenced_code().unwrap(), ["sha-2"]);
    }

    #[test]
    fn reads_documents_with_missing_and_unknown_fields() {
        // A row as an older rayo (fewer fields) or a newer one (more) wrote it.
        let state = state();
        state.create_function(&record("f")).unwrap();
        state
            .connection()
            .execute(
                "UPDATE function_versions SET config = ?1",
                [r#"{"runtime":"python3.12","handler":"app.handler",
                    "role":"arn:aws:iam::000000000000:role/lambda-role",
                    "memory_size":128,"timeout":3,"architectures":["x86_64"],
                    "ephemeral_storage_mb":512,"snap_start":{"apply_on":"None"}}"#],
            )
            .unwrap();
        assert_eq!(state.get_function("f").unwrap(), Some(record("f")));
    }
}
