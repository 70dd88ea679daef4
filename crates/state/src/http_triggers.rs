//! [`HttpTriggerStore`] on SQLite: function URLs, and HTTP APIs with their
//! integrations, routes and stages.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rayo_core::http_trigger::{
    Cors, FunctionUrlAuthType, FunctionUrlConfig, HttpApi, Integration, InvokeMode,
    PayloadFormatVersion, Route, Stage,
};
use rayo_core::store::{HttpTriggerStore, StoreError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::db::{SqliteState, backend};

impl HttpTriggerStore for SqliteState {
    fn create_function_url(&self, config: &FunctionUrlConfig) -> Result<(), StoreError> {
        let document = to_json(&UrlDocument::from_config(config))?;
        self.trigger_writer()
            .prepare_cached(
                "INSERT INTO function_urls
                     (function_name, qualifier, url_id, created_ms, last_modified_ms, config)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    config.function_name,
                    config.qualifier.as_deref().unwrap_or(""),
                    config.url_id,
                    config.created_ms,
                    config.last_modified_ms,
                    document,
                ])
            })
            .map_err(|error| match error.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation)
                    if error.to_string().contains("FOREIGN KEY") =>
                {
                    StoreError::NotFound(config.function_name.clone())
                }
                Some(ErrorCode::ConstraintViolation) => {
                    StoreError::AlreadyExists(config.function_name.clone())
                }
                _ => backend(error),
            })?;
        Ok(())
    }

    fn get_function_url(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<Option<FunctionUrlConfig>, StoreError> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT {URL_COLUMNS} FROM function_urls WHERE function_name = ?1 AND qualifier = ?2"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![function_name, qualifier.unwrap_or("")], url_row)
                    .optional()
            })
            .map_err(backend)?
            .map(StoredUrl::into_config)
            .transpose()
    }

    fn function_url_by_id(&self, url_id: &str) -> Result<Option<FunctionUrlConfig>, StoreError> {
        if let Some(config) = self.trigger_cache.url(url_id) {
            return Ok(Some(config));
        }
        let connection = self.connection();
        let config = connection
            .prepare_cached(&format!(
                "SELECT {URL_COLUMNS} FROM function_urls WHERE url_id = ?1"
            ))
            .and_then(|mut statement| statement.query_row([url_id], url_row).optional())
            .map_err(backend)?
            .map(StoredUrl::into_config)
            .transpose()?;
        if let Some(config) = &config {
            self.trigger_cache.put_url(url_id, config);
        }
        Ok(config)
    }

    fn list_function_urls(
        &self,
        function_name: &str,
    ) -> Result<Vec<FunctionUrlConfig>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {URL_COLUMNS} FROM function_urls WHERE function_name = ?1 ORDER BY qualifier"
            ))
            .map_err(backend)?;
        let rows = statement
            .query_map([function_name], url_row)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.into_config())
            .collect()
    }

    fn update_function_url(&self, config: &FunctionUrlConfig) -> Result<(), StoreError> {
        let document = to_json(&UrlDocument::from_config(config))?;
        let updated = self
            .trigger_writer()
            .prepare_cached(
                "UPDATE function_urls SET last_modified_ms = ?3, config = ?4
                 WHERE function_name = ?1 AND qualifier = ?2",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    config.function_name,
                    config.qualifier.as_deref().unwrap_or(""),
                    config.last_modified_ms,
                    document,
                ])
            })
            .map_err(backend)?;
        if updated == 0 {
            return Err(StoreError::NotFound(config.function_name.clone()));
        }
        Ok(())
    }

    fn delete_function_url(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .trigger_writer()
            .prepare_cached("DELETE FROM function_urls WHERE function_name = ?1 AND qualifier = ?2")
            .and_then(|mut statement| {
                statement.execute(params![function_name, qualifier.unwrap_or("")])
            })
            .map_err(backend)?;
        Ok(deleted > 0)
    }

    fn create_api(
        &self,
        api: &HttpApi,
        integrations: &[Integration],
        routes: &[Route],
        stages: &[Stage],
    ) -> Result<(), StoreError> {
        let document = to_json(&ApiDocument::from_api(api))?;
        let mut connection = self.trigger_writer();
        let transaction = connection.transaction().map_err(backend)?;
        transaction
            .execute(
                "INSERT INTO http_apis (api_id, name, created_ms, revision, config)
                 VALUES (?1, ?2, ?3, 0, ?4)",
                params![api.api_id, api.name, api.created_ms, document],
            )
            .map_err(|error| match error.sqlite_error_code() {
                Some(ErrorCode::ConstraintViolation) => {
                    StoreError::AlreadyExists(api.api_id.clone())
                }
                _ => backend(error),
            })?;
        for integration in integrations {
            insert_integration(&transaction, &api.api_id, integration)?;
        }
        for route in routes {
            insert_route(&transaction, &api.api_id, route)?;
        }
        for stage in stages {
            insert_stage(&transaction, &api.api_id, stage)?;
        }
        transaction.commit().map_err(backend)
    }

    fn get_api(&self, api_id: &str) -> Result<Option<HttpApi>, StoreError> {
        if let Some(api) = self.trigger_cache.api(api_id) {
            return Ok(Some(api));
        }
        let connection = self.connection();
        let api = connection
            .prepare_cached(&format!(
                "SELECT {API_COLUMNS} FROM http_apis WHERE api_id = ?1"
            ))
            .and_then(|mut statement| statement.query_row([api_id], api_row).optional())
            .map_err(backend)?
            .map(StoredApi::into_api)
            .transpose()?;
        if let Some(api) = &api {
            self.trigger_cache.put_api(api);
        }
        Ok(api)
    }

    fn list_apis(&self) -> Result<Vec<HttpApi>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {API_COLUMNS} FROM http_apis ORDER BY created_ms, api_id"
            ))
            .map_err(backend)?;
        let rows = statement.query_map([], api_row).map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.into_api()).collect()
    }

    fn update_api(&self, api: &HttpApi) -> Result<(), StoreError> {
        let document = to_json(&ApiDocument::from_api(api))?;
        let updated = self
            .trigger_writer()
            .prepare_cached(
                "UPDATE http_apis SET name = ?2, config = ?3, revision = revision + 1
                 WHERE api_id = ?1",
            )
            .and_then(|mut statement| statement.execute(params![api.api_id, api.name, document]))
            .map_err(backend)?;
        if updated == 0 {
            return Err(StoreError::NotFound(api.api_id.clone()));
        }
        Ok(())
    }

    fn delete_api(&self, api_id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .trigger_writer()
            .prepare_cached("DELETE FROM http_apis WHERE api_id = ?1")
            .and_then(|mut statement| statement.execute([api_id]))
            .map_err(backend)?;
        Ok(deleted > 0)
    }

    fn put_integration(&self, api_id: &str, integration: &Integration) -> Result<(), StoreError> {
        self.change_api(api_id, |transaction| {
            insert_integration(transaction, api_id, integration)
        })
    }

    fn get_integration(
        &self,
        api_id: &str,
        integration_id: &str,
    ) -> Result<Option<Integration>, StoreError> {
        let document: Option<String> = self
            .connection()
            .prepare_cached(
                "SELECT config FROM http_api_integrations WHERE api_id = ?1 AND integration_id = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([api_id, integration_id], |row| row.get(0))
                    .optional()
            })
            .map_err(backend)?;
        document
            .map(|document| integration_from(integration_id.to_string(), &document))
            .transpose()
    }

    fn list_integrations(&self, api_id: &str) -> Result<Vec<Integration>, StoreError> {
        let rows: Vec<(String, String)> = self.rows(
            "SELECT integration_id, config FROM http_api_integrations
             WHERE api_id = ?1 ORDER BY integration_id",
            api_id,
        )?;
        rows.into_iter()
            .map(|(id, document)| integration_from(id, &document))
            .collect()
    }

    fn delete_integration(&self, api_id: &str, integration_id: &str) -> Result<bool, StoreError> {
        self.delete_under_api(
            api_id,
            "DELETE FROM http_api_integrations WHERE api_id = ?1 AND integration_id = ?2",
            integration_id,
        )
    }

    fn put_route(&self, api_id: &str, route: &Route) -> Result<(), StoreError> {
        self.change_api(api_id, |transaction| {
            insert_route(transaction, api_id, route)
        })
    }

    fn get_route(&self, api_id: &str, route_id: &str) -> Result<Option<Route>, StoreError> {
        let row: Option<(String, String)> = self
            .connection()
            .prepare_cached(
                "SELECT route_key, config FROM http_api_routes WHERE api_id = ?1 AND route_id = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([api_id, route_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(backend)?;
        row.map(|(key, document)| route_from(route_id.to_string(), key, &document))
            .transpose()
    }

    fn list_routes(&self, api_id: &str) -> Result<Vec<Route>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT route_id, route_key, config FROM http_api_routes
                 WHERE api_id = ?1 ORDER BY route_key",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map([api_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (id, key, document) = row.map_err(backend)?;
            route_from(id, key, &document)
        })
        .collect()
    }

    fn delete_route(&self, api_id: &str, route_id: &str) -> Result<bool, StoreError> {
        self.delete_under_api(
            api_id,
            "DELETE FROM http_api_routes WHERE api_id = ?1 AND route_id = ?2",
            route_id,
        )
    }

    fn put_stage(&self, api_id: &str, stage: &Stage) -> Result<(), StoreError> {
        self.change_api(api_id, |transaction| {
            insert_stage(transaction, api_id, stage)
        })
    }

    fn get_stage(&self, api_id: &str, stage_name: &str) -> Result<Option<Stage>, StoreError> {
        let row: Option<(i64, i64, String)> = self
            .connection()
            .prepare_cached(
                "SELECT created_ms, last_updated_ms, config FROM http_api_stages
                 WHERE api_id = ?1 AND stage_name = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([api_id, stage_name], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
            })
            .map_err(backend)?;
        row.map(|(created_ms, last_updated_ms, document)| {
            stage_from(
                stage_name.to_string(),
                created_ms,
                last_updated_ms,
                &document,
            )
        })
        .transpose()
    }

    fn list_stages(&self, api_id: &str) -> Result<Vec<Stage>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT stage_name, created_ms, last_updated_ms, config FROM http_api_stages
                 WHERE api_id = ?1 ORDER BY stage_name",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map([api_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (name, created_ms, last_updated_ms, document) = row.map_err(backend)?;
            stage_from(name, created_ms, last_updated_ms, &document)
        })
        .collect()
    }

    fn delete_stage(&self, api_id: &str, stage_name: &str) -> Result<bool, StoreError> {
        self.delete_under_api(
            api_id,
            "DELETE FROM http_api_stages WHERE api_id = ?1 AND stage_name = ?2",
            stage_name,
        )
    }
}

