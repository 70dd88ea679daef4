//! Published versions, aliases and provisioned concurrency configurations
//! on SQLite, for [`rayo_core::store::FunctionStore`].

use rayo_core::function::{FunctionConfig, LATEST};
use rayo_core::store::StoreError;
use rayo_core::version::{Alias, ProvisionedConcurrencyConfig, Published};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::{SqliteState, backend};
use crate::functions::{ConfigDocument, from_unix_ms, published_from, unix_ms, version_config};

/// The columns of a version row.
const SELECT_VERSION: &str = "SELECT version, revision_id, code_sha256, code_size,
        last_modified_ms, config
    FROM function_versions";

/// A version row as read.
type VersionColumns = (String, String, String, i64, i64, String);

fn version_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn into_config(name: &str, columns: VersionColumns) -> Result<FunctionConfig, StoreError> {
    let (version, revision_id, code_sha256, code_size, last_modified_ms, config) = columns;
    version_config(
        name,
        version,
        revision_id,
        code_sha256,
        code_size,
        last_modified_ms,
        &config,
    )
}

pub(crate) fn publish_version(
    state: &SqliteState,
    name: &str,
    expected_revision_id: &str,
    description: Option<&str>,
    revision_id: &str,
    published: OffsetDateTime,
) -> Result<Published, StoreError> {
    let mut connection = state.connection();
    let transaction = connection.transaction().map_err(backend)?;
    let latest = transaction
        .prepare_cached(&format!(
            "{SELECT_VERSION} WHERE function_name = ?1 AND version = ?2"
        ))
        .and_then(|mut statement| {
            statement
                .query_row(params![name, LATEST], version_columns)
                .optional()
        })
        .map_err(backend)?;
    let Some(latest) = latest else {
        return Err(StoreError::NotFound(name.to_string()));
    };
    if latest.1 != expected_revision_id {
        return Err(StoreError::RevisionConflict(name.to_string()));
    }
    let last_version: i64 = transaction
        .prepare_cached("SELECT last_version FROM functions WHERE name = ?1")
        .and_then(|mut statement| statement.query_row([name], |r| r.get(0)))
        .map_err(backend)?;
    // The newest version still there: if it was published from this very
    // `$LATEST` revision, nothing changed and it is the answer.
    let newest = transaction
        .prepare_cached(&format!(
            "{SELECT_VERSION} WHERE function_name = ?1 AND version != ?2
             ORDER BY CAST(version AS INTEGER) DESC LIMIT 1"
        ))
        .and_then(|mut statement| {
            statement
                .query_row(params![name, LATEST], version_columns)
                .optional()
        })
        .map_err(backend)?;
    if let Some(newest) = newest
        && published_from(&newest.5).as_deref() == Some(latest.1.as_str())
    {
        return Ok(Published::Unchanged(into_config(name, newest)?));
    }
    let number = (last_version + 1).to_string();
    let mut config = into_config(name, latest.clone())?;
    config.version = number.clone();
    config.revision_id = revision_id.to_string();
    config.last_modified = published;
    if let Some(description) = description {
        config.description = description.to_string();
    }
    let document = ConfigDocument::from_config(&config, Some(latest.1.clone()));
    let document = serde_json::to_string(&document).map_err(backend)?;
    transaction
        .prepare_cached(
            "INSERT INTO function_versions
                (function_name, version, revision_id, code_sha256, code_size, last_modified_ms, config)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                name,
                number,
                revision_id,
                latest.2,
                latest.3,
                unix_ms(published),
                document,
            ])
        })
        .map_err(backend)?;
    transaction
        .prepare_cached("UPDATE functions SET last_version = ?2 WHERE name = ?1")
        .and_then(|mut statement| statement.execute(params![name, last_version + 1]))
        .map_err(backend)?;
    transaction.commit().map_err(backend)?;
    Ok(Published::New(config))
}

pub(crate) fn get_version(
    state: &SqliteState,
    name: &str,
    version: &str,
) -> Result<Option<FunctionConfig>, StoreError> {
    let connection = state.connection();
    let columns = connection
        .prepare_cached(&format!(
            "{SELECT_VERSION} WHERE function_name = ?1 AND version = ?2"
        ))
        .and_then(|mut statement| {
            statement
                .query_row(params![name, version], version_columns)
                .optional()
        })
        .map_err(backend)?;
    drop(connection);
    columns.map(|c| into_config(name, c)).transpose()
}

