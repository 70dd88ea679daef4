//! The events a function gets for an HTTP request: API Gateway's payload
//! formats 1.0 and 2.0 (function URLs send 2.0), built from an
//! [`HttpRequest`] and what routing found ([`EventContext`]).

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// An HTTP request as the gateway received it, reduced to what events carry.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path the client asked for, percent-encoded as sent. For a named
    /// stage it starts with `/<stage>`, as API Gateway's `rawPath` does.
    pub raw_path: String,
    /// The query string without `?`, as sent; empty when there is none.
    pub raw_query: String,
    /// Headers in the order received, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The client's address.
    pub source_ip: String,
    /// `HTTP/1.1`.
    pub protocol: String,
    /// When the request arrived.
    pub time: OffsetDateTime,
}

impl HttpRequest {
    /// The first value of a header (`name` lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the gateway knows about a request beyond the request itself.
#[derive(Debug, Clone)]
pub struct EventContext {
    /// `requestContext.accountId`: the account, or `anonymous` for a
    /// function URL without authentication.
    pub account_id: String,
    /// The API id, or the function URL id.
    pub api_id: String,
    /// The host name the request was for, without the port.
    pub domain_name: String,
    /// Its first label.
    pub domain_prefix: String,
    /// `requestContext.requestId`.
    pub request_id: String,
    /// The matched route key, or `$default`.
    pub route_key: String,
    /// The stage name, or `$default`.
    pub stage: String,
    /// Path variables of the matched route, decoded.
    pub path_parameters: BTreeMap<String, String>,
    /// The stage's variables.
    pub stage_variables: BTreeMap<String, String>,
    /// `requestContext.authorizer`, when an authorizer ran (a function
    /// URL's `AWS_IAM` caller).
    pub authorizer: Option<Value>,
}

/// Payload format 2.0: HTTP APIs' default, and every function URL's.
/// Serialized straight from the request, in the order API Gateway writes
/// its keys.
pub fn event_v2<'a>(request: &'a HttpRequest, context: &'a EventContext) -> EventV2<'a> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &request.headers {
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        match headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => headers.push((name.clone(), value.clone())),
        }
    }
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, value) in query_pairs(&request.raw_query) {
        match query.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            None => query.push((name, value)),
        }
    }
    let (body, is_base64_encoded) = encode_body(&request.body, request.header("content-type"));
    EventV2 {
        version: "2.0",
        route_key: &context.route_key,
        raw_path: &request.raw_path,
        raw_query_string: &request.raw_query,
        cookies,
        headers: Pairs(headers),
        query_string_parameters: Pairs(query),
        request_context: RequestContextV2 {
            account_id: &context.account_id,
            api_id: &context.api_id,
            authorizer: context.authorizer.as_ref(),
            domain_name: &context.domain_name,
            domain_prefix: &context.domain_prefix,
            http: HttpV2 {
                method: &request.method,
                path: &request.raw_path,
                protocol: &request.protocol,
                source_ip: &request.source_ip,
                user_agent: request.header("user-agent").unwrap_or(""),
            },
            request_id: &context.request_id,
            route_key: &context.route_key,
            stage: &context.stage,
            time: clf_time(request.time),
            time_epoch: epoch_ms(request.time),
        },
        body,
        path_parameters: &context.path_parameters,
        is_base64_encoded,
        stage_variables: &context.stage_variables,
    }
}

/// A payload format 2.0 event, borrowing from its request and context.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventV2<'a> {
    version: &'static str,
    route_key: &'a str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<String>,
    headers: Pairs,
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    query_string_parameters: Pairs,
    request_context: RequestContextV2<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "no_entries")]
    path_parameters: &'a BTreeMap<String, String>,
    is_base64_encoded: bool,
    #[serde(skip_serializing_if = "no_entries")]
    stage_variables: &'a BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContextV2<'a> {
    account_id: &'a str,
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<&'a Value>,
    domain_name: &'a str,
    domain_prefix: &'a str,
    http: HttpV2<'a>,
    request_id: &'a str,
    route_key: &'a str,
    stage: &'a str,
    time: String,
    time_epoch: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpV2<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    source_ip: &'a str,
    user_agent: &'a str,
}

