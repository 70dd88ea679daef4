//! GetAccountSettings.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use rayo_core::limits;
use serde_json::{Value, json};

use crate::ApiState;

/// `GET /2016-08-19/account-settings`
pub(crate) async fn get_account_settings(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let records = state
        .functions
        .list_functions(None, usize::MAX)
        .unwrap_or_default();
    let code_size: u64 = records.iter().map(|r| r.config.code.size).sum();
    let reserved: u32 = records.iter().filter_map(|r| r.reserved_concurrency).sum();
    Json(json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800u64,
            "CodeSizeUnzipped": limits::UNZIPPED_MAX_BYTES,
            "CodeSizeZipped": limits::ZIP_DIRECT_MAX_BYTES,
            "ConcurrentExecutions": state.account_concurrency,
            "UnreservedConcurrentExecutions": state.account_concurrency.saturating_sub(reserved)
        },
        "AccountUsage": {
            "TotalCodeSize": code_size,
            "FunctionCount": records.len()
        }
    }))
}
