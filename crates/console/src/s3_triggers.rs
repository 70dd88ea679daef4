//! `/api/s3/…`: bucket notifications, the S3 triggers of the Configuration
//! tab. S3's API wants SigV4 signatures, for which a browser session holds
//! no secret, so the console reads and writes a bucket's notification
//! configuration itself, with the checks S3 applies (known event types, no
//! overlapping configurations, an existing destination function).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rayo_core::FunctionRef;
use rayo_core::s3::{LambdaNotification, NotificationConfiguration};
use rayo_core::store::{FunctionStore, StoreError};
use serde::Deserialize;

use crate::{Console, error};

#[derive(Debug, Deserialize)]
pub(crate) struct ForFunction {
    function: String,
}

/// `GET /api/s3/notifications?function=NAME`: every bucket's name, and the
/// notifications that invoke the function.
pub(crate) async fn list(
    State(console): State<Arc<Console>>,
    Query(query): Query<ForFunction>,
) -> Response {
    let objects = console.config.objects.clone();
    let listed = tokio::task::spawn_blocking(move || objects.list_buckets()).await;
    let buckets = match listed {
        Ok(Ok(buckets)) => buckets,
        Ok(Err(store)) => return store_error(&store),
        Err(_) => return store_error(&StoreError::Backend("the read stopped".into())),
    };
    let mut notifications = Vec::new();
    for bucket in &buckets {
        for config in &bucket.notification.lambda_functions {
            let invokes = FunctionRef::parse(&config.function_arn)
                .is_ok_and(|function| function.name == query.function);
            if invokes {
                notifications.push(serde_json::json!({
                    "Bucket": bucket.name,
                    "Id": config.id,
                    "Events": config.events,
                    "Prefix": config.prefix,
                    "Suffix": config.suffix,
                }));
            }
        }
    }
    let names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
    Json(serde_json::json!({ "Buckets": names, "Notifications": notifications })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Notification {
    function: String,
    events: Vec<String>,
    prefix: Option<String>,
    suffix: Option<String>,
}

/// `PUT /api/s3/buckets/{bucket}/notifications/{id}`: adds the
/// notification, or replaces the one with that id.
pub(crate) async fn put(
    State(console): State<Arc<Console>>,
    Path((bucket, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(input) = serde_json::from_slice::<Notification>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "expected {\"Function\": …, \"Events\": […], \"Prefix\": …, \"Suffix\": …}",
        );
    };
    let empty_to_none = |affix: Option<String>| affix.filter(|text| !text.is_empty());
    let notification = LambdaNotification {
        id: id.clone(),
        function_arn: console.config.region.function_arn(&input.function),
        events: input.events,
        prefix: empty_to_none(input.prefix),
        suffix: empty_to_none(input.suffix),
    };
    let function = input.function;
    change(console, bucket, move |config, functions| {
        if functions.get_function(&function)?.is_none() {
            return Ok(Err(error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Function not found: {function}"),
            )));
        }
        config.lambda_functions.retain(|c| c.id != notification.id);
        config.lambda_functions.push(notification);
        Ok(Ok(()))
    })
    .await
}

/// `DELETE /api/s3/buckets/{bucket}/notifications/{id}`.
pub(crate) async fn delete(
    State(console): State<Arc<Console>>,
    Path((bucket, id)): Path<(String, String)>,
) -> Response {
    change(console, bucket, move |config, _| {
        config.lambda_functions.retain(|c| c.id != id);
        Ok(Ok(()))
    })
    .await
}

/// Reads the bucket's configuration, edits it, checks it as S3 does and
/// writes it back.
async fn change<F>(console: Arc<Console>, bucket: String, edit: F) -> Response
where
    F: FnOnce(
            &mut NotificationConfiguration,
            &dyn FunctionStore,
        ) -> Result<Result<(), Response>, StoreError>
        + Send
        + 'static,
{
    let objects = console.config.objects.clone();
    let functions = console.config.functions.clone();
    let done = tokio::task::spawn_blocking(move || -> Result<Response, StoreError> {
        let Some(found) = objects.get_bucket(&bucket)? else {
            return Ok(no_such_bucket(&bucket));
        };
        let mut config = found.notification;
        if let Err(refused) = edit(&mut config, functions.as_ref())? {
            return Ok(refused);
        }
        if let Err(invalid) = config.validate() {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                &invalid.to_string(),
            ));
        }
        if !objects.put_notification(&bucket, &config)? {
            return Ok(no_such_bucket(&bucket));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await;
    match done {
        Ok(Ok(response)) => response,
        Ok(Err(store)) => store_error(&store),
        Err(_) => store_error(&StoreError::Backend("the change stopped".into())),
    }
}

fn no_such_bucket(bucket: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        &format!("The specified bucket does not exist: {bucket}"),
    )
}

fn store_error(store: &StoreError) -> Response {
    tracing::error!(error = %store, "the console's bucket notification change failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        "the server could not read or write the bucket",
    )
}