/// Function URLs by id and HTTP APIs by id as last read: the gateway looks
/// one up for every request it serves, and they change only through this
/// store. Readers fill it while holding the connection's lock, and every
/// write to function URLs or HTTP APIs (or to the functions URLs belong
/// to) empties it under the same lock, so what it holds is never older
/// than the database.
#[derive(Debug, Default)]
pub(crate) struct TriggerCache {
    entries: Mutex<CachedTriggers>,
}

#[derive(Debug, Default)]
struct CachedTriggers {
    urls: HashMap<String, FunctionUrlConfig>,
    apis: HashMap<String, HttpApi>,
}

impl TriggerCache {
    fn url(&self, url_id: &str) -> Option<FunctionUrlConfig> {
        self.lock().urls.get(url_id).cloned()
    }

    fn put_url(&self, url_id: &str, config: &FunctionUrlConfig) {
        self.lock().urls.insert(url_id.to_string(), config.clone());
    }

    fn api(&self, api_id: &str) -> Option<HttpApi> {
        self.lock().apis.get(api_id).cloned()
    }

    fn put_api(&self, api: &HttpApi) {
        self.lock().apis.insert(api.api_id.clone(), api.clone());
    }

    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        entries.urls.clear();
        entries.apis.clear();
    }

    fn lock(&self) -> MutexGuard<'_, CachedTriggers> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SqliteState {
    /// The connection, for a write to function URLs or HTTP APIs: the
    /// cache of them is emptied first, under the lock the write holds.
    fn trigger_writer(&self) -> MutexGuard<'_, Connection> {
        let connection = self.connection();
        self.trigger_cache.clear();
        connection
    }

    /// Runs `change` and moves the API's revision on, in one transaction;
    /// [`StoreError::NotFound`] when the API does not exist.
    fn change_api(
        &self,
        api_id: &str,
        change: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut connection = self.trigger_writer();
        let transaction = connection.transaction().map_err(backend)?;
        let bumped = transaction
            .execute(
                "UPDATE http_apis SET revision = revision + 1 WHERE api_id = ?1",
                [api_id],
            )
            .map_err(backend)?;
        if bumped == 0 {
            return Err(StoreError::NotFound(api_id.to_string()));
        }
        change(&transaction)?;
        transaction.commit().map_err(backend)
    }

    fn delete_under_api(&self, api_id: &str, sql: &str, id: &str) -> Result<bool, StoreError> {
        let mut deleted = 0;
        let outcome = self.change_api(api_id, |transaction| {
            deleted = transaction.execute(sql, [api_id, id]).map_err(backend)?;
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(deleted > 0),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn rows(&self, sql: &str, api_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql).map_err(backend)?;
        let rows = statement
            .query_map([api_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)).collect()
    }
}

fn insert_integration(
    connection: &Connection,
    api_id: &str,
    integration: &Integration,
) -> Result<(), StoreError> {
    let document = to_json(&IntegrationDocument {
        integration_uri: integration.integration_uri.clone(),
        payload_format_version: integration.payload_format_version.as_str().to_string(),
        timeout_ms: integration.timeout_ms,
        description: integration.description.clone(),
        api_gateway_managed: integration.api_gateway_managed,
    })?;
    connection
        .execute(
            "INSERT INTO http_api_integrations (api_id, integration_id, config) VALUES (?1, ?2, ?3)
             ON CONFLICT (api_id, integration_id) DO UPDATE SET config = excluded.config",
            params![api_id, integration.integration_id, document],
        )
        .map_err(backend)?;
    Ok(())
}

fn insert_route(connection: &Connection, api_id: &str, route: &Route) -> Result<(), StoreError> {
    let document = to_json(&RouteDocument {
        target: route.target.clone(),
        operation_name: route.operation_name.clone(),
        api_gateway_managed: route.api_gateway_managed,
    })?;
    connection
        .execute(
            "INSERT INTO http_api_routes (api_id, route_id, route_key, config) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (api_id, route_id) DO UPDATE SET
                 route_key = excluded.route_key, config = excluded.config",
            params![api_id, route.route_id, route.route_key, document],
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => StoreError::AlreadyExists(route.route_key.clone()),
            _ => backend(error),
        })?;
    Ok(())
}

