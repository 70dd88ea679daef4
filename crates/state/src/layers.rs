//! [`LayerStore`] on SQLite: layers and their numbered versions.

use rayo_core::CodeRef;
use rayo_core::store::{LayerStore, StoreError};
use rayo_core::version::LayerVersion;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::db::{SqliteState, backend};
use crate::functions::{from_unix_ms, unix_ms};

/// `layer_versions.details`: what is not a column.
#[derive(Debug, Serialize, Deserialize)]
struct DetailsDocument {
    #[serde(default)]
    description: String,
    #[serde(default)]
    compatible_runtimes: Vec<String>,
    #[serde(default)]
    compatible_architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    license_info: Option<String>,
}

const SELECT_LAYER_VERSION: &str = "SELECT layer_name, version, code_sha256, code_size,
        created_ms, details
    FROM layer_versions";

type LayerColumns = (String, i64, String, i64, i64, String);

fn layer_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<LayerColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn into_layer_version(columns: LayerColumns) -> Result<LayerVersion, StoreError> {
    let (layer_name, version, code_sha256, code_size, created_ms, details) = columns;
    let unreadable = |what: &str, error: &dyn std::fmt::Display| -> StoreError {
        StoreError::Backend(format!(
            "version {version} of layer {layer_name} has an unreadable {what}: {error}"
        ))
    };
    let details: DetailsDocument =
        serde_json::from_str(&details).map_err(|e| unreadable("details", &e))?;
    Ok(LayerVersion {
        version: u64::try_from(version).map_err(|e| unreadable("version", &e))?,
        description: details.description,
        compatible_runtimes: details.compatible_runtimes,
        compatible_architectures: details.compatible_architectures,
        license_info: details.license_info,
        code: CodeRef {
            sha256_hex: code_sha256,
            size: u64::try_from(code_size).map_err(|e| unreadable("code size", &e))?,
        },
        created: from_unix_ms(created_ms).map_err(|e| unreadable("creation time", &e))?,
        layer_name,
    })
}

impl LayerStore for SqliteState {
    fn publish_layer_version(&self, layer: &LayerVersion) -> Result<u64, StoreError> {
        let details = serde_json::to_string(&DetailsDocument {
            description: layer.description.clone(),
            compatible_runtimes: layer.compatible_runtimes.clone(),
            compatible_architectures: layer.compatible_architectures.clone(),
            license_info: layer.license_info.clone(),
        })
        .map_err(backend)?;
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let version: i64 = transaction
            .prepare_cached(
                "INSERT INTO layers (name, last_version) VALUES (?1, 1)
                 ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1
                 RETURNING last_version",
            )
            .and_then(|mut statement| statement.query_row([&layer.layer_name], |r| r.get(0)))
            .map_err(backend)?;
        transaction
            .prepare_cached(
                "INSERT INTO layer_versions
                    (layer_name, version, code_sha256, code_size, created_ms, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    layer.layer_name,
                    version,
                    layer.code.sha256_hex,
                    i64::try_from(layer.code.size).unwrap_or(i64::MAX),
                    unix_ms(layer.created),
                    details,
                ])
            })
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        u64::try_from(version).map_err(backend)
    }

    fn get_layer_version(
        &self,
        layer_name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        let connection = self.connection();
        let row = connection
            .prepare_cached(&format!(
                "{SELECT_LAYER_VERSION} WHERE layer_name = ?1 AND version = ?2"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![layer_name, version], layer_columns)
                    .optional()
            })
            .map_err(backend)?;
        row.map(into_layer_version).transpose()
    }

    fn list_layer_versions(&self, layer_name: &str) -> Result<Vec<LayerVersion>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "{SELECT_LAYER_VERSION} WHERE layer_name = ?1 ORDER BY version DESC"
            ))
            .map_err(backend)?;
        let rows: Vec<LayerColumns> = statement
            .query_map([layer_name], layer_columns)
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        rows.into_iter().map(into_layer_version).collect()
    }

    fn list_all_layer_versions(&self) -> Result<Vec<LayerVersion>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&format!(
                "{SELECT_LAYER_VERSION} ORDER BY layer_name, version DESC"
            ))
            .map_err(backend)?;
        let rows: Vec<LayerColumns> = statement
            .query_map([], layer_columns)
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        rows.into_iter().map(into_layer_version).collect()
    }

    fn delete_layer_version(&self, layer_name: &str, version: u64) -> Result<bool, StoreError> {
        let Ok(version) = i64::try_from(version) else {
            return Ok(false);
        };
        let connection = self.connection();
        let deleted = connection
            .prepare_cached("DELETE FROM layer_versions WHERE layer_name = ?1 AND version = ?2")
            .and_then(|mut statement| statement.execute(params![layer_name, version]))
            .map_err(backend)?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn layer(name: &str, sha: &str) -> LayerVersion {
        LayerVersion {
            layer_name: name.to_string(),
            version: 0,
            description: "d".to_string(),
            compatible_runtimes: vec!["python3.12".to_string()],
            compatible_architectures: Vec::new(),
            license_info: Some("MIT".to_string()),
            code: CodeRef {
                sha256_hex: sha.to_string(),
                size: 10,
            },
            created: datetime!(2026-01-01 00:00:00 UTC),
        }
    }

    #[test]
    fn layer_versions_are_numbered_never_reused() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(state.publish_layer_version(&layer("a", "s1")).unwrap(), 1);
        assert_eq!(state.publish_layer_version(&layer("a", "s2")).unwrap(), 2);
        assert_eq!(state.publish_layer_version(&layer("b", "s3")).unwrap(), 1);
        assert!(state.delete_layer_version("a", 2).unwrap());
        assert!(!state.delete_layer_version("a", 2).unwrap());
        assert_eq!(state.publish_layer_version(&layer("a", "s4")).unwrap(), 3);
        let versions: Vec<u64> = state
            .list_layer_versions("a")
            .unwrap()
            .iter()
            .map(|l| l.version)
            .collect();
        assert_eq!(versions, [3, 1]);
        let got = state.get_layer_version("a", 1).unwrap().unwrap();
        assert_eq!(got.code.sha256_hex, "s1");
        assert_eq!(got.license_info.as_deref(), Some("MIT"));
        assert_eq!(state.list_all_layer_versions().unwrap().len(), 3);
        use rayo_core::store::FunctionStore;
        let referenced = state.referenced_code().unwrap();
        assert!(referenced.contains(&"s1".to_string()));
        assert!(!referenced.contains(&"s2".to_string()));
        // A function's layers stay referenced after their version is deleted.
        let mut function = crate::functions::tests::record("f");
        function.config.layers = vec![rayo_core::LayerRef {
            arn: "arn:aws:lambda:us-east-1:000000000000:layer:a:3".to_string(),
            code: CodeRef {
                sha256_hex: "s4".to_string(),
                size: 10,
            },
        }];
        state.create_function(&function).unwrap();
        assert!(state.delete_layer_version("a", 3).unwrap());
        let referenced = state.referenced_code().unwrap();
        assert!(referenced.contains(&"s4".to_string()), "{referenced:?}");
        assert_eq!(
            state.get_function("f").unwrap().unwrap().config.layers,
            function.config.layers
        );
    }
}
