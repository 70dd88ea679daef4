//! SigV4 verification for `AWS_IAM` function URLs: the signature is computed
//! again from the request as received, with the secret of the access key it
//! names, and compared with the one the caller sent. Both forms are
//! accepted: the `Authorization` header and a presigned query.

use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use rayo_core::Credentials;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::gateway::header;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a signed request's time may be from the server's, as AWS allows.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);
/// The longest a presigned URL stays valid: seven days.
const MAX_EXPIRES_SECONDS: i64 = 604_800;
/// The payload hash of a request that did not sign its body.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Why a request is not let in; logged, never shown to the caller, who
/// only reads `Forbidden` as from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// Neither an `Authorization` header nor a presigned query.
    Unsigned,
    /// A signature whose parts do not parse.
    Malformed(&'static str),
    /// An access key that is not one of the server's keys.
    UnknownKey,
    /// Signed for another region or service, or a date that is not the
    /// request's.
    WrongScope,
    /// Signed too long ago (or ahead), or a presigned URL past its expiry.
    Expired,
    /// The body is not the one whose hash was signed.
    PayloadMismatch,
    /// The signature is not the one the key's secret gives.
    SignatureMismatch,
}

/// The parts of a signature, from either form.
struct Signature {
    access_key: String,
    date: String,
    region: String,
    service: String,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
    /// `X-Amz-Expires` of a presigned query; `None` for the header form.
    expires: Option<i64>,
}