fn insert_stage(connection: &Connection, api_id: &str, stage: &Stage) -> Result<(), StoreError> {
    let document = to_json(&StageDocument {
        auto_deploy: stage.auto_deploy,
        description: stage.description.clone(),
        stage_variables: stage.stage_variables.clone(),
        deployment_id: stage.deployment_id.clone(),
        tags: stage.tags.clone(),
        api_gateway_managed: stage.api_gateway_managed,
    })?;
    connection
        .execute(
            "INSERT INTO http_api_stages (api_id, stage_name, created_ms, last_updated_ms, config)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (api_id, stage_name) DO UPDATE SET
                 last_updated_ms = excluded.last_updated_ms, config = excluded.config",
            params![
                api_id,
                stage.stage_name,
                stage.created_ms,
                stage.last_updated_ms,
                document
            ],
        )
        .map_err(backend)?;
    Ok(())
}

const URL_COLUMNS: &str = "function_name, qualifier, url_id, created_ms, last_modified_ms, config";
const API_COLUMNS: &str = "api_id, name, created_ms, revision, config";

/// CORS settings as stored. Fields added later need `#[serde(default)]`;
/// unknown ones are ignored, so an older rayo reads what a newer one wrote.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CorsDocument {
    #[serde(default)]
    allow_credentials: bool,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    allow_methods: Vec<String>,
    #[serde(default)]
    allow_origins: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    max_age: Option<i64>,
}

