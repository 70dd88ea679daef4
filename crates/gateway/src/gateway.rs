//! [`Gateway`]: serves requests for function URLs and HTTP APIs by
//! invoking their functions, answering errors as API Gateway does.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, Version};
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use rayo_core::http_trigger::{
    FunctionUrlAuthType, FunctionUrlConfig, HttpApi, Integration, PayloadFormatVersion, Route,
    Stage, integration_function_arn,
};
use rayo_core::store::HttpTriggerStore;
use rayo_core::{Credentials, FunctionRef, Region, limits};
use rayo_executor::{ExecutorError, InvocationOutcome};
use rayo_invoker::{InvokeError, InvokeRequest, Invoker};
use serde_json::json;
use time::OffsetDateTime;

use crate::event::{EventContext, HttpRequest, event_v1, event_v2};
use crate::response::parse_response;
use crate::routes::RouteTable;
use crate::{Target, cors, sigv4};

/// Largest request body an HTTP API accepts.
pub const HTTP_API_BODY_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Serves function URLs and HTTP APIs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn HttpTriggerStore>,
    invoker: Invoker,
    region: Region,
    edge_port: u16,
    /// The keys whose signatures `AWS_IAM` function URLs accept.
    credentials: Credentials,
    /// Route tables by API id, rebuilt when the API's revision moves on.
    apis: Mutex<HashMap<String, Arc<CompiledApi>>>,
}

/// An API's configuration as one request needs it.
#[derive(Debug)]
struct CompiledApi {
    api: HttpApi,
    routes: Vec<Route>,
    table: RouteTable,
    integrations: HashMap<String, Integration>,
    stages: HashMap<String, Stage>,
}

