//! CORS as API Gateway and function URLs apply a `Cors` configuration:
//! preflight `OPTIONS` requests are answered by the gateway, and responses
//! to requests with an `Origin` get the configured headers in place of any
//! the function set.

use rayo_core::http_trigger::Cors;

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
    method == "OPTIONS" && origin.is_some() && request_method.is_some()
}

/// The headers answering a preflight; empty when the origin or the method
/// is not allowed (the browser then refuses the request).
pub fn preflight_headers(
    cors: &Cors,
    origin: &str,
    request_method: &str,
    request_headers: Option<&str>,
) -> Vec<(&'static str, String)> {
    if !origin_allowed(cors, origin) || !method_allowed(cors, request_method) {
        return Vec::new();
    }
    let mut headers = vec![("access-control-allow-origin", allow_origin(cors, origin))];
    if cors.allow_credentials {
        headers.push(("access-control-allow-credentials", "true".to_string()));
    }
    let allow_methods = if cors.allow_methods.iter().any(|m| m == "*") {
        request_method.to_string()
    } else {
        cors.allow_methods.join(",")
    };
    if !allow_methods.is_empty() {
        headers.push(("access-control-allow-methods", allow_methods));
    }
    let allow_headers = if cors.allow_headers.iter().any(|h| h == "*") {
        request_headers.unwrap_or("").to_string()
    } else {
        cors.allow_headers.join(",")
    };
    if !allow_headers.is_empty() {
        headers.push(("access-control-allow-headers", allow_headers));
    }
    if !cors.expose_headers.is_empty() {
        headers.push((
            "access-control-expose-headers",
            cors.expose_headers.join(","),
        ));
    }
    if let Some(max_age) = cors.max_age.filter(|age| *age >= 0) {
        headers.push(("access-control-max-age", max_age.to_string()));
    }
    if headers[0].1 != "*" {
        headers.push(("vary", "Origin".to_string()));
    }
    headers
}

/// The headers added to an actual response for a request from `origin`;
/// empty when the origin is not allowed.
pub fn response_headers(cors: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    if !origin_allowed(cors, origin) {
        return Vec::new();
    }
    let mut headers = vec![("access-control-allow-origin", allow_origin(cors, origin))];
    if cors.allow_credentials {
        headers.push(("access-control-allow-credentials", "true".to_string()));
    }
    if !cors.expose_headers.is_empty() {
        headers.push((
            "access-control-expose-headers",
            cors.expose_headers.join(","),
        ));
    }
    if headers[0].1 != "*" {
        headers.push(("vary", "Origin".to_string()));
    }
    headers
}

/// Whether a response header is a CORS header, which the gateway replaces
/// when CORS is configured.
pub fn is_cors_header(name: &str) -> bool {
    name.len() > "access-control-".len()
        && name[.."access-control-".len()].eq_ignore_ascii_case("access-control-")
}

/// `*`, an exact origin (case-insensitive), or `https://*` / `http://*`
/// for any origin of that scheme.
fn origin_allowed(cors: &Cors, origin: &str) -> bool {
    cors.allow_origins.iter().any(|allowed| {
        allowed == "*"
            || allowed.eq_ignore_ascii_case(origin)
            || allowed.strip_suffix('*').is_some_and(|prefix| {
                prefix.ends_with("://")
                    && origin.len() > prefix.len()
                    && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
            })
    })
}

fn method_allowed(cors: &Cors, method: &str) -> bool {
    cors.allow_methods
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(method))
}

/// A wildcard only when no credentials are allowed: browsers refuse `*`
/// with credentials, so the origin is echoed instead.
fn allow_origin(cors: &Cors, origin: &str) -> String {
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        "*".to_string()
    } else {
        origin.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], methods: &[&str], headers: &[&str], credentials: bool) -> Cors {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Cors {
            allow_credentials: credentials,
            allow_headers: list(headers),
            allow_methods: list(methods),
            allow_origins: list(origins),
            expose_headers: list(&["x-request-id"]),
            max_age: Some(300),
        }
    }

    fn check(got: Vec<(&'static str, String)>, expected: &[(&str, &str)]) {
        let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn preflights() {
        let any = cors(
            &["*"],
            &["GET", "POST"],
            &["content-type", "authorization"],
            false,
        );
        check(
            preflight_headers(&any, "https://app.example", "POST", Some("content-type")),
            &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-methods", "GET,POST"),
                ("access-control-allow-headers", "content-type,authorization"),
                ("access-control-expose-headers", "x-request-id"),
                ("access-control-max-age", "300"),
            ],
        );
        check(
            preflight_headers(&any, "https://app.example", "DELETE", None),
            &[],
        );

        let exact = cors(&["https://app.example"], &["*"], &["*"], true);
        check(
            preflight_headers(&exact, "https://APP.example", "PATCH", Some("x-a,x-b")),
            &[
                ("access-control-allow-origin", "https://APP.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "PATCH"),
                ("access-control-allow-headers", "x-a,x-b"),
                ("access-control-expose-headers", "x-request-id"),
                ("access-control-max-age", "300"),
                ("vary", "Origin"),
            ],
        );
        check(
            preflight_headers(&exact, "https://evil.example", "GET", None),
            &[],
        );

        let scheme = cors(&["https://*"], &["GET"], &[], false);
        assert!(!preflight_headers(&scheme, "https://a.example", "GET", None).is_empty());
        assert!(preflight_headers(&scheme, "http://a.example", "GET", None).is_empty());
    }

    #[test]
    fn responses() {
        let any = cors(&["*"], &["GET"], &[], false);
        check(
            response_headers(&any, "https://x.example"),
            &[
                ("access-control-allow-origin", "*"),
                ("access-control-expose-headers", "x-request-id"),
            ],
        );
        let credentials = cors(&["*"], &["GET"], &[], true);
        check(
            response_headers(&credentials, "https://x.example"),
            &[
                ("access-control-allow-origin", "https://x.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "x-request-id"),
                ("vary", "Origin"),
            ],
        );
        let none = cors(&["https://only.example"], &["GET"], &[], false);
        check(response_headers(&none, "https://x.example"), &[]);
    }

    #[test]
    fn preflight_detection_and_cors_headers() {
        assert!(is_preflight("OPTIONS", Some("o"), Some("GET")));
        assert!(!is_preflight("OPTIONS", Some("o"), None));
        assert!(!is_preflight("GET", Some("o"), Some("GET")));
        assert!(is_cors_header("Access-Control-Allow-Origin"));
        assert!(!is_cors_header("content-type"));
        assert!(!is_cors_header("access-control-"));
    }
}