impl CorsDocument {
    fn from_cors(cors: &Cors) -> CorsDocument {
        CorsDocument {
            allow_credentials: cors.allow_credentials,
            allow_headers: cors.allow_headers.clone(),
            allow_methods: cors.allow_methods.clone(),
            allow_origins: cors.allow_origins.clone(),
            expose_headers: cors.expose_headers.clone(),
            max_age: cors.max_age,
        }
    }

    fn into_cors(self) -> Cors {
        Cors {
            allow_credentials: self.allow_credentials,
            allow_headers: self.allow_headers,
            allow_methods: self.allow_methods,
            allow_origins: self.allow_origins,
            expose_headers: self.expose_headers,
            max_age: self.max_age,
        }
    }
}

/// The JSON in `function_urls.config`.
#[derive(Debug, Serialize, Deserialize)]
struct UrlDocument {
    auth_type: String,
    #[serde(default)]
    cors: Option<CorsDocument>,
    #[serde(default = "buffered")]
    invoke_mode: String,
}

fn buffered() -> String {
    InvokeMode::Buffered.as_str().to_string()
}

impl UrlDocument {
    fn from_config(config: &FunctionUrlConfig) -> UrlDocument {
        UrlDocument {
            auth_type: config.auth_type.as_str().to_string(),
            cors: config.cors.as_ref().map(CorsDocument::from_cors),
            invoke_mode: config.invoke_mode.as_str().to_string(),
        }
    }
}