impl Gateway {
    /// A gateway over these triggers, invoking through `invoker`; URLs it
    /// hands out name `edge_port`, the port rayo listens on; `AWS_IAM`
    /// function URLs let in requests signed with one of `credentials`.
    pub fn new(
        store: Arc<dyn HttpTriggerStore>,
        invoker: Invoker,
        region: Region,
        edge_port: u16,
        credentials: Credentials,
    ) -> Gateway {
        Gateway {
            inner: Arc::new(Inner {
                store,
                invoker,
                region,
                edge_port,
                credentials,
                apis: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A function URL's host name: `<url-id>.lambda-url.<region>.localhost`.
    pub fn function_url_host(&self, url_id: &str) -> String {
        format!("{url_id}.lambda-url.{}.localhost", self.inner.region.name)
    }

    /// A function URL: `http://<url-id>.lambda-url.<region>.localhost:<port>/`.
    pub fn function_url(&self, url_id: &str) -> String {
        format!(
            "http://{}:{}/",
            self.function_url_host(url_id),
            self.inner.edge_port
        )
    }

    /// An HTTP API's host name: `<api-id>.execute-api.localhost`.
    pub fn api_host(&self, api_id: &str) -> String {
        format!("{api_id}.execute-api.localhost")
    }

    /// An HTTP API's endpoint: `http://<api-id>.execute-api.localhost:<port>`.
    pub fn api_endpoint(&self, api_id: &str) -> String {
        format!("http://{}:{}", self.api_host(api_id), self.inner.edge_port)
    }

    /// Answers a request for a function URL or an HTTP API.
    pub async fn serve(
        &self,
        target: Target,
        request: Request<Body>,
        source_ip: IpAddr,
    ) -> Response<Body> {
        let (parts, body) = request.into_parts();
        match target {
            Target::FunctionUrl {
                url_id,
                path,
                host_name,
            } => {
                let host_name = host_name.unwrap_or_else(|| self.function_url_host(&url_id));
                self.serve_function_url(&url_id, path, host_name, parts, body, source_ip)
                    .await
            }
            Target::HttpApi {
                api_id,
                path,
                host_name,
            } => {
                let host_name = host_name.unwrap_or_else(|| self.api_host(&api_id));
                self.serve_http_api(&api_id, path, host_name, parts, body, source_ip)
                    .await
            }
        }
    }

    async fn serve_function_url(
        &self,
        url_id: &str,
        path: String,
        host_name: String,
        parts: Parts,
        body: Body,
        source_ip: IpAddr,
    ) -> Response<Body> {
        let config = match self.inner.store.function_url_by_id(url_id) {
            Ok(Some(config)) => config,
            Ok(None) => return message(StatusCode::NOT_FOUND, "Not Found"),
            Err(error) => {
                tracing::error!(%error, url_id, "reading a function URL failed");
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        };
        let origin = header(&parts, "origin");
        if let Some(cors) = &config.cors
            && let Some(answer) = preflight(cors, &parts, StatusCode::OK)
        {
            return answer;
        }
        let Some(body) = read_body(body, limits::SYNC_PAYLOAD_MAX_BYTES).await else {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        };
        let authorizer = match config.auth_type {
            FunctionUrlAuthType::None => None,
            FunctionUrlAuthType::AwsIam => {
                let verified = sigv4::verify(
                    &parts,
                    &body,
                    &self.inner.credentials,
                    (&self.inner.region.name, "lambda"),
                    OffsetDateTime::now_utc(),
                );
                match verified {
                    Ok(access_key) => Some(iam_authorizer(&access_key, &self.inner.region)),
                    Err(denied) => {
                        tracing::debug!(
                            ?denied,
                            url_id,
                            "an AWS_IAM function URL refused a request"
                        );
                        let mut response = json_response(
                            StatusCode::FORBIDDEN,
                            json!({ "Message": "Forbidden" }).to_string(),
                        );
                        add_cors(&mut response, config.cors.as_ref(), origin);
                        return response;
                    }
                }
            }
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut response = self
            .invoke_function_url(
                &config,
                path,
                host_name,
                &parts,
                body,
                source_ip,
                authorizer,
                &request_id,
            )
            .await;
        add_cors(&mut response, config.cors.as_ref(), origin);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
        response
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one request, passed on once"
    )]
    async fn invoke_function_url(
        &self,
        config: &FunctionUrlConfig,
        path: String,
        host_name: String,
        parts: &Parts,
        body: Bytes,
        source_ip: IpAddr,
        authorizer: Option<serde_json::Value>,
        request_id: &str,
    ) -> Response<Body> {
        let request = self.http_request(parts, path, body, source_ip);
        let context = EventContext {
            account_id: match authorizer {
                Some(_) => self.inner.region.account_id.clone(),
                None => "anonymous".to_string(),
            },
            api_id: config.url_id.clone(),
            domain_prefix: config.url_id.clone(),
            domain_name: host_name,
            request_id: request_id.to_string(),
            route_key: "$default".to_string(),
            stage: "$default".to_string(),
            path_parameters: BTreeMap::new(),
            stage_variables: BTreeMap::new(),
            authorizer,
        };
        let payload =
            serde_json::to_vec(&event_v2(&request, &context)).expect("an event serializes");
        if payload.len() > limits::SYNC_PAYLOAD_MAX_BYTES {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let invocation = InvokeRequest {
            function: FunctionRef {
                name: config.function_name.clone(),
                qualifier: config.qualifier.clone(),
            },
            payload: Bytes::from(payload),
            client_context: None,
            request_id: Some(request_id.to_string()),
        };
        let outcome = self.inner.invoker.invoke(invocation).await;
        respond(outcome, PayloadFormatVersion::V2)
    }

    async fn serve_http_api(
        &self,
        api_id: &str,
        path: String,
        host_name: String,
        parts: Parts,
        body: Body,
        source_ip: IpAddr,
    ) -> Response<Body> {
        let compiled = match self.compiled_api(api_id) {
            Ok(Some(compiled)) => compiled,
            Ok(None) => return message(StatusCode::NOT_FOUND, "Not Found"),
            Err(error) => {
                tracing::error!(%error, api_id, "reading an HTTP API failed");
                return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        };
        if compiled.api.disable_execute_api_endpoint {
            return message(StatusCode::FORBIDDEN, "Forbidden");
        }
        let origin = header(&parts, "origin");
        let cors_config = compiled.api.cors.as_ref();
        if let Some(cors) = cors_config
            && let Some(answer) = preflight(cors, &parts, StatusCode::NO_CONTENT)
        {
            return answer;
        }
        let request_id = apigw_request_id();
        let mut response = self
            .invoke_http_api(
                &compiled,
                path,
                host_name,
                &parts,
                body,
                source_ip,
                &request_id,
            )
            .await;
        add_cors(&mut response, cors_config, origin);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("apigw-requestid", value);
        }
        response
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one request, passed on once"
    )]
    async fn invoke_http_api(
        &self,
        compiled: &CompiledApi,
        path: String,
        host_name: String,
        parts: &Parts,
        body: Body,
        source_ip: IpAddr,
        request_id: &str,
    ) -> Response<Body> {
        let not_found = || message(StatusCode::NOT_FOUND, "Not Found");
        // A named stage is the first segment; the rest goes to `$default`.
        let first_segment = path[1..].split('/').next().unwrap_or("");
        let (stage, route_path) = match compiled.stages.get(first_segment) {
            Some(stage) if !first_segment.is_empty() && first_segment != "$default" => {
                let rest = &path[1 + first_segment.len()..];
                (stage, if rest.is_empty() { "/" } else { rest })
            }
            _ => match compiled.stages.get("$default") {
                Some(stage) => (stage, path.as_str()),
                None => return not_found(),
            },
        };
        let method = parts.method.as_str();
        let Some(found) = compiled.table.find(method, route_path) else {
            return not_found();
        };
        let route = &compiled.routes[found.index];
        let integration = route
            .target
            .as_deref()
            .and_then(|target| target.strip_prefix("integrations/"))
            .and_then(|id| compiled.integrations.get(id));
        let Some(integration) = integration else {
            tracing::warn!(
                api_id = compiled.api.api_id,
                route_key = route.route_key,
                "the route has no integration"
            );
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        };
        let function = integration_function_arn(&integration.integration_uri)
            .and_then(|arn| FunctionRef::parse(arn).ok());
        let Some(function) = function else {
            tracing::warn!(
                api_id = compiled.api.api_id,
                uri = integration.integration_uri,
                "the integration names no function"
            );
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        };
        let Some(body) = read_body(body, HTTP_API_BODY_MAX_BYTES).await else {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        };
        let request = self.http_request(parts, path.clone(), body, source_ip);
        let context = EventContext {
            account_id: self.inner.region.account_id.clone(),
            api_id: compiled.api.api_id.clone(),
            domain_prefix: host_name.split('.').next().unwrap_or("").to_string(),
            domain_name: host_name,
            request_id: request_id.to_string(),
            route_key: route.route_key.clone(),
            stage: stage.stage_name.clone(),
            path_parameters: found.path_parameters,
            stage_variables: stage.stage_variables.clone(),
            authorizer: None,
        };
        let payload = match integration.payload_format_version {
            PayloadFormatVersion::V1 => serde_json::to_vec(&event_v1(&request, &context)),
            PayloadFormatVersion::V2 => serde_json::to_vec(&event_v2(&request, &context)),
        }
        .expect("an event serializes");
        if payload.len() > limits::SYNC_PAYLOAD_MAX_BYTES {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let invocation = InvokeRequest {
            function,
            payload: Bytes::from(payload),
            client_context: None,
            request_id: None,
        };
        // Past the integration's timeout the client gets a 503; the
        // invocation itself runs on to its own end, as on AWS.
        let timeout = Duration::from_millis(u64::from(integration.timeout_ms));
        match tokio::time::timeout(timeout, self.inner.invoker.invoke(invocation)).await {
            Ok(outcome) => respond(outcome, integration.payload_format_version),
            Err(_) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        }
    }

    /// The API's configuration, from the cache while its revision holds.
    fn compiled_api(
        &self,
        api_id: &str,
    ) -> Result<Option<Arc<CompiledApi>>, rayo_core::store::StoreError> {
        let store = &self.inner.store;
        let Some(api) = store.get_api(api_id)? else {
            self.cache().remove(api_id);
            return Ok(None);
        };
        if let Some(cached) = self.cache().get(api_id)
            && cached.api.revision == api.revision
        {
            return Ok(Some(cached.clone()));
        }
        // Read after the API: what is read is at least as new as its
        // revision, so a stale table is never kept under a newer one.
        let routes = store.list_routes(api_id)?;
        let integrations = store
            .list_integrations(api_id)?
            .into_iter()
            .map(|i| (i.integration_id.clone(), i))
            .collect();
        let stages = store
            .list_stages(api_id)?
            .into_iter()
            .map(|s| (s.stage_name.clone(), s))
            .collect();
        let (table, problems) = RouteTable::new(routes.iter().map(|r| r.route_key.as_str()));
        for problem in problems {
            tracing::warn!(api_id, problem, "a route is left out");
        }
        let compiled = Arc::new(CompiledApi {
            api,
            routes,
            table,
            integrations,
            stages,
        });
        self.cache().insert(api_id.to_string(), compiled.clone());
        Ok(Some(compiled))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CompiledApi>>> {
        self.inner
            .apis
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn http_request(
        &self,
        parts: &Parts,
        raw_path: String,
        body: Bytes,
        source_ip: IpAddr,
    ) -> HttpRequest {
        let mut headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        // What API Gateway and function URLs add.
        let source_ip = source_ip.to_canonical().to_string();
        match headers.iter_mut().find(|(n, _)| n == "x-forwarded-for") {
            Some((_, forwarded)) => {
                forwarded.push_str(", ");
                forwarded.push_str(&source_ip);
            }
            None => headers.push(("x-forwarded-for".to_string(), source_ip.clone())),
        }
        let port = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.rsplit_once(':'))
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .unwrap_or(self.inner.edge_port);
        for (name, value) in [
            ("x-forwarded-port", port.to_string()),
            ("x-forwarded-proto", "http".to_string()),
            ("x-amzn-trace-id", trace_id()),
        ] {
            if !headers.iter().any(|(n, _)| n == name) {
                headers.push((name.to_string(), value));
            }
        }
        let protocol = match parts.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        };
        HttpRequest {
            method: parts.method.as_str().to_string(),
            raw_path,
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers,
            body: body.to_vec(),
            source_ip,
            protocol: protocol.to_string(),
            time: OffsetDateTime::now_utc(),
        }
    }
}

/// The client's answer to an invocation's outcome, as API Gateway gives it.
fn respond(
    outcome: Result<InvocationOutcome, InvokeError>,
    version: PayloadFormatVersion,
) -> Response<Body> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(InvokeError::Executor(ExecutorError::Throttled(_))) => {
            return message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        Err(error) => {
            tracing::warn!(%error, "an HTTP trigger could not invoke its function");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    if outcome.function_error.is_some() {
        return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
    }
    let parsed = match parse_response(&outcome.payload, version) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::info!(%error, "an HTTP trigger's function answered a malformed response");
            return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
        }
    };
    let mut response = Response::new(Body::from(parsed.body));
    *response.status_mut() = StatusCode::from_u16(parsed.status).unwrap_or(StatusCode::OK);
    for (name, value) in parsed.headers {
        // The server frames the body itself.
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                response.headers_mut().append(name, value);
            }
            _ => {
                tracing::info!(
                    name,
                    "an HTTP trigger's function answered an invalid header"
                );
                return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
            }
        }
    }
    response
}

/// Answers a CORS preflight when the request is one.
fn preflight(
    cors: &rayo_core::http_trigger::Cors,
    parts: &Parts,
    status: StatusCode,
) -> Option<Response<Body>> {
    let origin = header(parts, "origin");
    let request_method = header(parts, "access-control-request-method");
    if !cors::is_preflight(parts.method.as_str(), origin, request_method) {
        return None;
    }
    let request_headers = header(parts, "access-control-request-headers");
    let headers = cors::preflight_headers(
        cors,
        origin.unwrap_or(""),
        request_method.unwrap_or(""),
        request_headers,
    );
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    Some(response)
}

/// With CORS configured, the function's CORS headers give way to the
/// configured ones.
fn add_cors(
    response: &mut Response<Body>,
    cors_config: Option<&rayo_core::http_trigger::Cors>,
    origin: Option<&str>,
) {
    let Some(cors_config) = cors_config else {
        return;
    };
    let function_cors: Vec<HeaderName> = response
        .headers()
        .keys()
        .filter(|name| cors::is_cors_header(name.as_str()))
        .cloned()
        .collect();
    for name in function_cors {
        response.headers_mut().remove(name);
    }
    let Some(origin) = origin else {
        return;
    };
    for (name, value) in cors::response_headers(cors_config, origin) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
}

/// The caller of an `AWS_IAM` function URL, whose signature verified, as
/// the event's `requestContext.authorizer` names it.
fn iam_authorizer(access_key: &str, region: &Region) -> serde_json::Value {
    json!({
        "iam": {
            "accessKey": access_key,
            "accountId": region.account_id,
            "callerId": access_key,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": format!("arn:aws:iam::{}:root", region.account_id),
            "userId": access_key,
        }
    })
}

/// Reads the body; `None` when it is larger than `limit` (or broken off).
/// A body over the limit is still read to its end, up to
/// [`DRAIN_MAX_BYTES`] more, so that the client, which may still be
/// sending, reads the 413 rather than a reset connection.
async fn read_body(mut body: Body, limit: usize) -> Option<Bytes> {
    let mut collected: Vec<u8> = Vec::new();
    let mut n_read = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                tracing::debug!(%error, "reading an HTTP trigger's request body failed");
                return None;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        n_read = n_read.saturating_add(data.len());
        if n_read > limit.saturating_add(DRAIN_MAX_BYTES) {
            return None;
        }
        if n_read <= limit {
            collected.extend_from_slice(&data);
        }
    }
    (n_read <= limit).then(|| Bytes::from(collected))
}

/// How much of a too-large body is read and dropped before answering.
const DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A JSON answer `{"message": …}`, as API Gateway words its own errors.
fn message(status: StatusCode, text: &str) -> Response<Body> {
    json_response(status, json!({ "message": text }).to_string())
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// A request header's value, when it is text.
pub(crate) fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// An id in the shape of API Gateway's request ids: `JKJaXmPLvHcESHA=`.
fn apigw_request_id() -> String {
    let random = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD.encode(&random.as_bytes()[..11])
}

/// An X-Ray trace header: `Root=1-<epoch seconds, hex>-<96 random bits, hex>`.
fn trace_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{}",
        OffsetDateTime::now_utc().unix_timestamp(),
        &random[..24]
    )
}
