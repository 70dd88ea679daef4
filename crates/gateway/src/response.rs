//! Reading a function's result as an HTTP response, the way API Gateway
//! reads it for payload formats 1.0 and 2.0 (function URLs read 2.0).

use std::fmt;

use base64::Engine;
use rayo_core::http_trigger::PayloadFormatVersion;
use serde_json::{Map, Value};

/// The HTTP response a function's result describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    /// The body, decoded when the function sent it base64-encoded.
    pub body: Vec<u8>,
}

/// Why a function's result is not a response API Gateway would send; the
/// client gets a 502.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedResponse(pub String);

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed Lambda proxy response: {}", self.0)
    }
}

/// Reads a function's result in the integration's payload format.
///
/// Format 2.0 infers a response from results that do not describe one: a
/// JSON object without `statusCode`, or any other JSON value, is a 200 with
/// `content-type: application/json` and the result as the body; a JSON
/// string is that string as the body. Format 1.0 needs a `statusCode`.
pub fn parse_response(
    payload: &[u8],
    version: PayloadFormatVersion,
) -> Result<HttpResponse, MalformedResponse> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|error| MalformedResponse(format!("the result is not JSON: {error}")))?;
    match (version, value) {
        (_, Value::Object(object)) if object.contains_key("statusCode") => {
            structured(&object, version)
        }
        (PayloadFormatVersion::V1, _) => Err(MalformedResponse(
            "the result has no statusCode".to_string(),
        )),
        (PayloadFormatVersion::V2, Value::String(text)) => Ok(inferred(text.into_bytes())),
        (PayloadFormatVersion::V2, _) => Ok(inferred(trim_ascii(payload).to_vec())),
    }
}

fn inferred(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".to_string(), "application/json".to_string())],
        body,
    }
}