struct StoredUrl {
    function_name: String,
    qualifier: String,
    url_id: String,
    created_ms: i64,
    last_modified_ms: i64,
    config: String,
}

fn url_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredUrl> {
    Ok(StoredUrl {
        function_name: row.get(0)?,
        qualifier: row.get(1)?,
        url_id: row.get(2)?,
        created_ms: row.get(3)?,
        last_modified_ms: row.get(4)?,
        config: row.get(5)?,
    })
}

impl StoredUrl {
    fn into_config(self) -> Result<FunctionUrlConfig, StoreError> {
        let document: UrlDocument = from_json(&self.config, "function URL", &self.url_id)?;
        let auth_type = FunctionUrlAuthType::parse(&document.auth_type).ok_or_else(|| {
            StoreError::Backend(format!(
                "function URL {} has an unknown auth type {:?}",
                self.url_id, document.auth_type
            ))
        })?;
        Ok(FunctionUrlConfig {
            url_id: self.url_id,
            function_name: self.function_name,
            qualifier: Some(self.qualifier).filter(|q| !q.is_empty()),
            auth_type,
            cors: document.cors.map(CorsDocument::into_cors),
            invoke_mode: InvokeMode::parse(&document.invoke_mode).unwrap_or(InvokeMode::Buffered),
            created_ms: self.created_ms,
            last_modified_ms: self.last_modified_ms,
        })
    }
}

