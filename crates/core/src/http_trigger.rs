//! HTTP triggers: function URLs (CreateFunctionUrlConfig) and API
//! Gateway-style HTTP APIs (apigatewayv2) with their integrations, routes
//! and stages, and the checks on them as AWS words them. The store trait is
//! [`crate::store::HttpTriggerStore`]; the `gateway` crate serves requests.

use std::collections::BTreeMap;

/// CORS settings of a function URL (`Cors`) or an HTTP API
/// (`CorsConfiguration`); empty lists are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// `Access-Control-Allow-Credentials: true` when set.
    pub allow_credentials: bool,
    /// Request headers a browser may send (`*` for any).
    pub allow_headers: Vec<String>,
    /// Methods a browser may use (`*` for any).
    pub allow_methods: Vec<String>,
    /// Origins allowed: exact, `*`, or `https://*` / `http://*`.
    pub allow_origins: Vec<String>,
    /// Response headers a browser may read.
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age: Option<i64>,
}

/// How callers of a function URL are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionUrlAuthType {
    /// Anyone may call it.
    None,
    /// Callers sign their requests with SigV4.
    AwsIam,
}

impl FunctionUrlAuthType {
    /// Parses the API's name (`NONE`, `AWS_IAM`).
    pub fn parse(value: &str) -> Option<FunctionUrlAuthType> {
        match value {
            "NONE" => Some(FunctionUrlAuthType::None),
            "AWS_IAM" => Some(FunctionUrlAuthType::AwsIam),
            _ => None,
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionUrlAuthType::None => "NONE",
            FunctionUrlAuthType::AwsIam => "AWS_IAM",
        }
    }
}

/// How a function URL answers: buffered, or streamed as the function writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMode {
    /// The whole response at once.
    Buffered,
    /// Streamed (`RESPONSE_STREAM`); rayo answers buffered.
    ResponseStream,
}

impl InvokeMode {
    /// Parses the API's name.
    pub fn parse(value: &str) -> Option<InvokeMode> {
        match value {
            "BUFFERED" => Some(InvokeMode::Buffered),
            "RESPONSE_STREAM" => Some(InvokeMode::ResponseStream),
            _ => None,
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeMode::Buffered => "BUFFERED",
            InvokeMode::ResponseStream => "RESPONSE_STREAM",
        }
    }
}

/// A function URL: a dedicated HTTP endpoint for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionUrlConfig {
    /// The URL's id, 32 lowercase letters and digits: the first label of
    /// its host name.
    pub url_id: String,
    /// The function's name.
    pub function_name: String,
    /// The alias the URL invokes, if any.
    pub qualifier: Option<String>,
    /// Who may call it.
    pub auth_type: FunctionUrlAuthType,
    /// CORS settings, when configured.
    pub cors: Option<Cors>,
    /// Buffered or streamed responses.
    pub invoke_mode: InvokeMode,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// When it last changed, in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

/// The length of a function URL id.
pub const FUNCTION_URL_ID_LEN: usize = 32;

/// Whether `id` has the shape of a function URL id.
pub fn is_function_url_id(id: &str) -> bool {
    id.len() == FUNCTION_URL_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The route selection expression of every HTTP API.
pub const ROUTE_SELECTION_EXPRESSION: &str = "$request.method $request.path";
/// The API key selection expression AWS reports by default.
pub const API_KEY_SELECTION_EXPRESSION: &str = "$request.header.x-api-key";
/// The name of the default stage and of the default route.
pub const DEFAULT: &str = "$default";
/// The longest integration timeout of an HTTP API, and its default.
pub const INTEGRATION_TIMEOUT_MAX_MS: u32 = 30_000;
/// The shortest integration timeout of an HTTP API.
pub const INTEGRATION_TIMEOUT_MIN_MS: u32 = 50;

/// An HTTP API (API Gateway v2, `ProtocolType: HTTP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    /// Ten lowercase letters and digits.
    pub api_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// A version label of the user's.
    pub version: Option<String>,
    /// CORS settings, when configured.
    pub cors: Option<Cors>,
    /// Whether the default endpoint is turned off.
    pub disable_execute_api_endpoint: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Moves on with every change to the API or anything under it, so a
    /// cached route table knows when it is stale. The store sets it.
    pub revision: i64,
}