/// Verifies the request's SigV4 signature for `region` and `service`;
/// gives the access key that signed it.
pub(crate) fn verify(
    parts: &Parts,
    body: &[u8],
    credentials: &Credentials,
    (region, service): (&str, &str),
    now: OffsetDateTime,
) -> Result<String, Denied> {
    let signature = match header(parts, "authorization") {
        Some(authorization) => from_header(authorization, parts)?,
        None => from_query(parts.uri.query().unwrap_or(""))?,
    };
    if signature.region != region
        || signature.service != service
        || !signature.amz_date.starts_with(&signature.date)
    {
        return Err(Denied::WrongScope);
    }
    let signed_at = time::PrimitiveDateTime::parse(
        &signature.amz_date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .map_err(|_| Denied::Malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?
    .assume_utc();
    let fresh = match signature.expires {
        None => (now - signed_at).abs() <= MAX_SKEW,
        Some(expires) => {
            signed_at - MAX_SKEW <= now && now <= signed_at + time::Duration::seconds(expires)
        }
    };
    if !fresh {
        return Err(Denied::Expired);
    }
    let secret = credentials
        .secret(&signature.access_key)
        .ok_or(Denied::UnknownKey)?;
    let body_hash = hex::encode(Sha256::digest(body));
    let payload_hash = match header(parts, "x-amz-content-sha256") {
        Some(UNSIGNED_PAYLOAD) => UNSIGNED_PAYLOAD.to_string(),
        Some(claimed) if claimed.eq_ignore_ascii_case(&body_hash) => claimed.to_string(),
        Some(_) => return Err(Denied::PayloadMismatch),
        None => body_hash,
    };
    let request = canonical_request(parts, &signature, &payload_hash)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        signature.date, signature.region, signature.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        signature.amz_date,
        hex::encode(Sha256::digest(request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{secret}").as_bytes(),
        signature.date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any size");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&signature.signature)
        .map_err(|_| Denied::SignatureMismatch)?;
    Ok(signature.access_key)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn from_header(authorization: &str, parts: &Parts) -> Result<Signature, Denied> {
    let fields = authorization
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or(Denied::Malformed(
            "the Authorization header is not AWS4-HMAC-SHA256",
        ))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", value)) => credential = Some(value),
            Some(("SignedHeaders", value)) => signed_headers = Some(value),
            Some(("Signature", value)) => signature = Some(value),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(Denied::Malformed(
            "the Authorization header lacks Credential, SignedHeaders or Signature",
        ));
    };
    let amz_date = header(parts, "x-amz-date")
        .ok_or(Denied::Malformed("a signed request needs X-Amz-Date"))?;
    assemble(credential, signed_headers, signature, amz_date, None)
}

/// `X-Amz-Algorithm=…&X-Amz-Credential=…&…&X-Amz-Signature=…`.
fn from_query(query: &str) -> Result<Signature, Denied> {
    let mut found: [Option<String>; 6] = Default::default();
    const NAMES: [&str; 6] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-Expires",
    ];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(index) = NAMES.iter().position(|known| *known == name) {
            found[index] = Some(decode(value));
        }
    }
    let [
        algorithm,
        credential,
        signed_headers,
        signature,
        amz_date,
        expires,
    ] = found;
    if algorithm.is_none() && signature.is_none() {
        return Err(Denied::Unsigned);
    }
    if algorithm.as_deref() != Some(ALGORITHM) {
        return Err(Denied::Malformed("X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date), Some(expires)) =
        (credential, signed_headers, signature, amz_date, expires)
    else {
        return Err(Denied::Malformed(
            "a presigned URL needs X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature, X-Amz-Date and X-Amz-Expires",
        ));
    };
    let expires = expires
        .parse::<i64>()
        .ok()
        .filter(|seconds| (1..=MAX_EXPIRES_SECONDS).contains(seconds))
        .ok_or(Denied::Malformed(
            "X-Amz-Expires is not a number of seconds up to 604800",
        ))?;
    assemble(
        &credential,
        &signed_headers,
        &signature,
        &amz_date,
        Some(expires),
    )
}

fn assemble(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<i64>,
) -> Result<Signature, Denied> {
    // KEY/DATE/REGION/SERVICE/aws4_request
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(Denied::Malformed(
            "the credential is not KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if !signed_headers.iter().any(|name| name == "host") {
        return Err(Denied::Malformed("the Host header must be signed"));
    }
    let signature =
        hex::decode(signature).map_err(|_| Denied::Malformed("the signature is not hex"))?;
    Ok(Signature {
        access_key: (*access_key).to_string(),
        date: (*date).to_string(),
        region: (*region).to_string(),
        service: (*service).to_string(),
        amz_date: amz_date.to_string(),
        signed_headers,
        signature,
        expires,
    })
}

/// The canonical request: method, path, query, signed headers and the
/// payload's hash, each in SigV4's canonical form.
fn canonical_request(
    parts: &Parts,
    signature: &Signature,
    payload_hash: &str,
) -> Result<String, Denied> {
    let mut request = String::with_capacity(512);
    request.push_str(parts.method.as_str());
    request.push('\n');
    request.push_str(&encode(&remove_dot_segments(parts.uri.path()), true));
    request.push('\n');
    request.push_str(&canonical_query(
        parts.uri.query().unwrap_or(""),
        signature.expires.is_some(),
    ));
    request.push('\n');
    for name in &signature.signed_headers {
        let values: Vec<String> = parts
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|value| {
                String::from_utf8_lossy(value.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(Denied::Malformed("a signed header is missing"));
        }
        request.push_str(name);
        request.push(':');
        request.push_str(&values.join(","));
        request.push('\n');
    }
    request.push('\n');
    request.push_str(&signature.signed_headers.join(";"));
    request.push('\n');
    request.push_str(payload_hash);
    Ok(request)
}

/// The query's parameters decoded, encoded again as SigV4 encodes them,
/// and sorted; a presigned query's own signature left out.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(name, _)| !(presigned && *name == "X-Amz-Signature"))
        .map(|(name, value)| (encode(&decode(name), false), encode(&decode(value), false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// SigV4's URI encoding: every byte but the unreserved ones as `%XX`, and
/// `/` too unless `keep_slash`.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            b'/' if keep_slash => encoded.push('/'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The path with `.` and `..` segments resolved and empty segments
/// dropped, as AWS's services normalize it before signing.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let mut normalized = String::with_capacity(path.len());
    if path.starts_with('/') {
        normalized.push('/');
    }
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    normalized
}

#[cfg(test)]
mod tests {
    //! Signatures made by botocore's `SigV4Auth` and `SigV4QueryAuth`.

    use axum::http::Request;
    use time::macros::datetime;

    use super::*;

    const SIGNED_AT: OffsetDateTime = datetime!(2026-11-22 06:04:57 UTC);

    fn keys() -> Credentials {
        Credentials::parse(["AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]).unwrap()
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn vanilla(authorization: &str) -> Parts {
        parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20261122T060457Z"),
                ("authorization", authorization),
            ],
        )
    }

    const VANILLA: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=3add364a637c496dbb5c0e6fc2f369c3822f413f67f6ef13e47acb8e60581bad";

    #[test]
    fn a_header_signature_verifies() {
        let verified = verify(
            &vanilla(VANILLA),
            b"",
            &keys(),
            ("us-east-1", "service"),
            SIGNED_AT,
        );
        assert_eq!(verified, Ok("AKIDEXAMPLE".to_string()));
    }

    #[test]
    fn path_query_headers_and_body_are_canonicalized_as_botocore_signs_them() {
        let request = parts(
            "POST",
            "/a%20b/./c/../sum?b=3&a=2&empty=",
            &[
                ("host", "abc.lambda-url.us-east-1.localhost:4566"),
                ("content-type", "application/json"),
                ("x-custom", "  a   b  "),
                ("x-amz-date", "20261122T060457Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-custom, Signature=9a909413b59229e5a3c659884a7f64ae8bb3a8a90f2a20999a4fe87f4d20ca28",
                ),
            ],
        );
        let region = ("us-east-1", "lambda");
        assert_eq!(
            verify(&request, br#"{"x": 1}"#, &keys(), region, SIGNED_AT),
            Ok("AKIDEXAMPLE".to_string())
        );
        assert_eq!(
            verify(&request, br#"{"x": 2}"#, &keys(), region, SIGNED_AT),
            Err(Denied::SignatureMismatch),
            "another body"
        );
    }

    #[test]
    fn a_presigned_url_verifies_until_it_expires() {
        let request = parts(
            "GET",
            "/event?q=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20261122T060457Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=791d688cff0984728ac1bb2bb1d9b8037c2b2bacdfeaa2fc6297ee89844b60be",
            &[("host", "abc.lambda-url.us-east-1.localhost:4566")],
        );
        let region = ("us-east-1", "lambda");
        let later = SIGNED_AT + time::Duration::seconds(299);
        assert_eq!(
            verify(&request, b"", &keys(), region, later),
            Ok("AKIDEXAMPLE".to_string())
        );
        let expired = SIGNED_AT + time::Duration::seconds(301);
        assert_eq!(
            verify(&request, b"", &keys(), region, expired),
            Err(Denied::Expired)
        );
    }

    #[test]
    fn refusals_say_why() {
        let region = ("us-east-1", "service");
        let check = |request: &Parts, credentials: &Credentials, now| {
            verify(request, b"", credentials, region, now)
        };
        assert_eq!(
            check(&parts("GET", "/", &[("host", "h")]), &keys(), SIGNED_AT),
            Err(Denied::Unsigned)
        );
        let other_secret = Credentials::parse(["AKIDEXAMPLE:another"]).unwrap();
        assert_eq!(
            check(&vanilla(VANILLA), &other_secret, SIGNED_AT),
            Err(Denied::SignatureMismatch)
        );
        let other_key = Credentials::parse(["test:test"]).unwrap();
        assert_eq!(
            check(&vanilla(VANILLA), &other_key, SIGNED_AT),
            Err(Denied::UnknownKey)
        );
        let late = SIGNED_AT + time::Duration::minutes(16);
        assert_eq!(
            check(&vanilla(VANILLA), &keys(), late),
            Err(Denied::Expired)
        );
        assert_eq!(
            verify(
                &vanilla(VANILLA),
                b"",
                &keys(),
                ("eu-west-1", "service"),
                SIGNED_AT
            ),
            Err(Denied::WrongScope)
        );
        let tampered = VANILLA.replace("Signature=3add", "Signature=4add");
        assert_eq!(
            check(&vanilla(&tampered), &keys(), SIGNED_AT),
            Err(Denied::SignatureMismatch)
        );
        let hostless = VANILLA.replace("host;x-amz-date", "x-amz-date");
        assert!(matches!(
            check(&vanilla(&hostless), &keys(), SIGNED_AT),
            Err(Denied::Malformed(_))
        ));
        let not_hex = VANILLA.replace("Signature=3add", "Signature=zzzz");
        assert!(matches!(
            check(&vanilla(&not_hex), &keys(), SIGNED_AT),
            Err(Denied::Malformed(_))
        ));
    }

    #[test]
    fn dot_segments_and_empty_segments_go() {
        assert_eq!(remove_dot_segments("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(remove_dot_segments("/.."), "/");
        assert_eq!(remove_dot_segments(""), "/");
        assert_eq!(encode("/a b/ü~", true), "/a%20b/%C3%BC~");
        assert_eq!(encode("a/b", false), "a%2Fb");
    }
}
