//! A small HTTP client for the client commands: they use rayo's public APIs,
//! the same ones boto3 and the aws CLI use.

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Where to find the server, shared by every client command.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Endpoint {
    /// URL of the rayo server.
    #[arg(
        long,
        env = "RAYO_ENDPOINT",
        default_value = "http://127.0.0.1:4566",
        global = true
    )]
    pub(crate) endpoint: String,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// A response from the server.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON, or the AWS error it carries.
    pub(crate) fn json(&self) -> anyhow::Result<serde_json::Value> {
        if !self.status.is_success() {
            anyhow::bail!("{}", self.error_text());
        }
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).context("the server answered with invalid JSON")
    }

    /// `ExceptionName: message` from an AWS-shaped error.
    pub(crate) fn error_text(&self) -> String {
        let error_type = self
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let error_type = error_type
            .or_else(|| {
                body.get("__type")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| format!("HTTP {}", self.status));
        let message = body
            .get("message")
            .or_else(|| body.get("Message"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        format!("{error_type}: {message}")
    }
}

/// The client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub(crate) fn new(endpoint: &Endpoint) -> Client {
        Client {
            base: endpoint.endpoint.trim_end_matches('/').to_string(),
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends one request.
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        let uri = format!("{}{}", self.base, path_and_query);
        let mut request = Request::builder().method(method).uri(&uri);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(body))
            .with_context(|| format!("invalid endpoint URL {uri}"))?;
        let response = self.http.request(request).await.map_err(|error| {
            anyhow::Error::new(ServerUnreachable {
                endpoint: self.base.clone(),
                reason: format!("{error:#}"),
            })
        })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("reading the server's answer")?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// A Logs API call (JSON 1.1).
    pub(crate) async fn logs(
        &self,
        operation: &str,
        input: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let headers = [
            ("x-amz-target", format!("Logs_20140328.{operation}")),
            ("content-type", "application/x-amz-json-1.1".to_string()),
        ];
        self.send(Method::POST, "/", &headers, Bytes::from(input.to_string()))
            .await?
            .json()
    }
}

impl Client {
    /// The endpoint's base URL, such as `http://127.0.0.1:4566`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A JSON-protocol call (`X-Amz-Target: <prefix>.<operation>`): SQS
    /// (`AmazonSQS`, JSON 1.0) or EventBridge (`AWSEvents`, JSON 1.1).
    pub(crate) async fn target(
        &self,
        prefix: &str,
        operation: &str,
        input: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let version = if prefix == "AmazonSQS" { "1.0" } else { "1.1" };
        let headers = [
            ("x-amz-target", format!("{prefix}.{operation}")),
            ("content-type", format!("application/x-amz-json-{version}")),
        ];
        self.send(Method::POST, "/", &headers, Bytes::from(input.to_string()))
            .await?
            .json()
            .with_context(|| operation.to_string())
    }

    /// A REST-JSON call (Lambda, API Gateway v2); `None` for a body sends none.
    pub(crate) async fn rest(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let headers = [("content-type", "application/json".to_string())];
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        self.send(method, path_and_query, &headers, body).await
    }
}

/// No server answered at the endpoint.
#[derive(Debug)]
pub(crate) struct ServerUnreachable {
    endpoint: String,
    reason: String,
}

impl std::fmt::Display for ServerUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no rayo server is reachable at {} ({}); start one with `rayo server`, or point --endpoint / RAYO_ENDPOINT at it",
            self.endpoint, self.reason
        )
    }
}

impl std::error::Error for ServerUnreachable {}

/// Percent-encodes a path segment.
pub(crate) fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
