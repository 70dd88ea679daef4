//! The object store's metadata: buckets, objects and multipart uploads. An
//! object's row and the notifications its write triggers are committed in
//! one transaction.

use std::collections::BTreeSet;

use rayo_core::invocation::AsyncInvocation;
use rayo_core::s3::{
    Bucket, CompletedUpload, DeleteBucketOutcome, LambdaNotification, MultipartUpload,
    NotificationConfiguration, ObjectMeta, ObjectQuery, ObjectStore, STORED_HEADERS_VERSION,
    StoredHeaders, UploadedPart,
};
use rayo_core::store::StoreError;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::db::{SqliteState, backend, sql_limit};

impl ObjectStore for SqliteState {
    fn create_bucket(&self, bucket: &Bucket) -> Result<bool, StoreError> {
        let notification = notification_to_json(&bucket.notification)?;
        let inserted = self
            .connection()
            .execute(
                "INSERT INTO buckets (name, created_ms, notification) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![bucket.name, bucket.created_ms, notification],
            )
            .map_err(backend)?;
        Ok(inserted == 1)
    }

    fn get_bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError> {
        let row = self
            .connection()
            .prepare_cached("SELECT name, created_ms, notification FROM buckets WHERE name = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row(params![name], bucket_columns)
                    .optional()
            })
            .map_err(backend)?;
        row.map(bucket_from_columns).transpose()
    }

    fn list_buckets(&self) -> Result<Vec<Bucket>, StoreError> {
        let rows = self
            .connection()
            .prepare_cached("SELECT name, created_ms, notification FROM buckets ORDER BY name")
            .and_then(|mut statement| {
                statement
                    .query_map([], bucket_columns)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        rows.into_iter().map(bucket_from_columns).collect()
    }

    fn delete_bucket(&self, name: &str) -> Result<(DeleteBucketOutcome, Vec<String>), StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let exists = transaction
            .query_row(
                "SELECT 1 FROM buckets WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        if !exists {
            return Ok((DeleteBucketOutcome::NotFound, Vec::new()));
        }
        let has_objects = transaction
            .query_row(
                "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        if has_objects {
            return Ok((DeleteBucketOutcome::NotEmpty, Vec::new()));
        }
        let bodies = transaction
            .prepare(
                "SELECT p.body_id FROM multipart_parts p
                 JOIN multipart_uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?1",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(params![name], |row| row.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .map_err(backend)?;
        transaction
            .execute(
                "DELETE FROM multipart_uploads WHERE bucket = ?1",
                params![name],
            )
            .and_then(|_| transaction.execute("DELETE FROM buckets WHERE name = ?1", params![name]))
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok((DeleteBucketOutcome::Deleted, bodies))
    }

    fn put_notification(
        &self,
        bucket: &str,
        notification: &NotificationConfiguration,
    ) -> Result<bool, StoreError> {
        let notification = notification_to_json(notification)?;
        let updated = self
            .connection()
            .execute(
                "UPDATE buckets SET notification = ?2 WHERE name = ?1",
                params![bucket, notification],
            )
            .map_err(backend)?;
        Ok(updated == 1)
    }

    fn put_object(
        &self,
        object: &ObjectMeta,
        events: &[AsyncInvocation],
    ) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let replaced = write_object(&transaction, object)?;
        enqueue(&transaction, events)?;
        transaction.commit().map_err(backend)?;
        Ok(replaced)
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let row = self
            .connection()
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![bucket, key], object_columns)
                    .optional()
            })
            .map_err(backend)?;
        row.map(object_from_columns).transpose()
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events: &[AsyncInvocation],
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let removed = transaction
            .query_row(
                &format!(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 RETURNING {OBJECT_COLUMNS}"
                ),
                params![bucket, key],
                object_columns,
            )
            .optional()
            .map_err(backend)?;
        if removed.is_some() {
            enqueue(&transaction, events)?;
        }
        transaction.commit().map_err(backend)?;
        removed.map(object_from_columns).transpose()
    }

    fn list_objects(&self, query: &ObjectQuery<'_>) -> Result<Vec<ObjectMeta>, StoreError> {
        // Keys with the prefix are those in [prefix, prefix + U+10FFFF…);
        // a range keeps the primary key's index in use, where LIKE would not.
        let after = query.after.unwrap_or("");
        let rows = self
            .connection()
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects
                 WHERE bucket = ?1 AND key > ?2 AND key >= ?3 AND substr(key, 1, ?4) = ?3
                 ORDER BY key LIMIT ?5"
            ))
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![
                            query.bucket,
                            after,
                            query.prefix,
                            query.prefix.chars().count() as i64,
                            sql_limit(query.limit)
                        ],
                        object_columns,
                    )?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        rows.into_iter().map(object_from_columns).collect()
    }

    fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError> {
        let headers = headers_to_json(&upload.headers)?;
        self.connection()
            .execute(
                "INSERT INTO multipart_uploads
                     (upload_id, bucket, key, initiated_ms, headers_version, headers)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    upload.upload_id,
                    upload.bucket,
                    upload.key,
                    upload.initiated_ms,
                    STORED_HEADERS_VERSION,
                    headers
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>, StoreError> {
        let row = self
            .connection()
            .prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE upload_id = ?1"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![upload_id], upload_columns)
                    .optional()
            })
            .map_err(backend)?;
        row.map(upload_from_columns).transpose()
    }

    fn list_uploads(&self, bucket: &str) -> Result<Vec<MultipartUpload>, StoreError> {
        let rows = self
            .connection()
            .prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE bucket = ?1
                 ORDER BY key, initiated_ms, upload_id"
            ))
            .and_then(|mut statement| {
                statement
                    .query_map(params![bucket], upload_columns)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        rows.into_iter().map(upload_from_columns).collect()
    }

    fn put_part(
        &self,
        upload_id: &str,
        part: &UploadedPart,
    ) -> Result<(bool, Option<String>), StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let exists = transaction
            .query_row(
                "SELECT 1 FROM multipart_uploads WHERE upload_id = ?1",
                params![upload_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        if !exists {
            return Ok((false, None));
        }
        let replaced: Option<String> = transaction
            .query_row(
                "SELECT body_id FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, part.part_number],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO multipart_parts
                     (upload_id, part_number, body_id, size, etag, last_modified_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    upload_id,
                    part.part_number,
                    part.body_id,
                    part.size as i64,
                    part.etag,
                    part.last_modified_ms
                ],
            )
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok((true, replaced))
    }

    fn list_parts(&self, upload_id: &str) -> Result<Vec<UploadedPart>, StoreError> {
        self.connection()
            .prepare_cached(
                "SELECT part_number, body_id, size, etag, last_modified_ms FROM multipart_parts
                 WHERE upload_id = ?1 ORDER BY part_number",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(params![upload_id], |row| {
                        Ok(UploadedPart {
                            part_number: row.get(0)?,
                            body_id: row.get(1)?,
                            size: row.get::<_, i64>(2)? as u64,
                            etag: row.get(3)?,
                            last_modified_ms: row.get(4)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)
    }

    fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let bodies = remove_upload(&transaction, upload_id)?;
        transaction.commit().map_err(backend)?;
        Ok(bodies)
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectMeta,
        events: &[AsyncInvocation],
    ) -> Result<Option<CompletedUpload>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        let Some(parts) = remove_upload(&transaction, upload_id)? else {
            return Ok(None);
        };
        let replaced = write_object(&transaction, object)?;
        enqueue(&transaction, events)?;
        transaction.commit().map_err(backend)?;
        Ok(Some(CompletedUpload { replaced, parts }))
    }

    fn referenced_bodies(&self) -> Result<BTreeSet<String>, StoreError> {
        self.connection()
            .prepare("SELECT body_id FROM objects UNION SELECT body_id FROM multipart_parts")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<BTreeSet<String>, _>>()
            })
            .map_err(backend)
    }
}

