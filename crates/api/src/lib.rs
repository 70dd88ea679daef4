//! rayo's edge: one listener, dispatched the way AWS's endpoints tell
//! services apart. Dated `/20xx-xx-xx/` paths go to the Lambda API,
//! `X-Amz-Target: Logs_20140328.*` to the Logs API, `/_rayo/` to rayo's own
//! pages, and the rest will be S3.

#![forbid(unsafe_code)]

mod body;
mod code_url;
mod error;
mod lambda;
mod logs;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rayo_core::Region;
use rayo_core::store::{CodeStore, FunctionStore, LogStore};
use rayo_invoker::Invoker;
use rayo_runtimes::RuntimeCatalog;

pub use code_url::CodeUrlSigner;
pub use error::LambdaError;

/// Everything the APIs work with.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Region and account for ARNs.
    pub region: Region,
    /// Function metadata.
    pub functions: Arc<dyn FunctionStore>,
    /// Code packages.
    pub code: Arc<dyn CodeStore>,
    /// Logs.
    pub logs: Arc<dyn LogStore>,
    /// Runs invocations.
    pub invoker: Invoker,
    /// Runtimes this host offers.
    pub catalog: Arc<RuntimeCatalog>,
    /// Signs `Code.Location` download links.
    pub code_urls: CodeUrlSigner,
    /// Concurrent executions allowed across all functions.
    pub account_concurrency: u32,
}

/// The edge router: every API on one listener.
pub fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .merge(lambda::routes())
        .route("/_rayo/health", get(|| async { "ok\n" }))
        .route("/_rayo/code/{file}", get(code_url::download))
        .fallback(dispatch_by_target)
        .with_state(state)
}

/// Requests whose path does not name the service: JSON protocols say it in
/// `X-Amz-Target`.
async fn dispatch_by_target(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match target.as_deref() {
        Some(target) if target.starts_with("Logs_20140328.") => {
            let operation = target["Logs_20140328.".len()..].to_string();
            logs::handle(state, operation, request).await
        }
        _ => LambdaError::unknown_operation(request.method().as_str(), request.uri().path())
            .into_response(),
    }
}
