//! rayo's edge: one listener, dispatched the way AWS's endpoints tell
//! services apart. Function URLs and HTTP APIs come first, by host name
//! (`<id>.lambda-url.…`, `<id>.execute-api.…`) or by their path forms
//! (`/_rayo/url/<id>/…`, `/_rayo/api/<id>/…`), whatever their path; then
//! dated `/20xx-xx-xx/` paths go to the Lambda API, `/v2/` to the API
//! Gateway v2 API, `X-Amz-Target: Logs_20140328.*` to the Logs API,
//! `AWSEvents.*` to EventBridge, `/_rayo/` to rayo's own pages (the web
//! console, when nested by [`router_with_console`], under
//! `/_rayo/console/`), an unsigned `GET /metrics` to the Prometheus scrape,
//! and the rest to S3. A request addressed to a bucket's host or signed for
//! the `s3` service goes to S3 whatever its path, so a bucket may be called
//! `v2`, `_rayo` or `metrics`.

#![forbid(unsafe_code)]

mod apigatewayv2;
mod body;
mod code_url;
mod error;
mod events;
mod lambda;
mod logs;
mod metrics;
mod prometheus;
mod sqs;

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rayo_core::Region;
use rayo_core::event_source::EventSourceMappingStore;
use rayo_core::queue::QueueStore;
use rayo_core::s3::{ObjectBodyStore, ObjectStore};
use rayo_core::store::{
    CodeStore, FunctionStore, HttpTriggerStore, LayerStore, LogStore, RuleStore,
};
use rayo_gateway::Gateway;
use rayo_invoker::Invoker;
use rayo_runtimes::RuntimeCatalog;
use rayo_s3::S3Endpoint;

pub use code_url::CodeUrlSigner;
pub use error::LambdaError;
pub use lambda::provisioned_concurrency::restore_provisioned_concurrency;
pub use sqs::QueueNotifier;

/// Everything the APIs work with.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Region and account for ARNs.
    pub region: Region,
    /// Function metadata.
    pub functions: Arc<dyn FunctionStore>,
    /// Code packages.
    pub code: Arc<dyn CodeStore>,
    /// Layers and their versions.
    pub layers: Arc<dyn LayerStore>,
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
    /// EventBridge rules and targets.
    pub rules: Arc<dyn RuleStore>,
    /// Wakes the scheduler after a rule changes.
    pub rules_changed: Arc<tokio::sync::Notify>,
    /// SQS queues and their messages.
    pub queues: Arc<dyn QueueStore>,
    /// Wakes SQS long polls and event source pollers when messages arrive.
    pub queue_notifier: QueueNotifier,
    /// Event source mappings (queues polled for functions).
    pub event_source_mappings: Arc<dyn EventSourceMappingStore>,
    /// Wakes the event source pollers after a mapping changes.
    pub mappings_changed: Arc<tokio::sync::Notify>,
    /// Function URLs and HTTP APIs.
    pub http_triggers: Arc<dyn HttpTriggerStore>,
    /// Serves function URLs and HTTP APIs.
    pub gateway: Gateway,
    /// Buckets and objects' metadata (deployment packages from buckets).
    pub objects: Arc<dyn ObjectStore>,
    /// Objects' bytes.
    pub object_bodies: Arc<dyn ObjectBodyStore>,
    /// The S3 API.
    pub s3: S3Endpoint,
}

/// The edge router: every API on one listener.
pub fn router(state: ApiState) -> Router {
    edge_router(state, None)
}

/// The edge router with the web console's routes nested under
/// `/_rayo/console` (and `/_rayo/` sending browsers there). Function URLs,
/// HTTP APIs and S3 requests are told apart first, as for every path.
pub fn router_with_console(state: ApiState, console: Router) -> Router {
    edge_router(state, Some(console))
}