pub(crate) fn list_versions(
    state: &SqliteState,
    name: &str,
) -> Result<Vec<FunctionConfig>, StoreError> {
    let connection = state.connection();
    let mut statement = connection
        .prepare_cached(&format!(
            "{SELECT_VERSION} WHERE function_name = ?1
             ORDER BY version != ?2, CAST(version AS INTEGER)"
        ))
        .map_err(backend)?;
    let rows: Vec<VersionColumns> = statement
        .query_map(params![name, LATEST], version_columns)
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    drop(statement);
    drop(connection);
    rows.into_iter().map(|c| into_config(name, c)).collect()
}

pub(crate) fn delete_version(
    state: &SqliteState,
    name: &str,
    version: &str,
) -> Result<bool, StoreError> {
    if version == LATEST {
        return Ok(false);
    }
    let connection = state.connection();
    let deleted = connection
        .prepare_cached("DELETE FROM function_versions WHERE function_name = ?1 AND version = ?2")
        .and_then(|mut statement| statement.execute(params![name, version]))
        .map_err(backend)?;
    Ok(deleted > 0)
}

/// `function_aliases.routing`: the additional version weights.
#[derive(Debug, Serialize, Deserialize)]
struct RoutingDocument {
    #[serde(default)]
    additional_version_weights: Vec<(String, f64)>,
}

fn routing_json(alias: &Alias) -> Result<String, StoreError> {
    serde_json::to_string(&RoutingDocument {
        additional_version_weights: alias.additional_version_weights.clone(),
    })
    .map_err(backend)
}

pub(crate) fn create_alias(state: &SqliteState, alias: &Alias) -> Result<(), StoreError> {
    let routing = routing_json(alias)?;
    let connection = state.connection();
    let function_exists = connection
        .prepare_cached("SELECT 1 FROM functions WHERE name = ?1")
        .and_then(|mut statement| statement.exists([&alias.function_name]))
        .map_err(backend)?;
    if !function_exists {
        return Err(StoreError::NotFound(alias.function_name.clone()));
    }
    let inserted = connection
        .prepare_cached(
            "INSERT INTO function_aliases
                (function_name, name, version, description, routing, revision_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (function_name, name) DO NOTHING",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                alias.function_name,
                alias.name,
                alias.function_version,
                alias.description,
                routing,
                alias.revision_id,
            ])
        })
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(alias.name.clone()));
    }
    Ok(())
}

pub(crate) fn update_alias(
    state: &SqliteState,
    alias: &Alias,
    expected_revision_id: &str,
) -> Result<(), StoreError> {
    let routing = routing_json(alias)?;
    let connection = state.connection();
    let current: Option<String> = connection
        .prepare_cached(
            "SELECT revision_id FROM function_aliases WHERE function_name = ?1 AND name = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![alias.function_name, alias.name], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    match current {
        None => return Err(StoreError::NotFound(alias.name.clone())),
        Some(revision) if revision != expected_revision_id => {
            return Err(StoreError::RevisionConflict(alias.name.clone()));
        }
        Some(_) => {}
    }
    connection
        .prepare_cached(
            "UPDATE function_aliases
             SET version = ?3, description = ?4, routing = ?5, revision_id = ?6
             WHERE function_name = ?1 AND name = ?2",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                alias.function_name,
                alias.name,
                alias.function_version,
                alias.description,
                routing,
                alias.revision_id,
            ])
        })
        .map_err(backend)?;
    Ok(())
}

const SELECT_ALIAS: &str =
    "SELECT function_name, name, version, description, routing, revision_id FROM function_aliases";

fn alias_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Alias, String)> {
    Ok((
        Alias {
            function_name: row.get(0)?,
            name: row.get(1)?,
            function_version: row.get(2)?,
            description: row.get(3)?,
            additional_version_weights: Vec::new(),
            revision_id: row.get(5)?,
        },
        row.get(4)?,
    ))
}