fn structured(
    object: &Map<String, Value>,
    version: PayloadFormatVersion,
) -> Result<HttpResponse, MalformedResponse> {
    let malformed = |what: &str| MalformedResponse(what.to_string());
    let status = match &object["statusCode"] {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse::<u64>().ok(),
        _ => None,
    }
    .filter(|code| (100..=599).contains(code))
    .ok_or_else(|| malformed("statusCode is not a status code"))? as u16;

    let mut headers: Vec<(String, String)> = Vec::new();
    if version == PayloadFormatVersion::V1 {
        match object.get("multiValueHeaders") {
            None | Some(Value::Null) => {}
            Some(Value::Object(multi)) => {
                for (name, values) in multi {
                    let values = match values {
                        Value::Array(values) => values,
                        Value::Null => continue,
                        _ => return Err(malformed("multiValueHeaders holds a non-list")),
                    };
                    for value in values {
                        let value = scalar(value)
                            .ok_or_else(|| malformed("multiValueHeaders holds a non-scalar"))?;
                        headers.push((name.to_ascii_lowercase(), value));
                    }
                }
            }
            Some(_) => return Err(malformed("multiValueHeaders is not an object")),
        }
    }
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(single)) => {
            for (name, value) in single {
                if value.is_null() {
                    continue;
                }
                let name = name.to_ascii_lowercase();
                let value = scalar(value).ok_or_else(|| malformed("headers holds a non-scalar"))?;
                // A header in both keeps the multiValueHeaders values.
                if !headers.iter().any(|(n, _)| *n == name) {
                    headers.push((name, value));
                }
            }
        }
        Some(_) => return Err(malformed("headers is not an object")),
    }
    if version == PayloadFormatVersion::V2 {
        match object.get("cookies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(cookies)) => {
                for cookie in cookies {
                    let cookie = cookie
                        .as_str()
                        .ok_or_else(|| malformed("cookies holds a non-string"))?;
                    headers.push(("set-cookie".to_string(), cookie.to_string()));
                }
            }
            Some(_) => return Err(malformed("cookies is not a list")),
        }
    }
    let is_base64_encoded = match object.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(flag)) => flag.eq_ignore_ascii_case("true"),
        Some(_) => return Err(malformed("isBase64Encoded is not a boolean")),
    };
    let body = match object.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| malformed("body is not valid base64"))?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return Err(malformed("body is not a string")),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use PayloadFormatVersion::{V1, V2};

    /// Status, headers and body of the expected response; `None` for a 502.
    type Expected<'a> = Option<(u16, &'a [(&'a str, &'a str)], &'a [u8])>;

    fn check(payload: &str, version: PayloadFormatVersion, expected: Expected<'_>) {
        let got = parse_response(payload.as_bytes(), version);
        match expected {
            Some((status, headers, body)) => {
                let expected = HttpResponse {
                    status,
                    headers: headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                    body: body.to_vec(),
                };
                assert_eq!(got, Ok(expected), "{payload} ({version:?})");
            }
            None => assert!(got.is_err(), "{payload} ({version:?}) gave {got:?}"),
        }
    }

    const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

    #[test]
    fn v2_infers_responses() {
        check("5", V2, Some((200, JSON, b"5")));
        check(r#"{"sum": 5}"#, V2, Some((200, JSON, br#"{"sum": 5}"#)));
        check(
            r#""Hello from Lambda!""#,
            V2,
            Some((200, JSON, b"Hello from Lambda!")),
        );
        check("null", V2, Some((200, JSON, b"null")));
        check("[1, 2]\n", V2, Some((200, JSON, b"[1, 2]")));
        check("not json", V2, None);
    }

    #[test]
    fn v2_reads_structured_responses() {
        check(
            r#"{"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-N": 3}, "body": "made"}"#,
            V2,
            Some((
                201,
                &[("content-type", "text/plain"), ("x-n", "3")],
                b"made",
            )),
        );
        check(
            r#"{"statusCode": 200, "cookies": ["a=1", "b=2; Path=/"], "body": ""}"#,
            V2,
            Some((
                200,
                &[("set-cookie", "a=1"), ("set-cookie", "b=2; Path=/")],
                b"",
            )),
        );
        check(
            r#"{"statusCode": 200, "body": "AAEC/w==", "isBase64Encoded": true}"#,
            V2,
            Some((200, &[], &[0, 1, 2, 255])),
        );
        check(r#"{"statusCode": "404"}"#, V2, Some((404, &[], b"")));
        // multiValueHeaders are format 1.0's; 2.0 ignores them.
        check(
            r#"{"statusCode": 200, "multiValueHeaders": {"x": ["1"]}}"#,
            V2,
            Some((200, &[], b"")),
        );
        check(r#"{"statusCode": 200, "body": {"a": 1}}"#, V2, None);
        check(
            r#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#,
            V2,
            None,
        );
        check(r#"{"statusCode": 99}"#, V2, None);
        check(r#"{"statusCode": null}"#, V2, None);
        check(r#"{"statusCode": 200, "headers": []}"#, V2, None);
        check(
            r#"{"statusCode": 200, "headers": {"x": {"y": 1}}}"#,
            V2,
            None,
        );
        check(r#"{"statusCode": 200, "cookies": "a=1"}"#, V2, None);
    }

    #[test]
    fn v1_needs_a_status_code() {
        check(
            r#"{"statusCode": 200, "headers": {"a": "1"}, "multiValueHeaders": {"Set-Cookie": ["x=1", "y=2"], "a": ["2", "3"]}, "body": "ok"}"#,
            V1,
            Some((
                200,
                &[
                    ("set-cookie", "x=1"),
                    ("set-cookie", "y=2"),
                    ("a", "2"),
                    ("a", "3"),
                ],
                b"ok",
            )),
        );
        check(
            r#"{"statusCode": 204, "body": null}"#,
            V1,
            Some((204, &[], b"")),
        );
        check("5", V1, None);
        check(r#"{"sum": 5}"#, V1, None);
        check(r#""text""#, V1, None);
        check(
            r#"{"statusCode": 200, "multiValueHeaders": {"a": "1"}}"#,
            V1,
            None,
        );
    }
}