/// Names and values written as a JSON object, in order; names are unique.
#[derive(Debug)]
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

fn no_entries(map: &&BTreeMap<String, String>) -> bool {
    map.is_empty()
}

/// Payload format 1.0, compatible with REST APIs' Lambda proxy events.
/// `resource` and `requestContext.resourcePath` are the route's path
/// (`$default` for the default route); `path` is the path as requested,
/// with the stage for a named stage, as HTTP APIs send it.
pub fn event_v1(request: &HttpRequest, context: &EventContext) -> Value {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut multi_headers: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in &request.headers {
        match headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, last)) => value.clone_into(last),
            None => headers.push((name.clone(), value.clone())),
        }
        push_multi(&mut multi_headers, name, value);
    }
    let mut query: Vec<(String, String)> = Vec::new();
    let mut multi_query: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in query_pairs(&request.raw_query) {
        match query.iter_mut().find(|(n, _)| *n == name) {
            Some((_, last)) => value.clone_into(last),
            None => query.push((name.clone(), value.clone())),
        }
        push_multi(&mut multi_query, &name, &value);
    }
    let resource = match context.route_key.split_once(' ') {
        Some((_, path)) => path.to_string(),
        None => context.route_key.clone(),
    };
    let (body, is_base64_encoded) = encode_body(&request.body, request.header("content-type"));
    let null_if_empty = |value: Value, empty: bool| if empty { Value::Null } else { value };
    let mut authorizer = json!({ "claims": null, "scopes": null });
    if let Some(Value::Object(extra)) = &context.authorizer {
        for (key, value) in extra {
            authorizer[key] = value.clone();
        }
    }
    json!({
        "version": "1.0",
        "resource": resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": object(headers),
        "multiValueHeaders": multi_object(multi_headers),
        "queryStringParameters": null_if_empty(object(query.clone()), query.is_empty()),
        "multiValueQueryStringParameters": null_if_empty(
            multi_object(multi_query.clone()),
            multi_query.is_empty(),
        ),
        "requestContext": {
            "accountId": context.account_id,
            "apiId": context.api_id,
            "authorizer": authorizer,
            "domainName": context.domain_name,
            "domainPrefix": context.domain_prefix,
            "extendedRequestId": context.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": request.source_ip,
                "user": null,
                "userAgent": request.header("user-agent").unwrap_or(""),
                "userArn": null,
            },
            "path": request.raw_path,
            "protocol": request.protocol,
            "requestId": context.request_id,
            "requestTime": clf_time(request.time),
            "requestTimeEpoch": epoch_ms(request.time),
            "resourceId": null,
            "resourcePath": resource,
            "routeKey": context.route_key,
            "stage": context.stage,
        },
        "pathParameters": null_if_empty(json!(context.path_parameters), context.path_parameters.is_empty()),
        "stageVariables": null_if_empty(json!(context.stage_variables), context.stage_variables.is_empty()),
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    })
}

/// The body as events carry it: text as it is, anything else base64 (with
/// `isBase64Encoded`); `None` for no body. Text is a textual content type
/// (or none) holding valid UTF-8; forms are base64, as AWS sends them.
pub fn encode_body(body: &[u8], content_type: Option<&str>) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    let textual = content_type.is_none_or(is_text_content_type);
    match std::str::from_utf8(body) {
        Ok(text) if textual => (Some(text.to_string()), false),
        _ => (
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    }
}

/// Whether a content type is text that events carry unencoded.
pub fn is_text_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || matches!(
            subtype,
            "json"
                | "javascript"
                | "ecmascript"
                | "xml"
                | "yaml"
                | "x-yaml"
                | "graphql"
                | "x-ndjson"
                | "ld+json"
        )
        || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
        || subtype.ends_with("+yaml")
}