/// Which event format an integration sends and which response format it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormatVersion {
    /// REST-compatible events (`httpMethod`, `multiValueHeaders`, ...).
    V1,
    /// HTTP API events (`rawPath`, `cookies`, ...).
    V2,
}

impl PayloadFormatVersion {
    /// Parses `1.0` or `2.0`.
    pub fn parse(value: &str) -> Option<PayloadFormatVersion> {
        match value {
            "1.0" => Some(PayloadFormatVersion::V1),
            "2.0" => Some(PayloadFormatVersion::V2),
            _ => None,
        }
    }

    /// `1.0` or `2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormatVersion::V1 => "1.0",
            PayloadFormatVersion::V2 => "2.0",
        }
    }
}

/// An integration of an HTTP API: a Lambda proxy (`AWS_PROXY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// Seven lowercase letters and digits.
    pub integration_id: String,
    /// The function's ARN or the `arn:aws:apigateway:…/functions/<arn>/invocations` form.
    pub integration_uri: String,
    /// The event and response format.
    pub payload_format_version: PayloadFormatVersion,
    /// How long the gateway waits for the function, 50–30,000 ms.
    pub timeout_ms: u32,
    /// Its description.
    pub description: Option<String>,
    /// Created by a quick create, which owns it.
    pub api_gateway_managed: bool,
}

/// A route of an HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Seven lowercase letters and digits.
    pub route_id: String,
    /// `GET /sum`, `ANY /items/{id}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    /// `integrations/<id>`, when the route has one.
    pub target: Option<String>,
    /// An operation name of the user's.
    pub operation_name: Option<String>,
    /// Created by a quick create.
    pub api_gateway_managed: bool,
}

/// A stage of an HTTP API: a named, deployed view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `$default` (served without a path prefix) or a name (served under `/<name>`).
    pub stage_name: String,
    /// Whether changes deploy themselves.
    pub auto_deploy: bool,
    /// Its description.
    pub description: Option<String>,
    /// Passed to functions as `stageVariables`.
    pub stage_variables: BTreeMap<String, String>,
    /// The last deployment's id, if any.
    pub deployment_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Created by a quick create.
    pub api_gateway_managed: bool,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
    /// When it last changed, in milliseconds since the epoch.
    pub last_updated_ms: i64,
}

/// A route key taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// `$default`: requests no other route matches.
    Default,
    /// `METHOD /path`.
    Route {
        /// `GET`, `POST`, ... or `ANY`.
        method: String,
        /// The path, with `{name}` and a final `{name+}` variables.
        path: String,
    },
}

/// Methods a route key may name.
pub const ROUTE_METHODS: [&str; 8] = [
    "ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
];

impl RouteKey {
    /// Parses and checks a route key; the error says what is wrong.
    pub fn parse(key: &str) -> Result<RouteKey, String> {
        if key == DEFAULT {
            return Ok(RouteKey::Default);
        }
        let invalid = |why: &str| format!("Invalid route key {key:?}: {why}");
        let Some((method, path)) = key.split_once(' ') else {
            return Err(invalid("expected $default or a method and a path"));
        };
        if !ROUTE_METHODS.contains(&method) {
            return Err(invalid(&format!(
                "the method must be one of {}",
                ROUTE_METHODS.join(", ")
            )));
        }
        if !path.starts_with('/') {
            return Err(invalid("the path must start with /"));
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        let n_segments = segments.len();
        let mut names = Vec::new();
        for (index, segment) in segments.iter().enumerate() {
            if segment.is_empty() {
                // `/` alone, or a trailing slash.
                if n_segments == 1 || index + 1 == n_segments {
                    continue;
                }
                return Err(invalid("the path has an empty segment"));
            }
            if let Some(inner) = segment.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(invalid("a path variable must be a whole segment"));
                };
                let (name, greedy) = match name.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (name, false),
                };
                if greedy && index + 1 != n_segments {
                    return Err(invalid("a greedy path variable must be the last segment"));
                }
                let valid_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !valid_name {
                    return Err(invalid(
                        "a path variable needs a name of letters and digits",
                    ));
                }
                if names.contains(&name) {
                    return Err(invalid("a path variable's name is used twice"));
                }
                names.push(name);
            } else if segment.contains(['{', '}', ' ', '?', '#']) {
                return Err(invalid("the path has a character routes cannot hold"));
            }
        }
        Ok(RouteKey::Route {
            method: method.to_string(),
            path: path.to_string(),
        })
    }
}