const OBJECT_COLUMNS: &str =
    "bucket, key, body_id, size, etag, last_modified_ms, parts_count, headers";

const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, initiated_ms, headers";

/// Writes an object's row; returns the body of the row it replaced.
fn write_object(
    transaction: &Transaction<'_>,
    object: &ObjectMeta,
) -> Result<Option<String>, StoreError> {
    let headers = headers_to_json(&object.headers)?;
    let replaced: Option<String> = transaction
        .query_row(
            "SELECT body_id FROM objects WHERE bucket = ?1 AND key = ?2",
            params![object.bucket, object.key],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    transaction
        .execute(
            "INSERT OR REPLACE INTO objects
                 (bucket, key, body_id, size, etag, last_modified_ms, parts_count,
                  headers_version, headers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                object.bucket,
                object.key,
                object.body_id,
                object.size as i64,
                object.etag,
                object.last_modified_ms,
                object.parts_count,
                STORED_HEADERS_VERSION,
                headers
            ],
        )
        .map_err(backend)?;
    Ok(replaced)
}

/// Queues invocations in the same transaction as the write that caused them.
fn enqueue(transaction: &Transaction<'_>, events: &[AsyncInvocation]) -> Result<(), StoreError> {
    for invocation in events {
        transaction
            .execute(
                "INSERT INTO async_invocations
                     (request_id, function_name, qualifier, payload, enqueued_ms, attempts, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    invocation.request_id,
                    invocation.function_name,
                    invocation.qualifier,
                    invocation.payload,
                    invocation.enqueued_ms,
                    invocation.attempts,
                    invocation.next_attempt_ms,
                ],
            )
            .map_err(backend)?;
    }
    Ok(())
}

/// Deletes an upload and its parts; returns the parts' bodies.
fn remove_upload(
    transaction: &Transaction<'_>,
    upload_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let bodies = transaction
        .prepare("SELECT body_id FROM multipart_parts WHERE upload_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_map(params![upload_id], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(backend)?;
    let removed = transaction
        .execute(
            "DELETE FROM multipart_uploads WHERE upload_id = ?1",
            params![upload_id],
        )
        .map_err(backend)?;
    Ok((removed == 1).then_some(bodies))
}

type BucketColumns = (String, i64, String);

fn bucket_columns(row: &Row<'_>) -> rusqlite::Result<BucketColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn bucket_from_columns(
    (name, created_ms, notification): BucketColumns,
) -> Result<Bucket, StoreError> {
    let stored: StoredNotification = serde_json::from_str(&notification).map_err(backend)?;
    Ok(Bucket {
        name,
        created_ms,
        notification: NotificationConfiguration {
            lambda_functions: stored
                .lambda_functions
                .into_iter()
                .map(|c| LambdaNotification {
                    id: c.id,
                    function_arn: c.function_arn,
                    events: c.events,
                    prefix: c.prefix,
                    suffix: c.suffix,
                })
                .collect(),
        },
    })
}

type ObjectColumns = (
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<u32>,
    String,
);

fn object_columns(row: &Row<'_>) -> rusqlite::Result<ObjectColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

fn object_from_columns(columns: ObjectColumns) -> Result<ObjectMeta, StoreError> {
    let (bucket, key, body_id, size, etag, last_modified_ms, parts_count, headers) = columns;
    Ok(ObjectMeta {
        bucket,
        key,
        body_id,
        size: size as u64,
        etag,
        last_modified_ms,
        headers: headers_from_json(&headers)?,
        parts_count,
    })
}

type UploadColumns = (String, String, String, i64, String);

fn upload_columns(row: &Row<'_>) -> rusqlite::Result<UploadColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn upload_from_columns(
    (upload_id, bucket, key, initiated_ms, headers): UploadColumns,
) -> Result<MultipartUpload, StoreError> {
    Ok(MultipartUpload {
        upload_id,
        bucket,
        key,
        initiated_ms,
        headers: headers_from_json(&headers)?,
    })
}

/// The stored shape of [`StoredHeaders`], version 1; unknown fields are
/// ignored and missing ones are empty.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredHeadersV1 {
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<String>,
    website_redirect_location: Option<String>,
    user_metadata: Vec<(String, String)>,
}

fn headers_to_json(headers: &StoredHeaders) -> Result<String, StoreError> {
    serde_json::to_string(&StoredHeadersV1 {
        content_type: headers.content_type.clone(),
        content_encoding: headers.content_encoding.clone(),
        content_disposition: headers.content_disposition.clone(),
        content_language: headers.content_language.clone(),
        cache_control: headers.cache_control.clone(),
        expires: headers.expires.clone(),
        website_redirect_location: headers.website_redirect_location.clone(),
        user_metadata: headers.user_metadata.clone(),
    })
    .map_err(backend)
}

fn headers_from_json(json: &str) -> Result<StoredHeaders, StoreError> {
    let stored: StoredHeadersV1 = serde_json::from_str(json).map_err(backend)?;
    Ok(StoredHeaders {
        content_type: stored.content_type,
        content_encoding: stored.content_encoding,
        content_disposition: stored.content_disposition,
        content_language: stored.content_language,
        cache_control: stored.cache_control,
        expires: stored.expires,
        website_redirect_location: stored.website_redirect_location,
        user_metadata: stored.user_metadata,
    })
}

/// The stored shape of a bucket's notification configuration.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredNotification {
    lambda_functions: Vec<StoredLambdaNotification>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredLambdaNotification {
    id: String,
    function_arn: String,
    events: Vec<String>,
    prefix: Option<String>,
    suffix: Option<String>,
}

fn notification_to_json(notification: &NotificationConfiguration) -> Result<String, StoreError> {
    serde_json::to_string(&StoredNotification {
        lambda_functions: notification
            .lambda_functions
            .iter()
            .map(|c| StoredLambdaNotification {
                id: c.id.clone(),
                function_arn: c.function_arn.clone(),
                events: c.events.clone(),
                prefix: c.prefix.clone(),
                suffix: c.suffix.clone(),
            })
            .collect(),
    })
    .map_err(backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayo_core::store::InvocationQueue;

    fn object(key: &str, body_id: &str) -> ObjectMeta {
        ObjectMeta {
            bucket: "photos".to_string(),
            key: key.to_string(),
            body_id: body_id.to_string(),
            size: 3,
            etag: "900150983cd24fb0d6963f7d28e17f72".to_string(),
            last_modified_ms: 1,
            headers: StoredHeaders {
                content_type: Some("text/plain".to_string()),
                user_metadata: vec![("colour".to_string(), "blue".to_string())],
                ..StoredHeaders::default()
            },
            parts_count: None,
        }
    }

    fn state_with_bucket() -> SqliteState {
        let state = SqliteState::open_in_memory().unwrap();
        let bucket = Bucket {
            name: "photos".to_string(),
            created_ms: 1,
            notification: NotificationConfiguration::default(),
        };
        assert!(state.create_bucket(&bucket).unwrap());
        assert!(!state.create_bucket(&bucket).unwrap());
        state
    }

    #[test]
    fn a_key_and_a_key_below_it_coexist() {
        let state = state_with_bucket();
        assert_eq!(state.put_object(&object("a", "b1"), &[]).unwrap(), None);
        assert_eq!(state.put_object(&object("a/b", "b2"), &[]).unwrap(), None);
        assert_eq!(
            state.get_object("photos", "a").unwrap().unwrap(),
            object("a", "b1")
        );
        assert_eq!(
            state.get_object("photos", "a/b").unwrap().unwrap().body_id,
            "b2"
        );
        assert_eq!(
            state.put_object(&object("a", "b3"), &[]).unwrap(),
            Some("b1".to_string())
        );
        let listed = state
            .list_objects(&ObjectQuery {
                bucket: "photos",
                prefix: "a",
                after: None,
                limit: 10,
            })
            .unwrap();
        let keys: Vec<_> = listed.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a", "a/b"]);
        let listed = state
            .list_objects(&ObjectQuery {
                bucket: "photos",
                prefix: "a/",
                after: None,
                limit: 10,
            })
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            state.delete_bucket("photos").unwrap().0,
            DeleteBucketOutcome::NotEmpty
        );
    }

    #[test]
    fn a_write_and_its_events_commit_together() {
        let state = state_with_bucket();
        let event = AsyncInvocation {
            request_id: "r1".to_string(),
            function_name: "f".to_string(),
            qualifier: None,
            payload: b"{}".to_vec(),
            enqueued_ms: 1,
            attempts: 0,
            next_attempt_ms: 1,
        };
        state
            .put_object(&object("k", "b1"), std::slice::from_ref(&event))
            .unwrap();
        assert_eq!(state.claim_due(10, 20, 10).unwrap(), vec![event.clone()]);
        // Deleting a missing key queues nothing.
        let second = AsyncInvocation {
            request_id: "r2".to_string(),
            ..event
        };
        assert!(
            state
                .delete_object("photos", "nope", std::slice::from_ref(&second))
                .unwrap()
                .is_none()
        );
        assert!(
            state
                .delete_object("photos", "k", &[second])
                .unwrap()
                .is_some()
        );
        assert_eq!(state.claim_due(10, 20, 10).unwrap().len(), 1);
    }

    #[test]
    fn multipart_uploads_complete_into_objects() {
        let state = state_with_bucket();
        let upload = MultipartUpload {
            upload_id: "u1".to_string(),
            bucket: "photos".to_string(),
            key: "big".to_string(),
            initiated_ms: 1,
            headers: StoredHeaders::default(),
        };
        state.create_upload(&upload).unwrap();
        let part = |n: u32, body: &str| UploadedPart {
            part_number: n,
            body_id: body.to_string(),
            size: 5,
            etag: "e".to_string(),
            last_modified_ms: 1,
        };
        assert_eq!(state.put_part("u1", &part(1, "p1")).unwrap(), (true, None));
        assert_eq!(
            state.put_part("u1", &part(1, "p2")).unwrap(),
            (true, Some("p1".to_string()))
        );
        assert_eq!(
            state.put_part("nope", &part(1, "p3")).unwrap(),
            (false, None)
        );
        assert_eq!(state.list_parts("u1").unwrap(), vec![part(1, "p2")]);
        assert_eq!(state.list_uploads("photos").unwrap(), vec![upload]);
        let done = state
            .complete_upload("u1", &object("big", "o1"), &[])
            .unwrap();
        assert_eq!(
            done,
            Some(CompletedUpload {
                replaced: None,
                parts: vec!["p2".to_string()]
            })
        );
        assert!(state.get_upload("u1").unwrap().is_none());
        assert_eq!(
            state.referenced_bodies().unwrap(),
            BTreeSet::from(["o1".to_string()])
        );
    }
}