/// The routes of the console's metrics (`/summary`, `/functions/{name}`),
/// for the console to serve under `/_rayo/console/api/metrics/` behind its
/// access checks.
pub fn console_metrics_router(state: ApiState) -> Router {
    metrics::console_routes().with_state(Arc::new(state))
}

fn edge_router(state: ApiState, console: Option<Router>) -> Router {
    let state = Arc::new(state);
    let mut routes = Router::new()
        .merge(lambda::routes())
        .merge(apigatewayv2::routes())
        .route("/_rayo/health", get(|| async { "ok\n" }))
        .route("/_rayo/metrics", get(prometheus::scrape))
        // Requests for a bucket named `metrics` are signed (or addressed to
        // the bucket's host) and went to S3 above; S3 refuses unsigned
        // requests anyway, so an unsigned GET here is a scrape. Other
        // methods are left to the S3 fallback.
        .route(
            "/metrics",
            get(prometheus::scrape).fallback(dispatch_by_target),
        )
        .route("/_rayo/code/{file}", get(code_url::download));
    if let Some(console) = console {
        let to_console = || async { axum::response::Redirect::to("/_rayo/console/") };
        routes = routes
            .route("/_rayo", get(to_console))
            .route("/_rayo/", get(to_console))
            .nest_service("/_rayo/console", console);
    }
    routes
        .fallback(dispatch_by_target)
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Every request's first stop, in one middleware: a function URL's or an
/// HTTP API's request goes to the gateway, whatever its path, so it never
/// reaches the AWS APIs; then a request for a bucket's host, or signed for
/// S3, goes to the S3 API; the rest go to the routes, and their responses
/// get a request id.
async fn edge(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host());
    if let Some(target) = rayo_gateway::target(host, request.uri().path()) {
        let source_ip = source_ip(&request);
        return state.gateway.serve(target, request, source_ip).await;
    }
    if rayo_s3::is_s3_request(&request) {
        let source_ip = source_ip(&request);
        return state.s3.serve(request, source_ip).await;
    }
    with_request_id(next.run(request).await)
}

/// The client's address.
fn source_ip(request: &Request) -> std::net::IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |info| info.0.ip())
}

/// Every AWS response carries a request id; handlers that know the id of
/// the work they did (Invoke) set it themselves.
fn with_request_id(mut response: Response) -> Response {
    if !response.headers().contains_key("x-amzn-requestid") {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
    }
    response
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
        Some(target) if target.starts_with("AmazonSQS.") => {
            let operation = target["AmazonSQS.".len()..].to_string();
            sqs::handle_json(state, operation, request).await
        }
        Some(target) if target.starts_with("AWSEvents.") => {
            let operation = target["AWSEvents.".len()..].to_string();
            events::handle(state, operation, request).await
        }
        // SQS's query protocol: `Action=` forms to `/` or a queue URL.
        None if sqs::is_query_request(&request) => sqs::handle_query(state, request).await,
        // Unsigned requests to the other APIs' paths are theirs, not a bucket's.
        None if !is_api_path(request.uri().path()) => {
            let source_ip = source_ip(&request);
            state.s3.serve(request, source_ip).await
        }
        _ => LambdaError::unknown_operation(request.method().as_str(), request.uri().path())
            .into_response(),
    }
}

/// Paths of the Lambda API (dated), API Gateway v2 and rayo's own pages.
fn is_api_path(path: &str) -> bool {
    let dated = path.as_bytes().get(1..12).is_some_and(|date| {
        date.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'/',
            _ => b.is_ascii_digit(),
        })
    });
    dated || path.starts_with("/v2/") || path.starts_with("/_rayo/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_not_buckets() {
        for path in [
            "/2015-03-31/functions",
            "/2021-10-31/functions/f/url",
            "/v2/apis",
            "/_rayo/health",
        ] {
            assert!(is_api_path(path), "{path}");
        }
        for path in ["/", "/photos", "/photos/2015-03-31/a", "/v2", "/2015-03-31"] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
