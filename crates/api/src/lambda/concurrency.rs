//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency and
//! DeleteFunctionConcurrency.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::functions::{load_function, save, total_reserved};
use super::shapes::parse_json;
use crate::ApiState;
use crate::error::LambdaError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutFunctionConcurrencyIn {
    reserved_concurrent_executions: Option<i64>,
}

/// The unreserved concurrency Lambda insists on keeping: 100 of the default
/// 1,000, or a tenth of a smaller account limit.
pub(crate) fn minimum_unreserved(account_limit: u32) -> u32 {
    100.min(account_limit / 10)
}

/// `PUT /2017-10-31/functions/{name}/concurrency`
pub(crate) async fn put_function_concurrency(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
    body: Bytes,
) -> Result<Response, LambdaError> {
    let input: PutFunctionConcurrencyIn = parse_json(&body)?;
    let Some(requested) = input.reserved_concurrent_executions else {
        return Err(LambdaError::validation(
            "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
        ));
    };
    if requested < 0 {
        return Err(LambdaError::validation(format!(
            "1 validation error detected: Value '{requested}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"
        )));
    }
    let mut record = load_function(&state, &function_name, None)?;
    let others: u32 = total_reserved(&state)? - record.reserved_concurrency.unwrap_or(0);
    let minimum = minimum_unreserved(state.account_concurrency);
    let requested = u32::try_from(requested).unwrap_or(u32::MAX);
    let unreserved_after =
        i64::from(state.account_concurrency) - i64::from(others) - i64::from(requested);
    if unreserved_after < i64::from(minimum) {
        return Err(LambdaError::invalid_parameter(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )));
    }
    // Provisioned instances run within the reservation, so it must hold them.
    let provisioned: u32 = state
        .functions
        .list_provisioned_concurrency(Some(&record.config.name))?
        .iter()
        .map(|c| c.requested)
        .sum();
    if requested < provisioned {
        return Err(LambdaError::invalid_parameter(format!(
            "ReservedConcurrentExecutions ({requested}) must be at least the function's provisioned concurrency ({provisioned})."
        )));
    }
    record.reserved_concurrency = Some(requested);
    let revision = record.config.revision_id.clone();
    save(&state, &record, &revision)?;
    state
        .invoker
        .executor()
        .set_total_reserved(others + requested)
        .await;
    // Provisioned instances now count within the reservation.
    super::provisioned_concurrency::apply(&state, &record.config.name).await?;
    Ok(Json(json!({ "ReservedConcurrentExecutions": requested })).into_response())
}

/// `GET /2019-09-30/functions/{name}/concurrency`
pub(crate) async fn get_function_concurrency(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
) -> Result<Response, LambdaError> {
    let record = load_function(&state, &function_name, None)?;
    let out = match record.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(Json(out).into_response())
}

/// `DELETE /2017-10-31/functions/{name}/concurrency`
pub(crate) async fn delete_function_concurrency(
    State(state): State<Arc<ApiState>>,
    Path(function_name): Path<String>,
) -> Result<Response, LambdaError> {
    let mut record = load_function(&state, &function_name, None)?;
    if record.reserved_concurrency.take().is_some() {
        let revision = record.config.revision_id.clone();
        save(&state, &record, &revision)?;
        let total = total_reserved(&state)?;
        state.invoker.executor().set_total_reserved(total).await;
        super::provisioned_concurrency::apply(&state, &record.config.name).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_unreserved_scales_with_small_limits() {
        assert_eq!(minimum_unreserved(1000), 100);
        assert_eq!(minimum_unreserved(190), 19);
        assert_eq!(minimum_unreserved(5), 0);
    }
}