fn with_routing((mut alias, routing): (Alias, String)) -> Result<Alias, StoreError> {
    let document: RoutingDocument = serde_json::from_str(&routing).map_err(|error| {
        StoreError::Backend(format!(
            "alias {} of {} has an unreadable routing configuration: {error}",
            alias.name, alias.function_name
        ))
    })?;
    alias.additional_version_weights = document.additional_version_weights;
    Ok(alias)
}

pub(crate) fn get_alias(
    state: &SqliteState,
    function_name: &str,
    name: &str,
) -> Result<Option<Alias>, StoreError> {
    let connection = state.connection();
    let row = connection
        .prepare_cached(&format!(
            "{SELECT_ALIAS} WHERE function_name = ?1 AND name = ?2"
        ))
        .and_then(|mut statement| {
            statement
                .query_row(params![function_name, name], alias_from_row)
                .optional()
        })
        .map_err(backend)?;
    row.map(with_routing).transpose()
}

pub(crate) fn list_aliases(
    state: &SqliteState,
    function_name: &str,
) -> Result<Vec<Alias>, StoreError> {
    let connection = state.connection();
    let mut statement = connection
        .prepare_cached(&format!(
            "{SELECT_ALIAS} WHERE function_name = ?1 ORDER BY name"
        ))
        .map_err(backend)?;
    let rows: Vec<(Alias, String)> = statement
        .query_map([function_name], alias_from_row)
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    rows.into_iter().map(with_routing).collect()
}

pub(crate) fn delete_alias(
    state: &SqliteState,
    function_name: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let connection = state.connection();
    let deleted = connection
        .prepare_cached("DELETE FROM function_aliases WHERE function_name = ?1 AND name = ?2")
        .and_then(|mut statement| statement.execute(params![function_name, name]))
        .map_err(backend)?;
    Ok(deleted > 0)
}

pub(crate) fn put_provisioned_concurrency(
    state: &SqliteState,
    config: &ProvisionedConcurrencyConfig,
) -> Result<(), StoreError> {
    let connection = state.connection();
    let written = connection
        .prepare_cached(
            "INSERT INTO provisioned_concurrency
                (function_name, qualifier, requested, last_modified_ms)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM functions WHERE name = ?1)
             ON CONFLICT (function_name, qualifier) DO UPDATE SET
                requested = excluded.requested,
                last_modified_ms = excluded.last_modified_ms",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                config.function_name,
                config.qualifier,
                config.requested,
                unix_ms(config.last_modified),
            ])
        })
        .map_err(backend)?;
    if written == 0 {
        return Err(StoreError::NotFound(config.function_name.clone()));
    }
    Ok(())
}