/// The JSON in `http_apis.config`.
#[derive(Debug, Serialize, Deserialize)]
struct ApiDocument {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    cors: Option<CorsDocument>,
    #[serde(default)]
    disable_execute_api_endpoint: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

impl ApiDocument {
    fn from_api(api: &HttpApi) -> ApiDocument {
        ApiDocument {
            description: api.description.clone(),
            version: api.version.clone(),
            cors: api.cors.as_ref().map(CorsDocument::from_cors),
            disable_execute_api_endpoint: api.disable_execute_api_endpoint,
            tags: api.tags.clone(),
        }
    }
}

struct StoredApi {
    api_id: String,
    name: String,
    created_ms: i64,
    revision: i64,
    config: String,
}

fn api_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredApi> {
    Ok(StoredApi {
        api_id: row.get(0)?,
        name: row.get(1)?,
        created_ms: row.get(2)?,
        revision: row.get(3)?,
        config: row.get(4)?,
    })
}

impl StoredApi {
    fn into_api(self) -> Result<HttpApi, StoreError> {
        let document: ApiDocument = from_json(&self.config, "API", &self.api_id)?;
        Ok(HttpApi {
            api_id: self.api_id,
            name: self.name,
            description: document.description,
            version: document.version,
            cors: document.cors.map(CorsDocument::into_cors),
            disable_execute_api_endpoint: document.disable_execute_api_endpoint,
            tags: document.tags,
            created_ms: self.created_ms,
            revision: self.revision,
        })
    }
}

/// The JSON in `http_api_integrations.config`.
#[derive(Debug, Serialize, Deserialize)]
struct IntegrationDocument {
    integration_uri: String,
    payload_format_version: String,
    timeout_ms: u32,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    api_gateway_managed: bool,
}

fn integration_from(integration_id: String, document: &str) -> Result<Integration, StoreError> {
    let document: IntegrationDocument = from_json(document, "integration", &integration_id)?;
    let payload_format_version = PayloadFormatVersion::parse(&document.payload_format_version)
        .ok_or_else(|| {
            StoreError::Backend(format!(
                "integration {integration_id} has an unknown payload format version {:?}",
                document.payload_format_version
            ))
        })?;
    Ok(Integration {
        integration_id,
        integration_uri: document.integration_uri,
        payload_format_version,
        timeout_ms: document.timeout_ms,
        description: document.description,
        api_gateway_managed: document.api_gateway_managed,
    })
}

/// The JSON in `http_api_routes.config`.
#[derive(Debug, Serialize, Deserialize)]
struct RouteDocument {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    api_gateway_managed: bool,
}

fn route_from(route_id: String, route_key: String, document: &str) -> Result<Route, StoreError> {
    let document: RouteDocument = from_json(document, "route", &route_id)?;
    Ok(Route {
        route_id,
        route_key,
        target: document.target,
        operation_name: document.operation_name,
        api_gateway_managed: document.api_gateway_managed,
    })
}

/// The JSON in `http_api_stages.config`.
#[derive(Debug, Serialize, Deserialize)]
struct StageDocument {
    #[serde(default)]
    auto_deploy: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    stage_variables: BTreeMap<String, String>,
    #[serde(default)]
    deployment_id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    api_gateway_managed: bool,
}

fn stage_from(
    stage_name: String,
    created_ms: i64,
    last_updated_ms: i64,
    document: &str,
) -> Result<Stage, StoreError> {
    let document: StageDocument = from_json(document, "stage", &stage_name)?;
    Ok(Stage {
        stage_name,
        auto_deploy: document.auto_deploy,
        description: document.description,
        stage_variables: document.stage_variables,
        deployment_id: document.deployment_id,
        tags: document.tags,
        api_gateway_managed: document.api_gateway_managed,
        created_ms,
        last_updated_ms,
    })
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::Backend(format!(
            "{what} {id} has an unreadable configuration: {error}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::tests::record;
    use rayo_core::store::FunctionStore;

    fn url(function_name: &str, url_id: &str) -> FunctionUrlConfig {
        FunctionUrlConfig {
            url_id: url_id.to_string(),
            function_name: function_name.to_string(),
            qualifier: None,
            auth_type: FunctionUrlAuthType::None,
            cors: Some(Cors {
                allow_origins: vec!["*".to_string()],
                max_age: Some(300),
                ..Cors::default()
            }),
            invoke_mode: InvokeMode::Buffered,
            created_ms: 1,
            last_modified_ms: 2,
        }
    }

    fn api(api_id: &str) -> HttpApi {
        HttpApi {
            api_id: api_id.to_string(),
            name: "api".to_string(),
            description: None,
            version: None,
            cors: None,
            disable_execute_api_endpoint: false,
            tags: BTreeMap::new(),
            created_ms: 5,
            revision: 0,
        }
    }

    fn route(route_id: &str, route_key: &str) -> Route {
        Route {
            route_id: route_id.to_string(),
            route_key: route_key.to_string(),
            target: Some("integrations/i1".to_string()),
            operation_name: None,
            api_gateway_managed: false,
        }
    }

    fn stage(name: &str) -> Stage {
        Stage {
            stage_name: name.to_string(),
            auto_deploy: true,
            description: None,
            stage_variables: BTreeMap::from([("color".to_string(), "blue".to_string())]),
            deployment_id: None,
            tags: BTreeMap::new(),
            api_gateway_managed: false,
            created_ms: 7,
            last_updated_ms: 7,
        }
    }

    fn integration(id: &str) -> Integration {
        Integration {
            integration_id: id.to_string(),
            integration_uri: "arn:aws:lambda:us-east-1:000000000000:function:f".to_string(),
            payload_format_version: PayloadFormatVersion::V2,
            timeout_ms: 30_000,
            description: None,
            api_gateway_managed: true,
        }
    }

    #[test]
    fn function_urls_round_trip_and_go_with_their_function() {
        let state = SqliteState::open_in_memory().unwrap();
        assert!(matches!(
            state.create_function_url(&url("f", "a".repeat(32).as_str())),
            Err(StoreError::NotFound(_))
        ));
        state.create_function(&record("f")).unwrap();
        let config = url("f", &"a".repeat(32));
        state.create_function_url(&config).unwrap();
        assert!(matches!(
            state.create_function_url(&config),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(
            state.get_function_url("f", None).unwrap(),
            Some(config.clone())
        );
        assert_eq!(
            state.function_url_by_id(&"a".repeat(32)).unwrap(),
            Some(config.clone())
        );
        let mut changed = config.clone();
        changed.auth_type = FunctionUrlAuthType::AwsIam;
        changed.cors = None;
        changed.last_modified_ms = 9;
        state.update_function_url(&changed).unwrap();
        // Read by id (and so cached) before and after the change.
        assert_eq!(
            state.function_url_by_id(&"a".repeat(32)).unwrap(),
            Some(changed.clone())
        );
        assert_eq!(state.list_function_urls("f").unwrap(), vec![changed]);
        state.delete_function("f").unwrap();
        assert_eq!(state.function_url_by_id(&"a".repeat(32)).unwrap(), None);
        assert!(!state.delete_function_url("f", None).unwrap());
    }

    #[test]
    fn apis_move_their_revision_on_with_every_change() {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_api(
                &api("abc"),
                &[integration("i1")],
                &[route("r1", "$default")],
                &[stage("$default")],
            )
            .unwrap();
        let revision = |state: &SqliteState| state.get_api("abc").unwrap().unwrap().revision;
        assert_eq!(revision(&state), 0);
        state.put_route("abc", &route("r2", "GET /sum")).unwrap();
        assert_eq!(revision(&state), 1);
        assert!(matches!(
            state.put_route("abc", &route("r3", "GET /sum")),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(revision(&state), 1, "a refused change is rolled back");
        assert_eq!(
            state
                .list_routes("abc")
                .unwrap()
                .iter()
                .map(|r| r.route_key.as_str())
                .collect::<Vec<_>>(),
            ["$default", "GET /sum"]
        );
        state.put_stage("abc", &stage("prod")).unwrap();
        assert_eq!(state.get_stage("abc", "prod").unwrap(), Some(stage("prod")));
        assert!(state.delete_stage("abc", "prod").unwrap());
        assert!(!state.delete_stage("abc", "prod").unwrap());
        assert_eq!(
            state.get_integration("abc", "i1").unwrap(),
            Some(integration("i1"))
        );
        assert!(state.delete_route("abc", "r2").unwrap());
        assert_eq!(revision(&state), 5);
        assert!(matches!(
            state.put_route("nope", &route("r9", "GET /x")),
            Err(StoreError::NotFound(_))
        ));

        let mut renamed = state.get_api("abc").unwrap().unwrap();
        renamed.name = "renamed".to_string();
        state.update_api(&renamed).unwrap();
        assert_eq!(state.list_apis().unwrap()[0].name, "renamed");
        assert_eq!(state.get_api("abc").unwrap().unwrap().name, "renamed");
        assert!(state.delete_api("abc").unwrap());
        assert_eq!(state.get_api("abc").unwrap(), None);
        assert!(state.list_routes("abc").unwrap().is_empty());
        assert!(state.list_integrations("abc").unwrap().is_empty());
        assert!(state.list_stages("abc").unwrap().is_empty());
    }
}