/// Whether `name` is a valid stage name: `$default`, or 1–128 letters,
/// digits, `-` and `_`.
pub fn is_stage_name(name: &str) -> bool {
    name == DEFAULT
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The function an integration URI names: a Lambda function ARN, possibly
/// qualified, or API Gateway's invocation URI around one.
pub fn integration_function_arn(uri: &str) -> Option<&str> {
    let arn = match uri.strip_prefix("arn:aws:apigateway:") {
        Some(rest) => {
            let (_, after) = rest.split_once(":lambda:path/2015-03-31/functions/")?;
            after.strip_suffix("/invocations")?
        }
        None => uri,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let is_function = (7..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty();
    is_function.then_some(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_route_key(key: &str, expected: Result<(&str, &str), ()>) {
        let parsed = RouteKey::parse(key);
        match expected {
            Ok(("$default", "")) => assert_eq!(parsed, Ok(RouteKey::Default), "{key}"),
            Ok((method, path)) => assert_eq!(
                parsed,
                Ok(RouteKey::Route {
                    method: method.to_string(),
                    path: path.to_string()
                }),
                "{key}"
            ),
            Err(()) => assert!(parsed.is_err(), "{key} parsed as {parsed:?}"),
        }
    }

    #[test]
    fn route_keys() {
        check_route_key("$default", Ok(("$default", "")));
        check_route_key("GET /sum", Ok(("GET", "/sum")));
        check_route_key("ANY /items/{id}", Ok(("ANY", "/items/{id}")));
        check_route_key("ANY /{proxy+}", Ok(("ANY", "/{proxy+}")));
        check_route_key("GET /", Ok(("GET", "/")));
        check_route_key("GET /a/", Ok(("GET", "/a/")));
        check_route_key("GET /a/{b}/c/{d+}", Ok(("GET", "/a/{b}/c/{d+}")));
        check_route_key("FETCH /x", Err(()));
        check_route_key("get /x", Err(()));
        check_route_key("GET x", Err(()));
        check_route_key("GET", Err(()));
        check_route_key("GET /a//b", Err(()));
        check_route_key("GET /{proxy+}/x", Err(()));
        check_route_key("GET /{}", Err(()));
        check_route_key("GET /x{id}", Err(()));
        check_route_key("GET /{id}.json", Err(()));
        check_route_key("GET /{a}/{a}", Err(()));
        check_route_key("default", Err(()));
    }

    #[test]
    fn integration_uris() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:sum";
        assert_eq!(integration_function_arn(arn), Some(arn));
        assert_eq!(
            integration_function_arn(&format!("{arn}:live")),
            Some(format!("{arn}:live").as_str())
        );
        let invocation = format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        );
        assert_eq!(integration_function_arn(&invocation), Some(arn));
        assert_eq!(integration_function_arn("https://example.com"), None);
        assert_eq!(
            integration_function_arn("arn:aws:sqs:us-east-1:000000000000:q"),
            None
        );
    }

    #[test]
    fn stage_names() {
        assert!(is_stage_name("$default"));
        assert!(is_stage_name("prod"));
        assert!(is_stage_name("v1_beta-2"));
        assert!(!is_stage_name(""));
        assert!(!is_stage_name("a/b"));
        assert!(!is_stage_name("$other"));
    }

    #[test]
    fn url_ids() {
        assert!(is_function_url_id("abcdefghijklmnopqrstuvwxyz012345"));
        assert!(!is_function_url_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"));
        assert!(!is_function_url_id("short"));
    }
}