pub(crate) fn list_provisioned_concurrency(
    state: &SqliteState,
    function_name: Option<&str>,
) -> Result<Vec<ProvisionedConcurrencyConfig>, StoreError> {
    let connection = state.connection();
    let mut statement = connection
        .prepare_cached(
            "SELECT function_name, qualifier, requested, last_modified_ms
             FROM provisioned_concurrency
             WHERE ?1 IS NULL OR function_name = ?1
             ORDER BY function_name, qualifier",
        )
        .map_err(backend)?;
    let rows: Vec<(String, String, u32, i64)> = statement
        .query_map([function_name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(function_name, qualifier, requested, last_modified_ms)| {
            Ok(ProvisionedConcurrencyConfig {
                function_name,
                qualifier,
                requested,
                last_modified: from_unix_ms(last_modified_ms).map_err(backend)?,
            })
        })
        .collect()
}

pub(crate) fn delete_provisioned_concurrency(
    state: &SqliteState,
    function_name: &str,
    qualifier: &str,
) -> Result<bool, StoreError> {
    let connection = state.connection();
    let deleted = connection
        .prepare_cached(
            "DELETE FROM provisioned_concurrency WHERE function_name = ?1 AND qualifier = ?2",
        )
        .and_then(|mut statement| statement.execute(params![function_name, qualifier]))
        .map_err(backend)?;
    Ok(deleted > 0)
}

#[cfg(test)]
mod tests {
    use rayo_core::store::FunctionStore;
    use time::macros::datetime;

    use super::*;
    use crate::functions::tests::record;

    #[test]
    fn versions_are_numbered_and_unchanged_latest_is_not_published_twice() {
        let state = SqliteState::open_in_memory().unwrap();
        let mut function = record("f");
        state.create_function(&function).unwrap();
        let at = datetime!(2026-01-01 00:00:00 UTC);
        let Published::New(v1) = state
            .publish_version("f", "rev-f-1", Some("first"), "v1-rev", at)
            .unwrap()
        else {
            panic!("expected a new version");
        };
        assert_eq!(v1.version, "1");
        assert_eq!(v1.description, "first");
        let again = state
            .publish_version("f", "rev-f-1", None, "other", at)
            .unwrap();
        assert_eq!(again, Published::Unchanged(v1.clone()));
        assert!(matches!(
            state.publish_version("f", "stale", None, "x", at),
            Err(StoreError::RevisionConflict(_))
        ));
        // A change to $LATEST makes the next publish a new version; a
        // deleted number is not reused.
        function.config.handler = "app.other".to_string();
        function.config.revision_id = "rev-f-2".to_string();
        state
            .update_function(&function, "rev-f-1", &function.policy_revision_id)
            .unwrap();
        let Published::New(v2) = state
            .publish_version("f", "rev-f-2", None, "v2-rev", at)
            .unwrap()
        else {
            panic!("expected a new version");
        };
        assert_eq!(v2.version, "2");
        assert_eq!(v2.handler, "app.other");
        assert!(state.delete_version("f", "2").unwrap());
        function.config.handler = "app.third".to_string();
        function.config.revision_id = "rev-f-3".to_string();
        state
            .update_function(&function, "rev-f-2", &function.policy_revision_id)
            .unwrap();
        let Published::New(v3) = state
            .publish_version("f", "rev-f-3", None, "v3-rev", at)
            .unwrap()
        else {
            panic!("expected a new version");
        };
        assert_eq!(v3.version, "3");
        let listed: Vec<String> = state
            .list_versions("f")
            .unwrap()
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(listed, ["$LATEST", "1", "3"]);
        assert_eq!(
            state.get_version("f", "1").unwrap().unwrap().handler,
            "app.handler"
        );
        assert!(!state.delete_version("f", LATEST).unwrap());
    }

    #[test]
    fn aliases_and_provisioned_configs_go_with_their_function() {
        let state = SqliteState::open_in_memory().unwrap();
        state.create_function(&record("f")).unwrap();
        let alias = Alias {
            function_name: "f".to_string(),
            name: "live".to_string(),
            function_version: "1".to_string(),
            description: "d".to_string(),
            additional_version_weights: vec![("2".to_string(), 0.25)],
            revision_id: "a1".to_string(),
        };
        state.create_alias(&alias).unwrap();
        assert!(matches!(
            state.create_alias(&alias),
            Err(StoreError::AlreadyExists(_))
        ));
        assert_eq!(state.get_alias("f", "live").unwrap(), Some(alias.clone()));
        let mut updated = alias.clone();
        updated.additional_version_weights.clear();
        updated.revision_id = "a2".to_string();
        assert!(matches!(
            state.update_alias(&updated, "wrong"),
            Err(StoreError::RevisionConflict(_))
        ));
        state.update_alias(&updated, "a1").unwrap();
        assert_eq!(state.list_aliases("f").unwrap(), vec![updated]);
        let mut missing = alias.clone();
        missing.function_name = "nope".to_string();
        assert!(matches!(
            state.create_alias(&missing),
            Err(StoreError::NotFound(_))
        ));

        let provisioned = ProvisionedConcurrencyConfig {
            function_name: "f".to_string(),
            qualifier: "live".to_string(),
            requested: 2,
            last_modified: datetime!(2026-01-01 00:00:00 UTC),
        };
        state.put_provisioned_concurrency(&provisioned).unwrap();
        assert_eq!(
            state.list_provisioned_concurrency(Some("f")).unwrap(),
            vec![provisioned.clone()]
        );
        state.delete_function("f").unwrap();
        assert!(state.list_aliases("f").unwrap().is_empty());
        assert!(state.list_provisioned_concurrency(None).unwrap().is_empty());
        assert!(matches!(
            state.put_provisioned_concurrency(&provisioned),
            Err(StoreError::NotFound(_))
        ));
    }
}
