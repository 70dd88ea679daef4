//! rayo's HTTP triggers: function URLs and API Gateway-style HTTP APIs.
//!
//! A request reaches a function URL by its host name
//! (`<url-id>.lambda-url.<region>.localhost`) or by the path form
//! `/_rayo/url/<url-id>/…`, and an HTTP API by
//! `<api-id>.execute-api.localhost` or `/_rayo/api/<api-id>/…` ([`target`]).
//! The [`Gateway`] turns it into the event API Gateway sends
//! ([`event`]: payload formats 1.0 and 2.0), picks the route
//! ([`routes`]), runs the function through [`rayo_invoker::Invoker::invoke`],
//! and reads its result back as an HTTP response ([`response`]), with CORS
//! ([`cors`]) and API Gateway's error answers.

#![forbid(unsafe_code)]

pub mod cors;
pub mod event;
mod gateway;
pub mod response;
pub mod routes;
mod sigv4;

pub use gateway::{Gateway, HTTP_API_BODY_MAX_BYTES};

/// What a request is for, found from its host name or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function URL.
    FunctionUrl {
        /// The URL id.
        url_id: String,
        /// The path the function sees.
        path: String,
        /// The host name the request named, without the port; `None` for
        /// the path form.
        host_name: Option<String>,
    },
    /// An HTTP API.
    HttpApi {
        /// The API id.
        api_id: String,
        /// The path after the host, starting with the stage for a named stage.
        path: String,
        /// The host name the request named, without the port; `None` for
        /// the path form.
        host_name: Option<String>,
    },
}

/// The path form of function URLs: `/_rayo/url/<url-id>/…`.
pub const URL_PATH_PREFIX: &str = "/_rayo/url/";
/// The path form of HTTP APIs: `/_rayo/api/<api-id>/<stage>/…`.
pub const API_PATH_PREFIX: &str = "/_rayo/api/";

/// Whether a request is for a function URL or an HTTP API, and which: by
/// the path forms, or by a host whose second label is `lambda-url` or
/// `execute-api`. `None` sends it on to rayo's other APIs.
pub fn target(host: Option<&str>, path: &str) -> Option<Target> {
    if let Some(rest) = path.strip_prefix(URL_PATH_PREFIX) {
        let (url_id, path) = split_id(rest)?;
        return Some(Target::FunctionUrl {
            url_id,
            path,
            host_name: None,
        });
    }
    if let Some(rest) = path.strip_prefix(API_PATH_PREFIX) {
        let (api_id, path) = split_id(rest)?;
        return Some(Target::HttpApi {
            api_id,
            path,
            host_name: None,
        });
    }
    let host_name = host_without_port(host?).to_ascii_lowercase();
    let mut labels = host_name.split('.');
    let id = labels.next()?;
    let kind = labels.next()?;
    if !is_id(id) {
        return None;
    }
    let id = id.to_string();
    // An authority-form request (`CONNECT`) has no path.
    let path = if path.starts_with('/') { path } else { "/" };
    match kind {
        "lambda-url" => Some(Target::FunctionUrl {
            url_id: id,
            path: path.to_string(),
            host_name: Some(host_name),
        }),
        "execute-api" => Some(Target::HttpApi {
            api_id: id,
            path: path.to_string(),
            host_name: Some(host_name),
        }),
        _ => None,
    }
}

/// `id/rest` → (`id`, `/rest`); `id` alone → (`id`, `/`).
fn split_id(rest: &str) -> Option<(String, String)> {
    let (id, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], rest[slash..].to_string()),
        None => (rest, "/".to_string()),
    };
    is_id(id).then(|| (id.to_string(), path))
}

fn is_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `host:port` → `host`; IPv6 literals keep their brackets.
pub(crate) fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(id: &str, path: &str, host: Option<&str>) -> Option<Target> {
        Some(Target::FunctionUrl {
            url_id: id.to_string(),
            path: path.to_string(),
            host_name: host.map(str::to_string),
        })
    }

    fn api(id: &str, path: &str, host: Option<&str>) -> Option<Target> {
        Some(Target::HttpApi {
            api_id: id.to_string(),
            path: path.to_string(),
            host_name: host.map(str::to_string),
        })
    }

    #[test]
    fn targets() {
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        let host = format!("{id}.lambda-url.us-east-1.localhost");
        assert_eq!(
            target(Some(&format!("{host}:4566")), "/sum"),
            url(id, "/sum", Some(&host))
        );
        assert_eq!(
            target(Some(&host.to_uppercase()), "/"),
            url(id, "/", Some(&host))
        );
        assert_eq!(
            target(Some("127.0.0.1:4566"), &format!("/_rayo/url/{id}/sum")),
            url(id, "/sum", None)
        );
        assert_eq!(
            target(None, &format!("/_rayo/url/{id}")),
            url(id, "/", None)
        );
        assert_eq!(
            target(Some("a1b2c3d4e5.execute-api.localhost:4566"), "/prod/sum"),
            api(
                "a1b2c3d4e5",
                "/prod/sum",
                Some("a1b2c3d4e5.execute-api.localhost")
            )
        );
        assert_eq!(
            target(None, "/_rayo/api/a1b2c3d4e5/sum"),
            api("a1b2c3d4e5", "/sum", None)
        );
        assert_eq!(
            target(Some("127.0.0.1:4566"), "/2015-03-31/functions"),
            None
        );
        assert_eq!(target(Some("localhost"), "/"), None);
        assert_eq!(target(Some("bucket.s3.localhost"), "/key"), None);
        assert_eq!(target(None, "/_rayo/url/"), None);
        assert_eq!(target(None, "/_rayo/health"), None);
        assert_eq!(
            target(Some("a1b2c3d4e5.execute-api.localhost"), ""),
            api("a1b2c3d4e5", "/", Some("a1b2c3d4e5.execute-api.localhost"))
        );
    }

    #[test]
    fn ports_come_off_host_names() {
        assert_eq!(host_without_port("a.b:4566"), "a.b");
        assert_eq!(host_without_port("a.b"), "a.b");
        assert_eq!(host_without_port("[::1]:4566"), "[::1]");
    }
}