/// The query string's pairs in order, decoded (`%XX`; a `+` stays a `+`,
/// as API Gateway leaves it). A name without `=` has an empty value.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Percent-decodes a path or query component; invalid UTF-8 becomes U+FFFD.
pub fn decode(component: &str) -> String {
    percent_encoding::percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}

/// A time as API Gateway writes `requestContext.time`: `12/Mar/2020:19:03:58 +0000`.
pub fn clf_time(at: OffsetDateTime) -> String {
    let format =
        format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn epoch_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn object(pairs: Vec<(String, String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

fn multi_object(pairs: Vec<(String, Vec<String>)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect())
}

fn push_multi(multi: &mut Vec<(String, Vec<String>)>, name: &str, value: &str) {
    match multi.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => values.push(value.to_string()),
        None => multi.push((name.to_string(), vec![value.to_string()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpRequest {
        HttpRequest {
            method: method.to_string(),
            raw_path: path.to_string(),
            raw_query: query.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            source_ip: "127.0.0.1".to_string(),
            protocol: "HTTP/1.1".to_string(),
            time: OffsetDateTime::from_unix_timestamp_nanos(1_583_348_638_390_000_000).unwrap(),
        }
    }

    /// The 2.0 event as the function reads it.
    fn v2(request: &HttpRequest, context: &EventContext) -> Value {
        serde_json::to_value(event_v2(request, context)).expect("an event serializes")
    }

    fn context(route_key: &str, stage: &str) -> EventContext {
        EventContext {
            account_id: "000000000000".to_string(),
            api_id: "abcdefghij".to_string(),
            domain_name: "abcdefghij.execute-api.localhost".to_string(),
            domain_prefix: "abcdefghij".to_string(),
            request_id: "JKJaXmPLvHcESHA=".to_string(),
            route_key: route_key.to_string(),
            stage: stage.to_string(),
            path_parameters: BTreeMap::new(),
            stage_variables: BTreeMap::new(),
            authorizer: None,
        }
    }

    #[test]
    fn v2_event_matches_the_documented_shape() {
        let request = request(
            "POST",
            "/my/path",
            "parameter1=value1&parameter1=value2&parameter2=value",
            &[
                ("header1", "value1"),
                ("header2", "value1"),
                ("header2", "value2"),
                ("cookie", "cookie1; cookie2"),
                ("user-agent", "agent"),
                ("content-type", "text/plain"),
            ],
            b"Hello from Lambda",
        );
        let mut context = context("$default", "$default");
        context
            .path_parameters
            .insert("parameter1".into(), "value1".into());
        context
            .stage_variables
            .insert("stageVariable1".into(), "value1".into());
        let expected = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/my/path",
            "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
            "cookies": ["cookie1", "cookie2"],
            "headers": {
                "header1": "value1",
                "header2": "value1,value2",
                "user-agent": "agent",
                "content-type": "text/plain",
            },
            "queryStringParameters": { "parameter1": "value1,value2", "parameter2": "value" },
            "pathParameters": { "parameter1": "value1" },
            "stageVariables": { "stageVariable1": "value1" },
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "abcdefghij",
                "domainName": "abcdefghij.execute-api.localhost",
                "domainPrefix": "abcdefghij",
                "http": {
                    "method": "POST",
                    "path": "/my/path",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "agent",
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": "$default",
                "stage": "$default",
                "time": "04/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1_583_348_638_390_i64,
            },
            "body": "Hello from Lambda",
            "isBase64Encoded": false,
        });
        assert_eq!(v2(&request, &context), expected);
    }

    #[test]
    fn v2_event_leaves_out_what_the_request_lacks() {
        let event = v2(
            &request("GET", "/", "", &[], b""),
            &context("$default", "$default"),
        );
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        for absent in [
            "cookies",
            "queryStringParameters",
            "pathParameters",
            "stageVariables",
            "body",
        ] {
            assert!(!keys.iter().any(|k| *k == absent), "{absent} in {event}");
        }
        assert_eq!(event["rawQueryString"], "");
        assert_eq!(event["requestContext"]["http"]["userAgent"], "");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn v1_event_matches_the_documented_shape() {
        let request = request(
            "GET",
            "/prod/items/42",
            "a=1&a=2&b=x%20y",
            &[
                ("header1", "value1"),
                ("header2", "value1"),
                ("header2", "value2"),
            ],
            b"",
        );
        let mut context = context("ANY /items/{id}", "prod");
        context.path_parameters.insert("id".into(), "42".into());
        let event = event_v1(&request, &context);
        assert_eq!(event["version"], "1.0");
        assert_eq!(event["resource"], "/items/{id}");
        assert_eq!(event["path"], "/prod/items/42");
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(
            event["headers"],
            json!({"header1": "value1", "header2": "value2"})
        );
        assert_eq!(
            event["multiValueHeaders"],
            json!({"header1": ["value1"], "header2": ["value1", "value2"]})
        );
        assert_eq!(
            event["queryStringParameters"],
            json!({"a": "2", "b": "x y"})
        );
        assert_eq!(
            event["multiValueQueryStringParameters"],
            json!({"a": ["1", "2"], "b": ["x y"]})
        );
        assert_eq!(event["pathParameters"], json!({"id": "42"}));
        assert_eq!(event["stageVariables"], Value::Null);
        assert_eq!(event["body"], Value::Null);
        assert_eq!(event["isBase64Encoded"], false);
        let request_context = &event["requestContext"];
        assert_eq!(request_context["resourcePath"], "/items/{id}");
        assert_eq!(request_context["stage"], "prod");
        assert_eq!(request_context["httpMethod"], "GET");
        assert_eq!(request_context["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(request_context["requestTime"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(request_context["requestTimeEpoch"], 1_583_348_638_390_i64);
    }

    #[test]
    fn v1_event_without_a_query_has_nulls() {
        let event = event_v1(
            &request("GET", "/", "", &[], b""),
            &context("$default", "$default"),
        );
        assert_eq!(event["resource"], "$default");
        assert_eq!(event["queryStringParameters"], Value::Null);
        assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
        assert_eq!(event["pathParameters"], Value::Null);
        assert_eq!(event["headers"], json!({}));
        assert_eq!(event["multiValueHeaders"], json!({}));
    }

    fn check_body(body: &[u8], content_type: Option<&str>, expected: (Option<&str>, bool)) {
        let (encoded, is_base64) = encode_body(body, content_type);
        assert_eq!(
            (encoded.as_deref(), is_base64),
            expected,
            "{body:?} as {content_type:?}"
        );
    }

    #[test]
    fn bodies_are_base64_unless_text() {
        check_body(b"", Some("application/json"), (None, false));
        check_body(
            b"{\"a\":1}",
            Some("application/json"),
            (Some("{\"a\":1}"), false),
        );
        check_body(
            b"hi",
            Some("text/plain; charset=utf-8"),
            (Some("hi"), false),
        );
        check_body(b"hi", None, (Some("hi"), false));
        check_body(b"<a/>", Some("application/atom+xml"), (Some("<a/>"), false));
        check_body(
            b"a=1",
            Some("application/x-www-form-urlencoded"),
            (Some("YT0x"), true),
        );
        check_body(
            b"hi",
            Some("application/octet-stream"),
            (Some("aGk="), true),
        );
        check_body(&[0xff, 0x00], Some("text/plain"), (Some("/wA="), true));
        check_body(&[0xff, 0x00], None, (Some("/wA="), true));
        check_body(b"PNG", Some("image/png"), (Some("UE5H"), true));
    }

    #[test]
    fn query_strings_decode_percent_escapes_only() {
        assert_eq!(
            query_pairs("a=2&b=3&flag&c=x%20y&d=a+b&&e="),
            vec![
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), "3".to_string()),
                ("flag".to_string(), String::new()),
                ("c".to_string(), "x y".to_string()),
                ("d".to_string(), "a+b".to_string()),
                ("e".to_string(), String::new()),
            ]
        );
        assert!(query_pairs("").is_empty());
    }
}
